import type { MediaFrame } from "../media/types.js";

/** How much of a live stream is kept in memory (IFC_STREAM_BUFFER_MS / IFC_STREAM_BUFFER_BYTES). */
export interface StreamBufferOptions {
  /** Media time kept behind the newest frame (ms); at least the newest GOP is kept even when longer. */
  maxMs: number;
  /** Hard cap on the payload bytes held; the oldest whole GOPs go first. */
  maxBytes: number;
  /**
   * The stream has no video: every audio frame is a random-access point. With video, only IDR
   * access units are, and audio frames ride along between them.
   */
  audioOnly?: boolean;
}

/** The config's defaults, for hubs made outside the server (tests, tools). */
export const DEFAULT_STREAM_BUFFER: StreamBufferOptions = { maxMs: 10_000, maxBytes: 32 * 1024 * 1024 };

export interface StreamBufferStats {
  frames: number;
  bytes: number;
  /** Wall-clock span from the oldest frame held to the newest (ms). */
  durationMs: number;
  /** Whole GOPs evicted, by time or by the byte cap. */
  evictions: number;
  /** Frames that went with them. */
  evictedFrames: number;
  /** Frames not kept because no random-access point preceded them (stream start, or after a GOP larger than the byte cap). */
  skipped: number;
}

const INITIAL_CAPACITY = 256;

/**
 * The last seconds of a live stream (its GOP cache and pre-roll), by reference: frames are never
 * copied. Held in whole GOPs so that every snapshot starts at a random-access point: the time
 * bound evicts the oldest GOP only once the next one alone still covers `maxMs`, and the byte cap
 * evicts whole GOPs too, down to none when the newest GOP alone is larger than the cap (a GOP cut
 * at its head cannot be decoded, and the cap is a promise about memory).
 *
 * `append` is O(1) amortised: two power-of-two rings indexed by absolute frame number, which
 * grow by doubling and never shrink; nothing else is allocated per frame.
 */
export class StreamBuffer {
  private frames: (MediaFrame | undefined)[] = new Array<MediaFrame | undefined>(INITIAL_CAPACITY);
  private sizes = new Float64Array(INITIAL_CAPACITY);
  private mask = INITIAL_CAPACITY - 1;
  /** Absolute number of the oldest frame held, and of the next frame to come. */
  private first = 0;
  private next = 0;
  /** Absolute frame numbers of the random-access points held, oldest first. */
  private gops = new Float64Array(64);
  private gopMask = 63;
  private gopFirst = 0;
  private gopNext = 0;
  private bytes = 0;
  private evictions = 0;
  private evictedFrames = 0;
  private skipped = 0;

  constructor(private readonly opts: StreamBufferOptions) {}

  append(frame: MediaFrame): void {
    const sync = this.opts.audioOnly ? frame.kind === "audio" : frame.kind === "video" && frame.isKeyframe;
    if (!sync && this.gopNext === this.gopFirst) {
      this.skipped++;
      return;
    }
    const size = frameBytes(frame);
    if (this.next - this.first === this.mask + 1) this.growFrames();
    const slot = this.next & this.mask;
    this.frames[slot] = frame;
    this.sizes[slot] = size;
    if (sync) {
      if (this.gopNext - this.gopFirst === this.gopMask + 1) this.growGops();
      this.gops[this.gopNext & this.gopMask] = this.next;
      this.gopNext++;
    }
    this.next++;
    this.bytes += size;
    this.evict(frame.wallClockMs);
  }

  private evict(newestWallMs: number): void {
    // Time: the second-oldest GOP alone reaches back far enough, so the oldest is not needed.
    while (this.gopNext - this.gopFirst >= 2) {
      const second = this.frameAt(this.gops[(this.gopFirst + 1) & this.gopMask] as number);
      if (second.wallClockMs > newestWallMs - this.opts.maxMs) break;
      this.evictOldestGop();
    }
    while (this.bytes > this.opts.maxBytes && this.gopNext > this.gopFirst) this.evictOldestGop();
  }

