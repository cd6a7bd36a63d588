import type { Cache } from "../../ports/cache.js";

interface Entry {
  value: string;
  /** On the injected clock. */
  expiresAt: number;
}

/**
 * The embedded cache: a Map kept in recency order (a Map iterates in insertion order, so
 * re-inserting on read makes the first key the least recently used). Expiry is checked on read
 * against the injected clock, so tests move time instead of waiting for it.
 */
export class MemoryCache implements Cache {
  readonly engine = "memory" as const;
  private readonly entries = new Map<string, Entry>();
  /** Apart from the LRU: an evicted generation counter would restart at 0 and revive stale keys. */
  private readonly counters = new Map<string, number>();

  constructor(private readonly opts: { maxEntries: number; now?: () => number }) {}

  private now(): number {
    return this.opts.now ? this.opts.now() : Date.now();
  }

  private read(key: string): string | undefined {
    const e = this.entries.get(key);
    if (!e) return undefined;
    if (e.expiresAt <= this.now()) {
      this.entries.delete(key);
      return undefined;
    }
    this.entries.delete(key);
    this.entries.set(key, e);
    return e.value;
  }

  private write(key: string, e: Entry): void {
    this.entries.delete(key);
    this.entries.set(key, e);
    while (this.entries.size > this.opts.maxEntries) {
      const oldest = this.entries.keys().next().value as string;
      this.entries.delete(oldest);
    }
  }

  get size(): number {
    return this.entries.size;
  }

  get(key: string): Promise<string | undefined> {
    const counter = this.counters.get(key);
    return Promise.resolve(counter !== undefined ? String(counter) : this.read(key));
  }

  getMany(keys: readonly string[]): Promise<(string | undefined)[]> {
    // Counters read alike through get and getMany, as on Redis (MGET sees them).
    return Promise.resolve(
      keys.map((k) => {
        const counter = this.counters.get(k);
        return counter !== undefined ? String(counter) : this.read(k);
      }),
    );
  }

  set(key: string, value: string, ttlMs: number): Promise<void> {
    if (!(ttlMs > 0)) return Promise.reject(new RangeError(`ttlMs must be > 0, got ${ttlMs}`));
    this.counters.delete(key); // a SET replaces a counter on Redis too
    this.write(key, { value, expiresAt: this.now() + ttlMs });
    return Promise.resolve();
  }

  setMany(entries: readonly (readonly [string, string])[], ttlMs: number): Promise<void> {
    if (!(ttlMs > 0)) return Promise.reject(new RangeError(`ttlMs must be > 0, got ${ttlMs}`));
    for (const [k, v] of entries) {
      this.counters.delete(k);
      this.write(k, { value: v, expiresAt: this.now() + ttlMs });
    }
    return Promise.resolve();
  }

  compareAndSet(key: string, expected: string | undefined, value: string, ttlMs: number): Promise<boolean> {
    if (!(ttlMs > 0)) return Promise.reject(new RangeError(`ttlMs must be > 0, got ${ttlMs}`));
    if (this.counters.has(key) || this.read(key) !== expected) return Promise.resolve(false);
    this.write(key, { value, expiresAt: this.now() + ttlMs });
    return Promise.resolve(true);
  }

  delete(keys: readonly string[]): Promise<void> {
    for (const k of keys) {
      this.entries.delete(k);
      this.counters.delete(k);
    }
    return Promise.resolve();
  }

  increment(key: string): Promise<number> {
    const n = (this.counters.get(key) ?? 0) + 1;
    this.counters.set(key, n);
    return Promise.resolve(n);
  }

  close(): Promise<void> {
    this.entries.clear();
    this.counters.clear();
    return Promise.resolve();
  }
}
