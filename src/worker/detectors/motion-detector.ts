import type { Box, GrayFrame } from "./gray-frame.js";

export interface MotionOptions {
  /** Side of the square blocks compared between frames (pixels). */
  blockSize: number;
  /** Mean absolute difference (0–255) above which a block has moved. */
  threshold: number;
}

/**
 * Frame differencing on blocks: a block whose mean absolute difference from the previous frame
 * exceeds the threshold is moving; neighbouring moving blocks merge into one region. Cheap enough
 * to gate heavier detectors, as Frigate does.
 */
export class MotionDetector {
  private previous: Uint8Array | undefined;
  private prevWidth = 0;
  private prevHeight = 0;

  constructor(private readonly opts: MotionOptions = { blockSize: 16, threshold: 12 }) {}

  detect(frame: GrayFrame): Box[] {
    const { width, height, data } = frame;
    const prev = this.previous;
    const sameSize = prev && this.prevWidth === width && this.prevHeight === height;
    this.previous = Uint8Array.from(data);
    this.prevWidth = width;
    this.prevHeight = height;
    if (!prev || !sameSize) return [];
    const bs = this.opts.blockSize;
    const cols = Math.ceil(width / bs);
    const rows = Math.ceil(height / bs);
    const moving = new Uint8Array(cols * rows);
    for (let by = 0; by < rows; by++) {
      for (let bx = 0; bx < cols; bx++) {
        let sum = 0;
        let count = 0;
        const y1 = Math.min(height, (by + 1) * bs);
        const x1 = Math.min(width, (bx + 1) * bs);
        for (let y = by * bs; y < y1; y++) {
          const row = y * width;
          for (let x = bx * bs; x < x1; x++) {
            sum += Math.abs((data[row + x] as number) - (prev[row + x] as number));
            count++;
          }
        }
        if (sum / count > this.opts.threshold) moving[by * cols + bx] = 1;
      }
    }
    return this.regions(moving, cols, rows, bs, width, height);
  }

  /** Connected moving blocks (4-neighbourhood) as pixel boxes. */
  private regions(moving: Uint8Array, cols: number, rows: number, bs: number, width: number, height: number): Box[] {
    const seen = new Uint8Array(moving.length);
    const boxes: Box[] = [];
    for (let start = 0; start < moving.length; start++) {
      if (!moving[start] || seen[start]) continue;
      let minX = cols;
      let minY = rows;
      let maxX = -1;
      let maxY = -1;
      const stack = [start];
      seen[start] = 1;
      while (stack.length) {
        const i = stack.pop() as number;
        const x = i % cols;
        const y = (i - x) / cols;
        minX = Math.min(minX, x);
        maxX = Math.max(maxX, x);
        minY = Math.min(minY, y);
        maxY = Math.max(maxY, y);
        for (const j of [x > 0 ? i - 1 : -1, x < cols - 1 ? i + 1 : -1, y > 0 ? i - cols : -1, y < rows - 1 ? i + cols : -1]) {
          if (j >= 0 && moving[j] && !seen[j]) {
            seen[j] = 1;
            stack.push(j);
          }
        }
      }
      const x = minX * bs;
      const y = minY * bs;
      boxes.push({ x, y, width: Math.min(width, (maxX + 1) * bs) - x, height: Math.min(height, (maxY + 1) * bs) - y });
    }
    return boxes;
  }
}
