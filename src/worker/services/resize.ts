import sharp, { type FitEnum } from "sharp";
import { invalid } from "./errors.js";
import { decodeWith, type LoadedImage } from "./image-io.js";

export type ResizeMode = "fit" | "fill" | "stretch";
export const RESIZE_MODES: readonly ResizeMode[] = ["fit", "fill", "stretch"];
export const DEFAULT_MAX_EDGE = 8192;

export interface ResizeParams {
  targetWidth: number;
  targetHeight: number;
  resizeMode: string;
  maintainAspectRatio: boolean;
}

export interface EncodedImage {
  data: Buffer;
  width: number;
  height: number;
}

/**
 * fit: inside the box, aspect kept; fill: cover the box, centre-cropped to it exactly;
 * stretch: exactly the box. maintain_aspect_ratio=false means stretch. With one side 0 the
 * other sets the scale and the aspect is kept, whatever the mode.
 */
export function checkResize(p: ResizeParams, maxEdge: number): { width: number | undefined; height: number | undefined; fit: keyof FitEnum } {
  const { targetWidth: w, targetHeight: h } = p;
  for (const [name, v] of [["target_width", w], ["target_height", h]] as const) {
    if (!Number.isInteger(v) || v < 0 || v > maxEdge) throw invalid(`${name} must be an integer in 0..${maxEdge}, got ${v}`);
  }
  if (w === 0 && h === 0) throw invalid("target_width and target_height cannot both be 0");
  const mode = p.resizeMode === "" ? "fit" : p.resizeMode;
  if (!RESIZE_MODES.includes(mode as ResizeMode)) throw invalid(`resize_mode "${p.resizeMode}" is unknown; allowed: ${RESIZE_MODES.join(", ")}`);
  if (w === 0 || h === 0) return { width: w || undefined, height: h || undefined, fit: "inside" };
  const effective: ResizeMode = p.maintainAspectRatio ? (mode as ResizeMode) : "stretch";
  return { width: w, height: h, fit: effective === "fit" ? "inside" : effective === "fill" ? "cover" : "fill" };
}

export async function resizeImage(input: LoadedImage, p: ResizeParams, maxEdge: number): Promise<EncodedImage> {
  const { width, height, fit } = checkResize(p, maxEdge);
  return decodeWith(input.ref.objectKey, async () => {
    const { data, info } = await sharp(input.bytes)
      .resize({ width, height, fit, position: "centre" })
      .toFormat(input.format, input.format === "jpeg" ? { quality: 90 } : {})
      .toBuffer({ resolveWithObject: true });
    if (info.width > maxEdge || info.height > maxEdge) {
      // One side given, the other derived from the aspect: it can exceed the limit.
      throw invalid(`the output would be ${info.width}x${info.height}, over the max edge of ${maxEdge}`);
    }
    return { data, width: info.width, height: info.height };
  });
}