  private evictOldestGop(): void {
    this.gopFirst++;
    // Up to the next GOP's head, or everything when it was the only one.
    const end = this.gopNext > this.gopFirst ? (this.gops[this.gopFirst & this.gopMask] as number) : this.next;
    this.evictions++;
    this.evictedFrames += end - this.first;
    for (let i = this.first; i < end; i++) {
      const slot = i & this.mask;
      this.bytes -= this.sizes[slot] as number;
      this.frames[slot] = undefined;
    }
    this.first = end;
    if (this.first === this.next) this.bytes = 0; // no float drift when empty
  }

  private frameAt(abs: number): MediaFrame {
    return this.frames[abs & this.mask] as MediaFrame;
  }

  /**
   * Frames from the random-access point at or before `wallClockMs` (the oldest one held when
   * `wallClockMs` is older) to the newest, in publish order. Empty when nothing is held.
   */
  snapshotFrom(wallClockMs: number): MediaFrame[] {
    if (this.gopNext === this.gopFirst) return [];
    let from = this.gops[this.gopFirst & this.gopMask] as number;
    for (let g = this.gopNext - 1; g >= this.gopFirst; g--) {
      const abs = this.gops[g & this.gopMask] as number;
      if (this.frameAt(abs).wallClockMs <= wallClockMs) {
        from = abs;
        break;
      }
    }
    return this.slice(from);
  }

  /** Frames from the newest random-access point (a GOP cache for a new viewer). */
  lastGop(): MediaFrame[] {
    if (this.gopNext === this.gopFirst) return [];
    return this.slice(this.gops[(this.gopNext - 1) & this.gopMask] as number);
  }

  /** The newest frame held, if any. */
  newest(): MediaFrame | undefined {
    return this.next > this.first ? this.frameAt(this.next - 1) : undefined;
  }

  private slice(from: number): MediaFrame[] {
    const out = new Array<MediaFrame>(this.next - from);
    for (let i = from; i < this.next; i++) out[i - from] = this.frameAt(i);
    return out;
  }

  get stats(): StreamBufferStats {
    const count = this.next - this.first;
    const durationMs = count > 0 ? this.frameAt(this.next - 1).wallClockMs - this.frameAt(this.first).wallClockMs : 0;
    return { frames: count, bytes: this.bytes, durationMs, evictions: this.evictions, evictedFrames: this.evictedFrames, skipped: this.skipped };
  }

  /** Drops everything held (the stream ended). */
  clear(): void {
    this.frames.fill(undefined);
    this.first = this.next;
    this.gopFirst = this.gopNext;
    this.bytes = 0;
  }

  private growFrames(): void {
    const cap = (this.mask + 1) * 2;
    const frames = new Array<MediaFrame | undefined>(cap);
    const sizes = new Float64Array(cap);
    for (let i = this.first; i < this.next; i++) {
      frames[i & (cap - 1)] = this.frames[i & this.mask];
      sizes[i & (cap - 1)] = this.sizes[i & this.mask] as number;
    }
    this.frames = frames;
    this.sizes = sizes;
    this.mask = cap - 1;
  }

  private growGops(): void {
    const cap = (this.gopMask + 1) * 2;
    const gops = new Float64Array(cap);
    for (let g = this.gopFirst; g < this.gopNext; g++) gops[g & (cap - 1)] = this.gops[g & this.gopMask] as number;
    this.gops = gops;
    this.gopMask = cap - 1;
  }
}

/** Payload bytes a frame holds (its NAL units or Opus packet; SPS/PPS views share them). */
export function frameBytes(frame: MediaFrame): number {
  if (frame.kind === "audio") return frame.data.byteLength;
  let n = 0;
  const nalus = frame.nalus;
  for (let i = 0; i < nalus.length; i++) n += (nalus[i] as Uint8Array).byteLength;
  return n;
}
