import { CacheUnavailableError, type Cache } from "../../ports/cache.js";
import { StateUnavailableError } from "../../ports/state-errors.js";
import { LuaScript, type RedisConnection } from "../state/redis-connection.js";

export interface RedisCacheOptions {
  redis: RedisConnection;
  /** Prefix of every key (default "ifc:cache:"). */
  keyPrefix?: string;
  /** The clock expiry is judged on (tests inject one); Redis's own PX TTL bounds the memory. */
  now?: () => number;
}

/**
 * SET while the key holds the expected value: ARGV[4] is "1" when a value is expected (ARGV[5]),
 * "0" for none. A counter (no `|`) never matches; an entry whose `<expiresAt>` is not past
 * ARGV[3], the caller's clock, counts as absent (Redis's own TTL may lag an injected clock).
 */
const CAS = new LuaScript(`
local raw = redis.call("GET", KEYS[1])
local live = nil
if raw then
  local bar = string.find(raw, "|", 1, true)
  if not bar then return 0 end
  if tonumber(string.sub(raw, 1, bar - 1)) > tonumber(ARGV[3]) then live = string.sub(raw, bar + 1) end
end
if ARGV[4] == "1" then
  if live ~= ARGV[5] then return 0 end
elseif live then
  return 0
end
redis.call("SET", KEYS[1], ARGV[1], "PX", ARGV[2])
return 1
`);

/**
 * The cache shared by the cluster. Each value is stored as `<expiresAt>|<value>` with a PX TTL: the
 * TTL frees Redis's memory, and the expiry in the value is judged on this process's clock, so the
 * TTL semantics are the MemoryCache's exactly (and a test's injected clock moves both).
 */
export class RedisCache implements Cache {
  readonly engine = "redis" as const;
  private readonly redis: RedisConnection;
  private readonly prefix: string;
  private readonly now: () => number;

  constructor(opts: RedisCacheOptions) {
    this.redis = opts.redis;
    this.prefix = opts.keyPrefix ?? "ifc:cache:";
    this.now = opts.now ?? Date.now;
  }

  private async run<T>(operation: string, fn: (client: RedisConnection["client"]) => Promise<T>): Promise<T> {
    try {
      return await this.redis.run(operation, fn);
    } catch (err) {
      if (err instanceof StateUnavailableError) throw new CacheUnavailableError(`cache ${operation}: ${err.message}`, { cause: err });
      throw err;
    }
  }

  private decode(raw: string | null): string | undefined {
    if (raw === null) return undefined;
    const bar = raw.indexOf("|");
    if (bar < 0) return raw; // a counter
    return Number(raw.slice(0, bar)) > this.now() ? raw.slice(bar + 1) : undefined;
  }

  async get(key: string): Promise<string | undefined> {
    return this.decode(await this.run("get", (c) => c.get(this.prefix + key)));
  }

  async getMany(keys: readonly string[]): Promise<(string | undefined)[]> {
    if (keys.length === 0) return [];
    const raws = await this.run("mget", (c) => c.mget(keys.map((k) => this.prefix + k)));
    return raws.map((r) => this.decode(r));
  }

  async set(key: string, value: string, ttlMs: number): Promise<void> {
    if (!(ttlMs > 0)) throw new RangeError(`ttlMs must be > 0, got ${ttlMs}`);
    const ms = Math.ceil(ttlMs);
    await this.run("set", (c) => c.set(this.prefix + key, `${this.now() + ms}|${value}`, "PX", ms));
  }

  async setMany(entries: readonly (readonly [string, string])[], ttlMs: number): Promise<void> {
    if (!(ttlMs > 0)) throw new RangeError(`ttlMs must be > 0, got ${ttlMs}`);
    if (entries.length === 0) return;
    const ms = Math.ceil(ttlMs);
    const at = this.now() + ms;
    await this.run("set", async (c) => {
      const multi = c.multi();
      for (const [k, v] of entries) multi.set(this.prefix + k, `${at}|${v}`, "PX", ms);
      const replies = await multi.exec();
      const failed = replies?.find(([err]) => err);
      if (!replies || failed) throw failed?.[0] ?? new Error("MULTI aborted");
    });
  }

  async compareAndSet(key: string, expected: string | undefined, value: string, ttlMs: number): Promise<boolean> {
    if (!(ttlMs > 0)) throw new RangeError(`ttlMs must be > 0, got ${ttlMs}`);
    const ms = Math.ceil(ttlMs);
    const now = this.now();
    const args = [`${now + ms}|${value}`, ms, now, expected === undefined ? "0" : "1", expected ?? ""];
    return (await this.run("cas", (c) => CAS.run(c, [this.prefix + key], args))) === 1;
  }

  async delete(keys: readonly string[]): Promise<void> {
    if (keys.length === 0) return;
    await this.run("del", (c) => c.del(...keys.map((k) => this.prefix + k)));
  }

  async increment(key: string): Promise<number> {
    return this.run("incr", (c) => c.incr(this.prefix + key));
  }

  /** The connection is the composition's; it closes it. */
  close(): Promise<void> {
    return Promise.resolve();
  }
}
