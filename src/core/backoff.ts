/**
 * Exponential backoff with symmetric jitter, for reconnecting to AI workers.
 *
 * Jitter spreads the retries of many clients that failed together (one worker restart drops
 * every stream at once), so they do not all reconnect in the same millisecond.
 */

export interface BackoffOptions {
  /** Delay before the first retry (ms), before jitter. */
  baseMs: number;
  /** Upper bound of any delay (ms), jitter included: a configured maximum is never exceeded. */
  maxMs: number;
  /** Growth per consecutive failure; 2 unless told. */
  factor?: number;
  /** Relative jitter: 0.25 spreads each delay uniformly over ±25 %. */
  jitter?: number;
  /** Uniform in [0, 1); Math.random unless injected (tests). */
  random?: () => number;
}

function validate(opts: BackoffOptions): Required<Omit<BackoffOptions, "random">> {
  const factor = opts.factor ?? 2;
  const jitter = opts.jitter ?? 0.25;
  if (!(Number.isFinite(opts.baseMs) && opts.baseMs > 0)) throw new RangeError(`backoff baseMs must be > 0, got ${opts.baseMs}`);
  if (!(Number.isFinite(opts.maxMs) && opts.maxMs >= opts.baseMs)) throw new RangeError(`backoff maxMs must be >= baseMs, got ${opts.maxMs}`);
  if (!(Number.isFinite(factor) && factor >= 1)) throw new RangeError(`backoff factor must be >= 1, got ${factor}`);
  if (!(jitter >= 0 && jitter < 1)) throw new RangeError(`backoff jitter must be in [0, 1), got ${jitter}`);
  return { baseMs: opts.baseMs, maxMs: opts.maxMs, factor, jitter };
}

/**
 * Delay before retry number `attempt` (1 = first retry after the first failure):
 * min(maxMs, baseMs · factor^(attempt−1)) · (1 ± jitter), then clamped to maxMs.
 */
export function backoffDelay(attempt: number, opts: BackoffOptions): number {
  if (!Number.isInteger(attempt) || attempt < 1) throw new RangeError(`backoff attempt must be an integer >= 1, got ${attempt}`);
  const { baseMs, maxMs, factor, jitter } = validate(opts);
  const random = opts.random ?? Math.random;
  // factor ** n overflows to Infinity for huge n, which Math.min turns back into maxMs.
  const nominal = Math.min(maxMs, baseMs * factor ** (attempt - 1));
  const r = random();
  const jittered = nominal * (1 - jitter + 2 * jitter * r);
  return Math.min(maxMs, Math.max(0, jittered));
}

/** Stateful helper: `next()` after each failure, `reset()` after a success. */
export class Backoff {
  private failures = 0;
  private readonly opts: BackoffOptions;

  constructor(opts: BackoffOptions) {
    validate(opts);
    this.opts = { ...opts };
  }

  /** Consecutive failures counted so far. */
  get attempts(): number {
    return this.failures;
  }

  /** Counts one more failure and returns the delay (ms) to wait before the next try. */
  next(): number {
    this.failures++;
    return backoffDelay(this.failures, this.opts);
  }

  reset(): void {
    this.failures = 0;
  }
}
