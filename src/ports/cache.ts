/**
 * A shared key/value cache with per-entry TTLs: Redis in production, an in-process LRU as the
 * embedded default. Values are strings (callers serialise), so both engines store the same bytes.
 * Both implementations pass test/contract/cache.contract.ts.
 */
export interface Cache {
  /** Which engine answers: for logs and metrics labels, never for branching in domain code. */
  readonly engine: "memory" | "redis";
  /** The value, or undefined when absent or expired. */
  get(key: string): Promise<string | undefined>;
  /** Several at once (one round trip on Redis); the result lines up with `keys`. */
  getMany(keys: readonly string[]): Promise<(string | undefined)[]>;
  /** Stores `value` for `ttlMs` (> 0) from now on the cache's clock. */
  set(key: string, value: string, ttlMs: number): Promise<void>;
  /** Several entries with one TTL (one round trip on Redis). */
  setMany(entries: readonly (readonly [key: string, value: string])[], ttlMs: number): Promise<void>;
  /**
   * Stores `value` only while `key` still holds `expected` (undefined: no live value), and says
   * whether it did. A reader filling a miss passes what its get saw, so it never overwrites what
   * a writer stored or invalidated meanwhile.
   */
  compareAndSet(key: string, expected: string | undefined, value: string, ttlMs: number): Promise<boolean>;
  delete(keys: readonly string[]): Promise<void>;
  /**
   * Adds one to a counter that never expires and returns the new value (a missing counter is 0).
   * Generation counters: a write bumps its generation, and keys built on the old one are never read again.
   */
  increment(key: string): Promise<number>;
  close(): Promise<void>;
}

/** The cache engine cannot be reached or timed out: callers fall back to the source of truth. */
export class CacheUnavailableError extends Error {
  override name = "CacheUnavailableError";
}
