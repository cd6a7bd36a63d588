/** p50/p95/p99 over a window of samples (ms), and how many samples that is. */
export interface LatencySummary {
  p50: number;
  p95: number;
  p99: number;
  samples: number;
}

/**
 * The last `size` latency samples of one stream, summarized on demand (for its stats). Bounded:
 * the oldest sample leaves when a new one comes to a full window.
 */
export class LatencyWindow {
  private readonly samples: number[] = [];

  constructor(private readonly size: number) {
    if (!(Number.isInteger(size) && size >= 1)) throw new RangeError(`latency window size must be an integer >= 1, got ${size}`);
  }

  push(ms: number): void {
    this.samples.push(ms);
    if (this.samples.length > this.size) this.samples.shift();
  }

  /** Nearest-rank percentiles of the window, or undefined while it is empty. */
  summary(): LatencySummary | undefined {
    if (this.samples.length === 0) return undefined;
    const sorted = [...this.samples].sort((a, b) => a - b);
    const q = (p: number): number => sorted[Math.min(sorted.length - 1, Math.floor(p * sorted.length))] as number;
    return { p50: q(0.5), p95: q(0.95), p99: q(0.99), samples: sorted.length };
  }
}
