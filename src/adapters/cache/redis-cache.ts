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
 * SET unless the key holds a live value: a value is live when it is a counter (no `|`) or its
 * `<expiresAt>` is past ARGV[3], the caller's clock (Redis's own TTL may lag an injected clock).
 */
const ADD = new LuaScript(`
local raw = redis.call("GET", KEYS[1])
if raw then
  local bar = string.find(raw, "|", 1, true)
  if not bar or tonumber(string.sub(raw, 1, bar - 1)) > tonumber(ARGV[3]) then return 0 end
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

  async add(key: string, value: string, ttlMs: number): Promise<boolean> {
    if (!(ttlMs > 0)) throw new RangeError(`ttlMs must be > 0, got ${ttlMs}`);
    const ms = Math.ceil(ttlMs);
    const now = this.now();
    const stored = await this.run("add", (c) => ADD.run(c, [this.prefix + key], [`${now + ms}|${value}`, ms, now]));
    return stored === 1;
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
