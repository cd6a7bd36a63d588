/**
 * Counters of the rate limits (REST per client, gRPC per client, login attempts per user and
 * per address). In memory on one node; a shared store (Redis) lets several nodes count together.
 * Asynchronous because a shared store is; callers are request handlers, never the media path.
 */
export interface RateDecision {
  allowed: boolean;
  /** Hits left in the current window after this one (0 when refused). */
  remaining: number;
  /** When refused: time until a hit would be allowed again (ms); 0 when allowed. */
  retryAfterMs: number;
}

export interface RateLimitStore {
  /** Counts one hit on `key` and says whether it is within `limit` hits per `windowMs`. */
  consume(key: string, limit: number, windowMs: number): Promise<RateDecision>;
  /** Hits counted on `key` in the current window, without counting one. */
  peek(key: string, windowMs: number): Promise<number>;
  /** Forgets `key` (a successful login clears its failures). */
  reset(key: string): Promise<void>;
}
