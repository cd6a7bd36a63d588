/** GRAY8 from RGB24 (BT.601 luma, integer weights): lets a gray8 consumer share an rgb24 decoder. */
export function grayFromRgb(rgb: Buffer, width: number, height: number): Buffer {
  const n = width * height;
  const out = Buffer.allocUnsafe(n);
  for (let i = 0, j = 0; i < n; i++, j += 3) {
    // 77/150/29 out of 256 = 0.299/0.587/0.114
    out[i] = ((rgb[j] as number) * 77 + (rgb[j + 1] as number) * 150 + (rgb[j + 2] as number) * 29) >> 8;
  }
  return out;
}
