import { loadSharp } from "../load-sharp.js";
import { grayFromRgb } from "../../media/gray-from-rgb.js";
import { InvalidFrameError } from "./frame-errors.js";

export type ClientImageFormat = "jpeg" | "png";

/** A decoded client frame: one byte per pixel, rows of `width` bytes (what the workers read). */
export interface GrayImage {
  data: Buffer;
  width: number;
  height: number;
}

/** JPEG or PNG by their magic bytes; anything else is refused before sharp sees it (sharp reads many more formats). */
export function sniffFormat(bytes: Uint8Array): ClientImageFormat | undefined {
  if (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) return "jpeg";
  if (bytes.length >= 8 && bytes[0] === 0x89 && bytes[1] === 0x50 && bytes[2] === 0x4e && bytes[3] === 0x47) return "png";
  return undefined;
}

/**
 * JPEG/PNG bytes → GRAY8. `maxPixels` bounds the decoded size (a small file can claim a huge
 * canvas: a decompression bomb); sharp refuses it before allocating.
 */
export async function decodeToGray(bytes: Buffer, maxPixels: number): Promise<GrayImage> {
  if (!sniffFormat(bytes)) throw new InvalidFrameError("frame_data must be a JPEG or PNG image");
  const sharp = await loadSharp();
  try {
    // Decoded as it is, luma computed here: libvips' grayscale() goes through a colourspace
    // conversion that costs ~3× the decode of a 1080p frame (24 vs 8 ms measured).
    const { data, info } = await sharp(bytes, { limitInputPixels: maxPixels, failOn: "error" }).removeAlpha().raw().toBuffer({ resolveWithObject: true });
    if (info.channels === 1) return { data, width: info.width, height: info.height };
    if (info.channels === 3) return { data: grayFromRgb(data, info.width, info.height), width: info.width, height: info.height };
    throw new InvalidFrameError(`decoded to ${info.channels} channels, expected 1 or 3`);
  } catch (err) {
    if (err instanceof InvalidFrameError) throw err;
    throw new InvalidFrameError(`frame_data could not be decoded: ${(err as Error).message}`);
  }
}
