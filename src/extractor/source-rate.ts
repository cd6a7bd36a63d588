import { VIDEO_CLOCK_HZ } from "../media/types.js";

/** The source's frame rate from its RTP timestamps: the median of the last intervals (robust to jitter and gaps). */
export class SourceRateMeter {
  private last: number | undefined;
  private readonly intervals: number[] = [];

  constructor(private readonly window = 15) {}

  observe(rtpTime: number): void {
    const last = this.last;
    this.last = rtpTime;
    if (last === undefined) return;
    if (rtpTime < last) {
      this.intervals.length = 0; // a new timeline (reconnect)
      return;
    }
    if (rtpTime === last) return;
    this.intervals.push(rtpTime - last);
    if (this.intervals.length > this.window) this.intervals.shift();
  }

  /** A break in the stream: the interval across it is no frame interval, the ones before still are. */
  resumeAt(rtpTime: number): void {
    this.last = rtpTime;
  }

  /** Frames per second, once enough units were seen to trust it. */
  fps(): number | undefined {
    if (this.intervals.length < Math.min(8, this.window)) return undefined;
    const s = [...this.intervals].sort((a, b) => a - b);
    return VIDEO_CLOCK_HZ / (s[Math.floor(s.length / 2)] as number);
  }
}

/**
 * How many decoded frames ffmpeg keeps: one in `k`, the largest k that still leaves at least
 * `targetFps` (5 % slack, so 29.97 -> 10 keeps one in 3). 1 when the source rate is unknown.
 */
export function keepEvery(sourceFps: number | undefined, targetFps: number): number {
  if (!sourceFps || !(targetFps > 0)) return 1;
  return Math.max(1, Math.floor(sourceFps / targetFps + 0.05));
}
