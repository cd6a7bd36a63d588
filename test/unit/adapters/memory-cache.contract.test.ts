import { describe, expect, it } from "vitest";
import { MemoryCache } from "../../../src/adapters/cache/memory-cache.js";
import { cachePolicyContract } from "../../contract/cache-policy.contract.js";
import { cacheContract } from "../../contract/cache.contract.js";
import { manualTime } from "../../contract/time-control.js";

function memory(maxEntries = 1000) {
  const time = manualTime();
  const cache = new MemoryCache({ maxEntries, now: time.now });
  return { cache, time };
}

cacheContract("in-process LRU", async () => {
  const { cache, time } = memory();
  return {
    cache,
    advance: (ms) => time.advance(ms),
    sibling: async () => new MemoryCache({ maxEntries: 1000, now: time.now }),
    cleanup: () => cache.close(),
  };
});

cachePolicyContract("in-process LRU", async () => {
  const { cache, time } = memory();
  return { cache, now: time.now, advance: (ms) => time.advance(ms), cleanup: () => cache.close() };
});

describe("MemoryCache: the LRU bound", () => {
  it("holds exactly maxEntries: the next set evicts the least recently READ entry, not the oldest written", async () => {
    const { cache } = memory(3);
    await cache.set("a", "1", 60_000);
    await cache.set("b", "2", 60_000);
    await cache.set("c", "3", 60_000);
    expect(cache.size).toBe(3);
    expect(await cache.get("a")).toBe("1"); // a is now the most recently used; b the least
    expect(await cache.getMany(["c"])).toEqual(["3"]); // getMany reads count as use too
    await cache.set("d", "4", 60_000);
    expect(cache.size).toBe(3);
    expect(await cache.getMany(["a", "b", "c", "d"])).toEqual(["1", undefined, "3", "4"]);
    // Overwriting an entry does not grow the cache nor evict anything.
    await cache.set("a", "1b", 60_000);
    expect(cache.size).toBe(3);
    expect(await cache.getMany(["a", "c", "d"])).toEqual(["1b", "3", "4"]);
  });

  it("counters live apart from the LRU: a full cache never evicts a generation, and counters take no entry", async () => {
    const { cache } = memory(2);
    expect(await cache.increment("gen")).toBe(1);
    expect(await cache.increment("gen")).toBe(2);
    for (let i = 0; i < 10; i++) await cache.set(`k${i}`, String(i), 60_000);
    expect(cache.size).toBe(2);
    expect(await cache.get("gen")).toBe("2");
    expect(await cache.increment("gen")).toBe(3);
    expect(await cache.getMany(["k8", "k9"])).toEqual(["8", "9"]);
  });

  it("an expired entry is dropped when read and frees its place", async () => {
    const { cache, time } = memory(2);
    await cache.set("old", "x", 1000);
    time.advance(1000);
    expect(await cache.get("old")).toBeUndefined();
    expect(cache.size).toBe(0);
  });
});
