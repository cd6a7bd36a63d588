import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import { CacheUnavailableError, type Cache } from "../ports/cache.js";
import { CACHE_TTL_MS } from "./cache-ttl.js";

/** What the policy counts, per named cache (`product`, `qr`, `search`, `rules`): `/metrics` shows them. */
export interface CacheCounters {
  hit(cache: string): void;
  miss(cache: string): void;
  /** The engine failed (`get`, `set`, `delete`, `increment`); the read went to the database. */
  error(cache: string, operation: string): void;
}

export interface CachePolicyOptions {
  /** The clock bounding the bypass after an overflow (tests inject one). */
  now?: () => number;
  /**
   * Writes the engine missed (failed set/delete/increment) remembered to be replayed as deletes
   * and bumps once it answers again (default 10 000). Past it the policy forgets them and reads
   * the database for the longest TTL instead, so no entry a missed write made stale is ever read.
   */
  maxPendingInvalidations?: number;
  /**
   * How long an invalidated key keeps its tombstone (default 10 000 ms): a reader that missed
   * before the invalidation and loads for longer than this can still store the value it loaded.
   */
  tombstoneMs?: number;
}

/** Tombstones start with this: never the JSON of a value. */
const TOMBSTONE = "\u0000invalidated:";
const isTombstone = (raw: string | undefined): boolean => raw !== undefined && raw.startsWith(TOMBSTONE);

/** The longest TTL of the documents' strategy: what a missed write can leave behind at most. */
const LONGEST_TTL_MS = Math.max(...Object.values(CACHE_TTL_MS));

/**
 * The design documents' cache strategies over the Cache port, with the database as the truth:
 * - `read` is lazy-load / cache-aside: a miss loads and stores;
 * - `write` is write-through: the writer stores what it just wrote;
 * - `invalidate` retires keys a write made stale: each holds a tombstone of its own for a short
 *   while, read as a miss. A reader stores what it loaded only if the key still holds what its
 *   get saw (compare-and-set), so neither a write-through nor an invalidation made while it
 *   loaded is ever overwritten with the older value;
 * - `generation`/`bump` version whole families of keys (search results), so one write retires
 *   every cached page at once without listing them.
 * An engine failure never fails a request: it is counted and logged once per outage, and the
 * value comes from the database. A write the engine missed (hung or partitioned Redis keeps its
 * old entries) is remembered and replayed as a delete or bump before this node reads the cache
 * again, so a cached read never returns a value older than this node's last write.
 */
export class CachePolicy {
  private failing = false;
  private readonly now: () => number;
  private readonly maxPending: number;
  private readonly tombstoneMs: number;
  private readonly pendingDeletes = new Set<string>();
  private readonly pendingBumps = new Set<string>();
  /** After an overflow of the pending set: the cache is not read before this (on `now`). */
  private bypassUntil = -Infinity;

  constructor(
    private readonly cache: Cache,
    private readonly counters: CacheCounters,
    private readonly log: Logger,
    opts: CachePolicyOptions = {},
  ) {
    this.now = opts.now ?? Date.now;
    this.maxPending = opts.maxPendingInvalidations ?? 10_000;
    this.tombstoneMs = opts.tombstoneMs ?? 10_000;
  }

  /** Writes missed and not yet replayed (for tests and logs). */
  get pendingInvalidations(): number {
    return this.pendingDeletes.size + this.pendingBumps.size;
  }

  private failed(name: string, operation: string, err: unknown): void {
    if (!(err instanceof CacheUnavailableError)) throw err;
    this.counters.error(name, operation);
    if (!this.failing) this.log.warn({ err, cache: name, operation }, "cache unavailable: reading from the database");
    this.failing = true;
  }

  private ok(): void {
    if (this.failing) this.log.info("cache reachable again");
    this.failing = false;
  }

  /** A write the engine may have missed: replay it later, or bypass the cache past what it can leave stale. */
  private remember(set: Set<string>, key: string, ttlMs: number): void {
    if (set.has(key)) return;
    if (this.pendingInvalidations >= this.maxPending) {
      if (this.bypassUntil <= this.now()) this.log.warn({ pending: this.pendingInvalidations, ttlMs }, "too many missed cache writes: reading the database until their entries expire");
      this.bypassUntil = Math.max(this.bypassUntil, this.now() + ttlMs);
      return;
    }
    set.add(key);
  }

