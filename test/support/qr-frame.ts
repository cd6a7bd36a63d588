import QRCode from "qrcode";

export interface DrawnQr {
  data: Buffer;
  width: number;
  height: number;
  /** Where the code's modules were drawn (without quiet zone). */
  box: { x: number; y: number; size: number };
}

/** A GRAY8 frame with a QR code of `text` drawn at (x, y), `scale` pixels per module. */
export function grayFrameWithQr(text: string, opts: { width: number; height: number; x: number; y: number; scale: number; background?: number }): DrawnQr {
  const { width, height, x, y, scale } = opts;
  const data = Buffer.alloc(width * height, opts.background ?? 190);
  const qr = QRCode.create(text, { errorCorrectionLevel: "M" });
  const n = qr.modules.size;
  const quiet = 4 * scale;
  for (let py = y - quiet; py < y + n * scale + quiet; py++) {
    for (let px = x - quiet; px < x + n * scale + quiet; px++) {
      if (px < 0 || py < 0 || px >= width || py >= height) continue;
      const mx = Math.floor((px - x) / scale);
      const my = Math.floor((py - y) / scale);
      const dark = mx >= 0 && my >= 0 && mx < n && my < n && qr.modules.get(my, mx) === 1;
      data[py * width + px] = dark ? 0 : 255;
    }
  }
  return { data, width, height, box: { x, y, size: n * scale } };
}
