import type { GrayFrame } from "./gray-frame.js";

/**
 * `frame` shrunk by an integer factor (box average), into `into` when it has the right size.
 * QR decoding costs in proportion to pixels, and a code big enough to find at full resolution is
 * still readable at half of it.
 */
export function shrinkGray(frame: GrayFrame, factor: number, into?: Uint8Array): GrayFrame {
  if (!(Number.isInteger(factor) && factor >= 1)) throw new RangeError(`factor must be an integer >= 1, got ${factor}`);
  if (factor === 1) return frame;
  const width = Math.floor(frame.width / factor);
  const height = Math.floor(frame.height / factor);
  const data = into && into.length === width * height ? into : new Uint8Array(width * height);
  const src = frame.data;
  const area = factor * factor;
  for (let y = 0; y < height; y++) {
    for (let x = 0; x < width; x++) {
      let sum = 0;
      for (let dy = 0; dy < factor; dy++) {
        const row = (y * factor + dy) * frame.width + x * factor;
        for (let dx = 0; dx < factor; dx++) sum += src[row + dx] as number;
      }
      data[y * width + x] = (sum / area + 0.5) | 0;
    }
  }
  return { data, width, height };
}
