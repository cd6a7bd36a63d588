import type { Logger } from "pino";
import { CacheUnavailableError, type Cache } from "../ports/cache.js";

/** What the policy counts, per named cache (`product`, `qr`, `search`, `rules`): `/metrics` shows them. */
export interface CacheCounters {
  hit(cache: string): void;
  miss(cache: string): void;
  /** The engine failed (`get`, `set`, `delete`, `increment`); the read went to the database. */
  error(cache: string, operation: string): void;
}

/**
 * The design documents' cache strategies over the Cache port, with the database as the truth:
 * - `read` is lazy-load / cache-aside: a miss loads and stores;
 * - `write` is write-through: the writer stores what it just wrote;
 * - `invalidate` drops keys a write made stale;
 * - `generation`/`bump` version whole families of keys (search results), so one write retires
 *   every cached page at once without listing them.
 * An engine failure never fails a request: it is counted and logged once per outage, and the
 * value comes from the database. While the engine is down a write cannot invalidate it; entries
 * written before the outage then live out their TTL (README: products and inspection).
 */
export class CachePolicy {
  private failing = false;

  constructor(
    private readonly cache: Cache,
    private readonly counters: CacheCounters,
    private readonly log: Logger,
  ) {}

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

  async read<T>(name: string, key: string, ttlMs: number, load: () => Promise<T | undefined>): Promise<T | undefined> {
    let raw: string | undefined;
    let reachable = true;
    try {
      raw = await this.cache.get(key);
      this.ok();
    } catch (err) {
      this.failed(name, "get", err);
      reachable = false;
    }
    if (raw !== undefined) {
      this.counters.hit(name);
      return JSON.parse(raw) as T;
    }
    this.counters.miss(name);
    const value = await load();
    if (value !== undefined && reachable) await this.write(name, key, value, ttlMs);
    return value;
  }

  /** Several keys of one cache: hits from one round trip, the misses loaded together by `loadMissing`. */
  async readMany<T>(name: string, keys: readonly string[], ttlMs: number, loadMissing: (indexes: number[]) => Promise<(T | undefined)[]>): Promise<(T | undefined)[]> {
    let raws: (string | undefined)[] = keys.map(() => undefined);
    let reachable = true;
    try {
      raws = await this.cache.getMany(keys);
      this.ok();
    } catch (err) {
      this.failed(name, "get", err);
      reachable = false;
    }
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
        if (v !== undefined && reachable) await this.write(name, keys[missing[j]!]!, v, ttlMs);
      }
    }
    return out;
  }

  async write(name: string, key: string, value: unknown, ttlMs: number): Promise<void> {
    try {
      await this.cache.set(key, JSON.stringify(value), ttlMs);
      this.ok();
    } catch (err) {
      this.failed(name, "set", err);
    }
  }

  async invalidate(name: string, keys: readonly string[]): Promise<void> {
    if (keys.length === 0) return;
    try {
      await this.cache.delete(keys);
      this.ok();
    } catch (err) {
      this.failed(name, "delete", err);
    }
  }

  /** The current generation of a key family, or undefined when the engine is down (then bypass the cache). */
  async generation(name: string, counterKey: string): Promise<number | undefined> {
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
    }
  }
}
