import type { RateDecision, RateLimitStore } from "../../ports/rate-limit-store.js";
import { LuaScript, type RedisConnection } from "./redis-connection.js";

export interface RedisRateLimitStoreOptions {
  redis: RedisConnection;
  /** Prefix of every key (default "ifc:ratelimit:"). */
  keyPrefix?: string;
}

// KEYS: counter. ARGV: limit, windowMs. The window starts at the key's first hit (its PX TTL);
// a refused hit still opens a window, as in MemoryRateLimitStore. Returns {allowed, remaining, retryAfterMs}.
const CONSUME = new LuaScript(`
local limit = tonumber(ARGV[1])
local ttl = redis.call('PTTL', KEYS[1])
local hits = 0
if ttl < 0 then
  redis.call('SET', KEYS[1], 0, 'PX', ARGV[2])
  ttl = tonumber(ARGV[2])
else
  hits = tonumber(redis.call('GET', KEYS[1]))
end
if hits >= limit then return {0, 0, math.max(1, ttl)} end
hits = redis.call('INCR', KEYS[1])
return {1, limit - hits, 0}
`);

/**
 * Fixed-window counters shared by every node: one key per counted client with a PX TTL equal to
 * the window, counted in one Lua script so concurrent hits on several nodes never over-admit.
 * Memory is bounded by Redis's own maxmemory policy (each key lives one window at most).
 */
export class RedisRateLimitStore implements RateLimitStore {
  private readonly redis: RedisConnection;
  private readonly prefix: string;

  constructor(opts: RedisRateLimitStoreOptions) {
    this.redis = opts.redis;
    this.prefix = opts.keyPrefix ?? "ifc:ratelimit:";
  }

  async consume(key: string, limit: number, windowMs: number): Promise<RateDecision> {
    if (!(windowMs >= 1)) throw new RangeError(`windowMs must be >= 1, got ${windowMs}`);
    const r = await this.redis.run("rate-limit consume", (c) => CONSUME.run(c, [this.prefix + key], [limit, Math.ceil(windowMs)]));
    const [allowed, remaining, retryAfterMs] = Array.isArray(r) ? r.map(Number) : [];
    if (allowed === undefined || remaining === undefined || retryAfterMs === undefined) throw new Error(`rate-limit consume: unexpected reply ${JSON.stringify(r)}`);
    return { allowed: allowed === 1, remaining, retryAfterMs };
  }

  async peek(key: string, _windowMs: number): Promise<number> {
    const v = await this.redis.run("rate-limit peek", (c) => c.get(this.prefix + key));
    return v === null ? 0 : Number(v);
  }

  async reset(key: string): Promise<void> {
    await this.redis.run("rate-limit reset", (c) => c.del(this.prefix + key));
  }
}
