import type { RateDecision, RateLimitStore } from "../../ports/rate-limit-store.js";

interface Window {
  startMs: number;
  windowMs: number;
  hits: number;
}

/**
 * Fixed-window counters in one process. A window starts at a key's first hit (not on a clock
 * boundary), so a client cannot double its allowance by straddling a boundary at once; expired
 * keys are swept when the map grows past `maxKeys`, which bounds memory under a spray of
 * addresses (and then refuses new keys fail-closed only if every key is still live).
 */
export class MemoryRateLimitStore implements RateLimitStore {
  private readonly windows = new Map<string, Window>();

  constructor(
    private readonly now: () => number = Date.now,
    private readonly maxKeys = 100_000,
  ) {}

  async consume(key: string, limit: number, windowMs: number): Promise<RateDecision> {
    const t = this.now();
    let w = this.windows.get(key);
    if (!w || t - w.startMs >= windowMs) {
      if (!w && this.windows.size >= this.maxKeys) this.sweep(t);
      if (!w && this.windows.size >= this.maxKeys) return { allowed: false, remaining: 0, retryAfterMs: windowMs };
      w = { startMs: t, windowMs, hits: 0 };
      this.windows.set(key, w);
    }
    if (w.hits >= limit) return { allowed: false, remaining: 0, retryAfterMs: Math.max(1, w.startMs + windowMs - t) };
    w.hits++;
    return { allowed: true, remaining: limit - w.hits, retryAfterMs: 0 };
  }

  async peek(key: string, windowMs: number): Promise<number> {
    const w = this.windows.get(key);
    return w && this.now() - w.startMs < windowMs ? w.hits : 0;
  }

  async reset(key: string): Promise<void> {
    this.windows.delete(key);
  }

  /** Keys counted now (tests, metrics). */
  get size(): number {
    return this.windows.size;
  }

  private sweep(t: number): void {
    for (const [k, w] of this.windows) if (t - w.startMs >= w.windowMs) this.windows.delete(k);
  }
}