  /**
   * Before the cache is read: the missed writes are replayed. False while that is impossible
   * (engine still down, or bypassing after an overflow): the caller reads the database only.
   */
  private async settle(name: string): Promise<boolean> {
    if (this.now() < this.bypassUntil) return false;
    if (this.pendingDeletes.size > 0) {
      const keys = [...this.pendingDeletes];
      try {
        await this.cache.delete(keys);
      } catch (err) {
        this.failed(name, "delete", err);
        return false;
      }
      for (const k of keys) this.pendingDeletes.delete(k);
    }
    for (const counterKey of [...this.pendingBumps]) {
      try {
        await this.cache.increment(counterKey);
      } catch (err) {
        this.failed(name, "increment", err);
        return false;
      }
      this.pendingBumps.delete(counterKey);
    }
    return true;
  }

  async read<T>(name: string, key: string, ttlMs: number, load: () => Promise<T | undefined>): Promise<T | undefined> {
    let raw: string | undefined;
    let reachable = await this.settle(name);
    if (reachable) {
      try {
        raw = await this.cache.get(key);
        this.ok();
      } catch (err) {
        this.failed(name, "get", err);
        reachable = false;
      }
    }
    if (raw !== undefined && !isTombstone(raw)) {
      this.counters.hit(name);
      return JSON.parse(raw) as T;
    }
    this.counters.miss(name);
    const value = await load();
    if (value !== undefined && reachable) await this.fill(name, key, raw, value, ttlMs);
    return value;
  }

  /** Several keys of one cache: hits from one round trip, the misses loaded together by `loadMissing`. */
  async readMany<T>(name: string, keys: readonly string[], ttlMs: number, loadMissing: (indexes: number[]) => Promise<(T | undefined)[]>): Promise<(T | undefined)[]> {
    let raws: (string | undefined)[] = keys.map(() => undefined);
    let reachable = await this.settle(name);
    if (reachable) {
      try {
        raws = await this.cache.getMany(keys);
        this.ok();
      } catch (err) {
        this.failed(name, "get", err);
        reachable = false;
      }
    }
    const seen = raws;
    raws = raws.map((r) => (isTombstone(r) ? undefined : r));
    const out: (T | undefined)[] = raws.map((r) => (r === undefined ? undefined : (JSON.parse(r) as T)));
    const missing: number[] = [];
    raws.forEach((r, i) => {
      if (r === undefined) {
        missing.push(i);
        this.counters.miss(name);
      } else this.counters.hit(name);
    });
    if (missing.length > 0) {
      const loaded = await loadMissing(missing);
      for (let j = 0; j < missing.length; j++) {
        const v = loaded[j];
        out[missing[j]!] = v;
        if (v !== undefined && reachable) await this.fill(name, keys[missing[j]!]!, seen[missing[j]!], v, ttlMs);
      }
    }
    return out;
  }

  /**
   * A reader stores what it loaded only if the key still holds what its get saw (`seen`): a write
   * or an invalidation since then means the value it loaded may be older than the database.
   */
  private async fill(name: string, key: string, seen: string | undefined, value: unknown, ttlMs: number): Promise<void> {
    try {
      await this.cache.compareAndSet(key, seen, JSON.stringify(value), ttlMs);
      this.ok();
    } catch (err) {
      this.failed(name, "set", err);
      this.remember(this.pendingDeletes, key, ttlMs); // it may have been stored, and may be older than a racing write
    }
  }

  async write(name: string, key: string, value: unknown, ttlMs: number): Promise<void> {
    try {
      await this.cache.set(key, JSON.stringify(value), ttlMs);
      this.ok();
    } catch (err) {
      this.failed(name, "set", err);
      this.remember(this.pendingDeletes, key, ttlMs); // the engine may still hold the previous value
    }
  }

  async invalidate(name: string, keys: readonly string[]): Promise<void> {
    if (keys.length === 0) return;
    try {
      const tombstone = TOMBSTONE + randomUUID(); // its own: a reader that saw an earlier one must not match it
      await this.cache.setMany(keys.map((k) => [k, tombstone] as const), this.tombstoneMs);
      this.ok();
    } catch (err) {
      this.failed(name, "delete", err);
      for (const k of keys) this.remember(this.pendingDeletes, k, LONGEST_TTL_MS);
    }
  }

  /** The current generation of a key family, or undefined when the engine is down (then bypass the cache). */
  async generation(name: string, counterKey: string): Promise<number | undefined> {
    if (!(await this.settle(name))) return undefined;
    try {
      const raw = await this.cache.get(counterKey);
      this.ok();
      return raw === undefined ? 0 : Number(raw);
    } catch (err) {
      this.failed(name, "get", err);
      return undefined;
    }
  }

  /** Retires every key built on the current generation. */
  async bump(name: string, counterKey: string): Promise<void> {
    try {
      await this.cache.increment(counterKey);
      this.ok();
    } catch (err) {
      this.failed(name, "increment", err);
      this.remember(this.pendingBumps, counterKey, LONGEST_TTL_MS);
    }
  }
}
