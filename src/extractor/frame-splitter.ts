/** Cuts a decoder's stdout byte stream into whole frames. */
export interface FrameSplitter {
  /** Feeds a chunk; calls `onFrame` for each frame completed by it. */
  push(chunk: Buffer, onFrame: (frame: Buffer) => void): void;
  /** Bytes held of an unfinished frame. */
  readonly pending: number;
}

/** Raw frames of a fixed size; one copy per frame, into a buffer the frame then owns. */
export class RawFrameSplitter implements FrameSplitter {
  private buf: Buffer;
  private filled = 0;

  constructor(private readonly frameBytes: number) {
    if (!Number.isInteger(frameBytes) || frameBytes <= 0) throw new RangeError(`bad frame size ${frameBytes}`);
    this.buf = Buffer.allocUnsafe(frameBytes);
  }

  get pending(): number {
    return this.filled;
  }

  push(chunk: Buffer, onFrame: (frame: Buffer) => void): void {
    let o = 0;
    while (o < chunk.length) {
      const n = Math.min(this.frameBytes - this.filled, chunk.length - o);
      chunk.copy(this.buf, this.filled, o, o + n);
      this.filled += n;
      o += n;
      if (this.filled === this.frameBytes) {
        const frame = this.buf;
        this.buf = Buffer.allocUnsafe(this.frameBytes);
        this.filled = 0;
        onFrame(frame);
      }
    }
  }
}

/**
 * JPEG images back to back (ffmpeg's mjpeg encoder through image2pipe). An image ends at the
 * first EOI marker (FF D9): the encoder byte-stuffs FF in entropy-coded data and writes no
 * embedded thumbnails, so no FF D9 occurs inside an image. Bytes before an SOI are skipped.
 */
export class JpegFrameSplitter implements FrameSplitter {
  private parts: Buffer[] = [];
  private size = 0;
  /** Whether the last byte held is 0xFF (a marker split across chunks). */
  private lastFF = false;
  private readonly maxBytes: number;

  constructor(maxBytes = 64 * 1024 * 1024) {
    this.maxBytes = maxBytes;
  }

  get pending(): number {
    return this.size;
  }

  push(chunk: Buffer, onFrame: (frame: Buffer) => void): void {
    let start = 0;
    let i = 0;
    if (this.size === 0) {
      // Expect an SOI; skip anything else (never expected from ffmpeg, but never fatal).
      const soi = chunk.indexOf(0xff);
      if (soi < 0) return;
      start = i = soi;
    } else if (this.lastFF && chunk[0] === 0xd9) {
      this.emit(chunk.subarray(0, 1), onFrame);
      return this.push(chunk.subarray(1), onFrame);
    }
    while (i < chunk.length) {
      const ff = chunk.indexOf(0xff, i);
      if (ff < 0 || ff === chunk.length - 1) break;
      if (chunk[ff + 1] === 0xd9) {
        this.emit(chunk.subarray(start, ff + 2), onFrame);
        return this.push(chunk.subarray(ff + 2), onFrame);
      }
      i = ff + 1;
    }
    const rest = chunk.subarray(start);
    if (rest.length === 0) return;
    this.parts.push(rest);
    this.size += rest.length;
    this.lastFF = rest[rest.length - 1] === 0xff;
    if (this.size > this.maxBytes) {
      // Not JPEG after all: bound the memory, resynchronize on the next image.
      this.parts = [];
      this.size = 0;
      this.lastFF = false;
    }
  }

  private emit(tail: Buffer, onFrame: (frame: Buffer) => void): void {
    const frame = this.parts.length === 0 ? Buffer.from(tail) : Buffer.concat([...this.parts, tail]);
    this.parts = [];
    this.size = 0;
    this.lastFF = false;
    onFrame(frame);
  }
}
