/**
 * Rate over a sliding window using fixed 100 ms buckets: O(1) per sample, no allocation on
 * the packet path.
 */
export class RateMeter {
  private static readonly BUCKET_MS = 100;
  private readonly buckets: Float64Array;
  private readonly stamps: Float64Array;

  constructor(private readonly windowMs: number) {
    const n = Math.max(1, Math.ceil(windowMs / RateMeter.BUCKET_MS));
    this.buckets = new Float64Array(n);
    this.stamps = new Float64Array(n).fill(-1);
  }

  add(amount: number, nowMs: number): void {
    const slot = Math.floor(nowMs / RateMeter.BUCKET_MS);
    const i = slot % this.buckets.length;
    if (this.stamps[i] !== slot) {
      this.stamps[i] = slot;
      this.buckets[i] = 0;
    }
    this.buckets[i] = (this.buckets[i] ?? 0) + amount;
  }

  /** Sum over the window divided by its length, per second. */
  perSecond(nowMs: number = Date.now()): number {
    const current = Math.floor(nowMs / RateMeter.BUCKET_MS);
    const oldest = current - this.buckets.length + 1;
    let sum = 0;
    for (let i = 0; i < this.buckets.length; i++) {
      const stamp = this.stamps[i] ?? -1;
      if (stamp >= oldest && stamp <= current) sum += this.buckets[i] ?? 0;
    }
    return (sum * 1000) / this.windowMs;
  }
}
