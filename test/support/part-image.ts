import QRCode from "qrcode";
import sharp, { type OverlayOptions } from "sharp";

export type PartDefect =
  | { kind: "dark_spot"; cx: number; cy: number; radius: number }
  | { kind: "scratch"; x1: number; y1: number; x2: number; y2: number; thickness: number };

export interface PartImageOptions {
  width?: number;
  height?: number;
  format?: "jpeg" | "png";
  /** JPEG quality (default 90). */
  quality?: number;
  /** Defects drawn on the part (default `defaultDefects()` scaled to the image). */
  defects?: readonly PartDefect[];
  /** A QR code of `payload` with its modules' top-left at (x, y), `moduleSize` pixels per module. */
  qr?: { payload: string; x: number; y: number; moduleSize: number };
}

export interface GroundTruthBox {
  className: "dark_spot" | "scratch" | "qr_code";
  x: number;
  y: number;
  width: number;
  height: number;
  payload?: string;
}

export interface PartImage {
  data: Buffer;
  width: number;
  height: number;
  contentType: string;
  truth: GroundTruthBox[];
  /** Where the bright part was drawn. */
  part: { x: number; y: number; width: number; height: number };
}

/** Two round dark spots and two scratches (one slanted), placed for a 1920×1080 frame. */
export function defaultDefects(): PartDefect[] {
  return [
    { kind: "dark_spot", cx: 520, cy: 330, radius: 14 },
    { kind: "dark_spot", cx: 1380, cy: 760, radius: 22 },
    { kind: "scratch", x1: 700, y1: 620, x2: 1000, y2: 700, thickness: 4 },
    { kind: "scratch", x1: 1250, y1: 260, x2: 1250, y2: 480, thickness: 3 },
  ];
}

/**
 * An inspection photo: a dark background, a bright gray part (rounded rectangle, lit from one
 * side so its brightness varies), dark defects at known places and an optional QR code.
 * Returns the encoded image and the ground-truth boxes in image pixels.
 */
export async function partImage(opts: PartImageOptions = {}): Promise<PartImage> {
  const width = opts.width ?? 1920;
  const height = opts.height ?? 1080;
  const part = { x: Math.round(width * 0.08), y: Math.round(height * 0.12), width: Math.round(width * 0.84), height: Math.round(height * 0.76) };
  const defects = opts.defects ?? defaultDefects();
  const truth: GroundTruthBox[] = [];
  const shapes = defects.map((d) => {
    if (d.kind === "dark_spot") {
      truth.push({ className: "dark_spot", x: d.cx - d.radius, y: d.cy - d.radius, width: 2 * d.radius, height: 2 * d.radius });
      return `<circle cx="${d.cx}" cy="${d.cy}" r="${d.radius}" fill="#2a2a2a"/>`;
    }
    // butt caps: the mark ends at its end points, widened by half the thickness across the line.
    const len = Math.hypot(d.x2 - d.x1, d.y2 - d.y1);
    const hx = (Math.abs(d.y2 - d.y1) / len) * (d.thickness / 2);
    const hy = (Math.abs(d.x2 - d.x1) / len) * (d.thickness / 2);
    truth.push({
      className: "scratch",
      x: Math.min(d.x1, d.x2) - hx,
      y: Math.min(d.y1, d.y2) - hy,
      width: Math.abs(d.x2 - d.x1) + 2 * hx,
      height: Math.abs(d.y2 - d.y1) + 2 * hy,
    });
    return `<line x1="${d.x1}" y1="${d.y1}" x2="${d.x2}" y2="${d.y2}" stroke="#383838" stroke-width="${d.thickness}" stroke-linecap="butt"/>`;
  });
  const svg = `<svg xmlns="http://www.w3.org/2000/svg" width="${width}" height="${height}">
  <defs><linearGradient id="light" x1="0" y1="0" x2="1" y2="1"><stop offset="0" stop-color="#d2d2d2"/><stop offset="1" stop-color="#a8a8a8"/></linearGradient></defs>
  <rect width="${width}" height="${height}" fill="#1c1c1c"/>
  <rect x="${part.x}" y="${part.y}" width="${part.width}" height="${part.height}" rx="${Math.round(height * 0.05)}" fill="url(#light)"/>
  ${shapes.join("\n  ")}
</svg>`;
  const composites: OverlayOptions[] = [];
  if (opts.qr) {
    const { payload, x, y, moduleSize } = opts.qr;
    const margin = 4;
    const png = await QRCode.toBuffer(payload, { errorCorrectionLevel: "M", margin, scale: moduleSize, type: "png" });
    const modules = QRCode.create(payload, { errorCorrectionLevel: "M" }).modules.size;
    composites.push({ input: png, left: x - margin * moduleSize, top: y - margin * moduleSize });
    truth.push({ className: "qr_code", x, y, width: modules * moduleSize, height: modules * moduleSize, payload });
  }
  const format = opts.format ?? "jpeg";
  let img = sharp(Buffer.from(svg)).composite(composites);
  img = format === "jpeg" ? img.jpeg({ quality: opts.quality ?? 90 }) : img.png();
  const data = await img.toBuffer();
  return { data, width, height, contentType: format === "jpeg" ? "image/jpeg" : "image/png", truth, part };
}

/** Largest distance between the edges of two boxes (0 when identical). */
export function boxError(a: { x: number; y: number; width: number; height: number }, b: { x: number; y: number; width: number; height: number }): number {
  return Math.max(Math.abs(a.x - b.x), Math.abs(a.y - b.y), Math.abs(a.x + a.width - b.x - b.width), Math.abs(a.y + a.height - b.y - b.height));
}
