import { VIDEO_CLOCK_HZ } from "../media/types.js";

/**
 * Keeps at most `fps` frames per second of MEDIA time (RTP, 90 kHz), evenly spaced: decisions
 * depend on the stream's timestamps, not on when frames happen to leave the decoder, so decode
 * jitter does not make the sampled rate wobble. Rates at or above the source's keep every frame.
 */
export class FrameSampler {
  private intervalTicks: number;
  private next: number | undefined;

  constructor(fps: number) {
    this.intervalTicks = FrameSampler.interval(fps);
  }

  private static interval(fps: number): number {
    if (!(fps > 0)) throw new RangeError(`fps must be > 0, got ${fps}`);
    return VIDEO_CLOCK_HZ / fps;
  }

  setFps(fps: number): void {
    this.intervalTicks = FrameSampler.interval(fps);
    this.next = undefined;
  }

  /** Whether to keep the frame at `rtpTime`. */
  accept(rtpTime: number): boolean {
    const interval = this.intervalTicks;
    // Tolerance: RTP timestamps of a 30 fps source jitter by a few ticks (capture clocks), and
    // 30 -> 15 fps must keep every other frame, not skip a third one now and then.
    const tolerance = Math.min(interval / 4, VIDEO_CLOCK_HZ / 200);
    const next = this.next;
    if (next !== undefined) {
      const early = next - rtpTime;
      if (early > tolerance && early <= 2 * interval) return false;
      // On time: stay on the grid, so that the kept rate is exact on average.
      if (early > -interval && early <= tolerance) {
        this.next = next + interval;
        return true;
      }
    }
    // First frame, a gap longer than an interval, or a new timeline (timestamps went back).
    this.next = rtpTime + interval;
    return true;
  }

  reset(): void {
    this.next = undefined;
  }
}
