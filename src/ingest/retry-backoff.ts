/**
 * When a pulled camera is tried again: exponential backoff with ±jitter, so the cameras of one
 * site that dropped together (a switch reboot) do not all reconnect in the same millisecond.
 * Pure: the random source is injected (tests), the clock belongs to the caller.
 */
export interface RetryBackoffOptions {
  /** Delay after the first failure (ms), before jitter (IFC_SOURCE_RETRY_MIN_MS). */
  minMs: number;
  /** Longest delay (ms), jitter included (IFC_SOURCE_RETRY_MAX_MS): never exceeded. */
  maxMs: number;
  /** Relative jitter; 0.25 spreads each delay uniformly over ±25 %. */
  jitter?: number;
}

/**
 * Delay before retry `attempt` (1 after the first failure): min(maxMs, minMs · 2^(attempt−1)),
 * times a factor uniform in [1 − jitter, 1 + jitter), clamped to maxMs.
 */
export function retryDelay(attempt: number, opts: RetryBackoffOptions, random: () => number = Math.random): number {
  if (!Number.isInteger(attempt) || attempt < 1) throw new RangeError(`retry attempt must be an integer >= 1, got ${attempt}`);
  const jitter = opts.jitter ?? 0.25;
  if (!(opts.minMs > 0 && opts.maxMs >= opts.minMs)) throw new RangeError(`retry delays need 0 < minMs <= maxMs, got ${opts.minMs}..${opts.maxMs}`);
  if (!(jitter >= 0 && jitter < 1)) throw new RangeError(`retry jitter must be in [0, 1), got ${jitter}`);
  // 2 ** n is Infinity for huge n; Math.min turns it back into maxMs.
  const nominal = Math.min(opts.maxMs, opts.minMs * 2 ** (attempt - 1));
  return Math.min(opts.maxMs, Math.round(nominal * (1 - jitter + 2 * jitter * random())));
}
