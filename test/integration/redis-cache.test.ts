import { describe, expect, it } from "vitest";
import { RedisCache } from "../../src/adapters/cache/redis-cache.js";
import { cachePolicyContract } from "../contract/cache-policy.contract.js";
import { cacheContract } from "../contract/cache.contract.js";
import { manualTime } from "../contract/time-control.js";
import { redisTestSpace } from "../support/redis-state.js";

/** A RedisCache on the run's shared Redis under a prefix of its own, on a manual clock. */
async function redisCache(name: string) {
  const space = await redisTestSpace(name);
  const time = manualTime(Date.now());
  const cache = new RedisCache({ redis: space.connect(), keyPrefix: space.prefix, now: time.now });
  return { space, time, cache };
}

cacheContract("Redis", async () => {
  const { space, time, cache } = await redisCache("cache");
  return {
    cache,
    advance: (ms) => time.advance(ms),
    sibling: async () => new RedisCache({ redis: space.connect(), keyPrefix: `${space.prefix}sibling:`, now: time.now }),
    cleanup: () => space.cleanup(),
  };
});

cachePolicyContract("Redis", async () => {
  const { space, time, cache } = await redisCache("cache-policy");
  return { cache, now: time.now, advance: (ms) => time.advance(ms), cleanup: () => space.cleanup() };
});

describe("RedisCache: Redis frees the memory", () => {
  it("stores each entry with a PTTL of about its TTL, and a counter with none", async () => {
    const { space, cache } = await redisCache("cache-pttl");
    try {
      const admin = space.connect();
      await admin.ready();
      await cache.set("p", "v", 3_600_000);
      await cache.set("s", "v", 60_000.2); // a fraction rounds up: Redis never drops an entry early
      await cache.increment("gen");
      const pttl = await admin.client.pttl(`${space.prefix}p`);
      expect(pttl).toBeLessThanOrEqual(3_600_000);
      expect(pttl).toBeGreaterThan(3_600_000 - 5_000);
      const short = await admin.client.pttl(`${space.prefix}s`);
      expect(short).toBeLessThanOrEqual(60_001);
      expect(short).toBeGreaterThan(55_000);
      expect(await admin.client.pttl(`${space.prefix}gen`)).toBe(-1); // no expiry
      expect(await admin.client.get(`${space.prefix}gen`)).toBe("1");
    } finally {
      await space.cleanup();
    }
  });
});
