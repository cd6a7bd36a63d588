/** An 8-bit grayscale frame, rows of `width` bytes: what the extractor sends by default. */
export interface GrayFrame {
  data: Uint8Array;
  width: number;
  height: number;
}

export interface Box {
  x: number;
  y: number;
  width: number;
  height: number;
}

export class FrameFormatError extends Error {
  override name = "FrameFormatError";
}

export function assertGrayFrame(f: GrayFrame): void {
  if (!(f.width > 0 && f.height > 0) || f.data.length !== f.width * f.height) {
    throw new FrameFormatError(`GRAY8 frame of ${f.width}x${f.height} must hold ${f.width * f.height} bytes, got ${f.data.length}`);
  }
}
