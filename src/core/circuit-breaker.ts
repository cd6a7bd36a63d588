/**
 * Per-endpoint circuit breaker: stop hammering an AI worker that keeps failing, probe it again
 * after a pause, and trust it again only after several successes in a row.
 *
 * closed ──(failureThreshold consecutive failures)──▶ open ──(openMs elapsed)──▶ half-open
 * half-open ──(successThreshold consecutive successes)──▶ closed; any failure ──▶ open.
 *
 * Time only moves through the injected clock, and open → half-open happens when the breaker is
 * next looked at (`state`, `allowRequest()`, `tick()`), so call `tick()` on a timer (or use
 * `retryAtMs`) if the half-open transition event must fire without traffic.
 */

export type BreakerState = "closed" | "open" | "half-open";

export interface BreakerTransition {
  from: BreakerState;
  to: BreakerState;
  atMs: number;
  /** Consecutive failures (to open) or successes (to close) that caused it; 0 for the timer. */
  count: number;
  /** Last failure's error when opening, if one was given. */
  error?: unknown;
}

export interface CircuitBreakerOptions {
  /** Consecutive failures that open a closed breaker. Default 5. */
  failureThreshold?: number;
  /** Time spent open before probing again (ms). Default 30 000. */
  openMs?: number;
  /** Consecutive successes in half-open that close it. Default 3. */
  successThreshold?: number;
  now?: () => number;
}

export type BreakerListener = (t: BreakerTransition) => void;

export class CircuitBreaker {
  readonly failureThreshold: number;
  readonly openMs: number;
  readonly successThreshold: number;
  private readonly now: () => number;
  private current: BreakerState = "closed";
  private failures = 0;
  private successes = 0;
  private openedAt = 0;
  private readonly listeners = new Set<BreakerListener>();

  constructor(opts: CircuitBreakerOptions = {}) {
    this.failureThreshold = opts.failureThreshold ?? 5;
    this.openMs = opts.openMs ?? 30_000;
    this.successThreshold = opts.successThreshold ?? 3;
    this.now = opts.now ?? Date.now;
    if (!Number.isInteger(this.failureThreshold) || this.failureThreshold < 1) throw new RangeError(`failureThreshold must be an integer >= 1, got ${this.failureThreshold}`);
    if (!Number.isInteger(this.successThreshold) || this.successThreshold < 1) throw new RangeError(`successThreshold must be an integer >= 1, got ${this.successThreshold}`);
    if (!(Number.isFinite(this.openMs) && this.openMs >= 0)) throw new RangeError(`openMs must be >= 0, got ${this.openMs}`);
  }

  /** Current state; reading it may move open → half-open when the pause is over. */
  get state(): BreakerState {
    this.tick();
    return this.current;
  }

  /** Consecutive failures while closed, or consecutive successes while half-open. */
  get streak(): number {
    this.tick();
    return this.current === "half-open" ? this.successes : this.failures;
  }

  /** When an open breaker goes half-open (epoch ms of the clock); undefined unless open. */
  get retryAtMs(): number | undefined {
    this.tick();
    return this.current === "open" ? this.openedAt + this.openMs : undefined;
  }

  /** False while open: the caller must not try the endpoint. Half-open lets probes through. */
  allowRequest(): boolean {
    return this.state !== "open";
  }

  /** Applies the timer (open → half-open); returns the state. */
  tick(nowMs = this.now()): BreakerState {
    if (this.current === "open" && nowMs - this.openedAt >= this.openMs) {
      this.successes = 0;
      this.transition("half-open", nowMs, 0);
    }
    return this.current;
  }

  recordSuccess(): void {
    const now = this.now();
    this.tick(now);
    switch (this.current) {
      case "closed":
        this.failures = 0;
        break;
      case "half-open":
        this.successes++;
        if (this.successes >= this.successThreshold) {
          const n = this.successes;
          this.failures = 0;
          this.successes = 0;
          this.transition("closed", now, n);
        }
        break;
      case "open":
        // A late answer to a call made before the breaker opened proves little: stay open.
        break;
    }
  }

  recordFailure(error?: unknown): void {
    const now = this.now();
    this.tick(now);
    switch (this.current) {
      case "closed":
        this.failures++;
        if (this.failures >= this.failureThreshold) this.open(now, this.failures, error);
        break;
      case "half-open":
        this.open(now, 1, error);
        break;
      case "open":
        // Calls still failing from before the breaker opened must not extend the pause.
        break;
    }
  }

  /** Back to closed with clean counters (e.g. the endpoint was reconfigured). */
  reset(): void {
    const now = this.now();
    this.failures = 0;
    this.successes = 0;
    if (this.current !== "closed") this.transition("closed", now, 0);
  }

  /** Subscribes to transitions; returns the unsubscribe function. */
  onTransition(listener: BreakerListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  private open(now: number, count: number, error: unknown): void {
    this.openedAt = now;
    this.failures = 0;
    this.successes = 0;
    this.transition("open", now, count, error);
  }

  private transition(to: BreakerState, atMs: number, count: number, error?: unknown): void {
    const from = this.current;
    this.current = to;
    const t: BreakerTransition = { from, to, atMs, count, ...(error !== undefined ? { error } : {}) };
    for (const l of [...this.listeners]) l(t);
  }
}
