import { afterEach, describe, expect, it } from "vitest";
import type { Cache } from "../../src/ports/cache.js";

export interface CacheFixture {
  /** A cache on a manual clock (`advance` moves it): both engines judge expiry on it. */
  cache: Cache;
  advance(ms: number): void;
  /** Another cache on the same store under another key prefix (Redis: same server). */
  sibling(): Promise<Cache>;
  cleanup(): Promise<void>;
}

/** Long enough that Redis's own PX TTL (real time) never runs out during a test. */
const TTL = 60_000;

/** What every Cache (in-process LRU, Redis) does alike: the TTL semantics the products side relies on. */
export function cacheContract(name: string, make: () => Promise<CacheFixture>): void {
  describe(`Cache contract: ${name}`, () => {
    const open: CacheFixture[] = [];
    const fixture = async (): Promise<CacheFixture> => {
      const fx = await make();
      open.push(fx);
      return fx;
    };
    afterEach(async () => {
      for (const fx of open.splice(0)) await fx.cleanup();
    });

    it("get, set, getMany and delete: values round-trip byte for byte, absent keys are undefined", async () => {
      const { cache } = await fixture();
      expect(await cache.get("a")).toBeUndefined();
      const json = JSON.stringify({ product_id: "p|1", name: "ワーク", n: 1.5 });
      await cache.set("a", json, TTL);
      await cache.set("b", "", TTL);
      await cache.set("c|x", "with|bars|inside", TTL);
      expect(await cache.get("a")).toBe(json);
      expect(await cache.get("b")).toBe("");
      expect(await cache.get("c|x")).toBe("with|bars|inside");
      expect(await cache.getMany(["c|x", "none", "a", "b"])).toEqual(["with|bars|inside", undefined, json, ""]);
      expect(await cache.getMany([])).toEqual([]);
      await cache.set("a", "second", TTL); // overwrite
      expect(await cache.get("a")).toBe("second");
      await cache.delete(["a", "none", "b"]);
      await cache.delete([]);
      expect(await cache.getMany(["a", "b", "c|x"])).toEqual([undefined, undefined, "with|bars|inside"]);
    });

    it("expires an entry at its TTL on the cache's clock: present at ttl - 1 ms, gone at ttl (get and getMany)", async () => {
      const { cache, advance } = await fixture();
      await cache.set("k", "v", TTL);
      await cache.set("later", "w", TTL + 10);
      advance(TTL - 1);
      expect(await cache.get("k")).toBe("v");
      expect(await cache.getMany(["k"])).toEqual(["v"]);
      advance(1);
      expect(await cache.get("k")).toBeUndefined();
      expect(await cache.getMany(["k", "later"])).toEqual([undefined, "w"]);
      // A set renews the TTL from the current time.
      await cache.set("k", "v2", TTL);
      advance(TTL - 1);
      expect(await cache.get("k")).toBe("v2");
      advance(1);
      expect(await cache.get("k")).toBeUndefined();
    });

    it("refuses a TTL of 0 or less (or not a number) and stores nothing", async () => {
      const { cache } = await fixture();
      for (const bad of [0, -1, Number.NaN]) await expect(cache.set("z", "v", bad)).rejects.toBeInstanceOf(RangeError);
      expect(await cache.get("z")).toBeUndefined();
      await expect(cache.set("z", "v", 1)).resolves.toBeUndefined(); // the smallest TTL allowed
    });

    it("setMany stores every entry with one TTL", async () => {
      const { cache, advance } = await fixture();
      await cache.increment("n");
      await cache.setMany([["a", "1"], ["b", "2"], ["n", "3"]], TTL);
      await cache.setMany([], TTL);
      expect(await cache.getMany(["a", "b", "n"])).toEqual(["1", "2", "3"]);
      advance(TTL - 1);
      expect(await cache.getMany(["a", "b"])).toEqual(["1", "2"]);
      advance(1);
      expect(await cache.getMany(["a", "b", "n"])).toEqual([undefined, undefined, undefined]);
      await expect(cache.setMany([["c", "v"]], 0)).rejects.toBeInstanceOf(RangeError);
      expect(await cache.get("c")).toBeUndefined();
    });

    it("compareAndSet stores only while the key holds the expected value (undefined: none live)", async () => {
      const { cache, advance } = await fixture();
      expect(await cache.compareAndSet("k", undefined, "first", TTL)).toBe(true);
      expect(await cache.compareAndSet("k", undefined, "second", TTL)).toBe(false);
      expect(await cache.compareAndSet("k", "other", "second", TTL)).toBe(false);
      expect(await cache.get("k")).toBe("first");
      expect(await cache.compareAndSet("k", "first", "second", TTL)).toBe(true);
      expect(await cache.get("k")).toBe("second");
      expect(await cache.compareAndSet("none", "x", "y", TTL)).toBe(false);
      expect(await cache.get("none")).toBeUndefined();
      await cache.increment("gen");
      expect(await cache.compareAndSet("gen", undefined, "x", TTL)).toBe(false);
      expect(await cache.compareAndSet("gen", "1", "x", TTL)).toBe(false); // a counter is never a value
      expect(await cache.get("gen")).toBe("1");
      advance(TTL - 1);
      expect(await cache.compareAndSet("k", undefined, "third", TTL)).toBe(false);
      advance(1); // expired on the cache's clock (Redis may still hold it: its TTL runs in real time)
      expect(await cache.compareAndSet("k", "second", "third", TTL)).toBe(false);
      expect(await cache.compareAndSet("k", undefined, "third", TTL)).toBe(true);
      advance(TTL - 1);
      expect(await cache.get("k")).toBe("third"); // the TTL runs from the store
      await expect(cache.compareAndSet("z", undefined, "v", 0)).rejects.toBeInstanceOf(RangeError);
      expect(await cache.get("z")).toBeUndefined();
    });

    it("counters start at 1, count exactly, never expire, read back as their number and are removed by delete", async () => {
      const { cache, advance } = await fixture();
      expect(await cache.increment("gen")).toBe(1);
      expect(await cache.increment("gen")).toBe(2);
      expect(await cache.increment("other")).toBe(1);
      advance(10 * 365 * 24 * 3_600_000); // ten years on the cache's clock
      expect(await cache.get("gen")).toBe("2");
      expect(await cache.getMany(["other", "gen"])).toEqual(["1", "2"]);
      expect(await cache.increment("gen")).toBe(3);
      await Promise.all(Array.from({ length: 20 }, () => cache.increment("race")));
      expect(await cache.get("race")).toBe("20");
      await cache.delete(["gen"]);
      expect(await cache.get("gen")).toBeUndefined();
      expect(await cache.increment("gen")).toBe(1);
    });

    it("keys are isolated by prefix: another cache on the same store neither sees nor deletes this one's keys", async () => {
      const { cache, sibling } = await fixture();
      const other = await sibling();
      await cache.set("shared-name", "mine", TTL);
      await cache.increment("gen");
      expect(await other.get("shared-name")).toBeUndefined();
      expect(await other.get("gen")).toBeUndefined();
      await other.set("shared-name", "theirs", TTL);
      expect(await other.increment("gen")).toBe(1);
      await other.delete(["shared-name"]);
      expect(await cache.get("shared-name")).toBe("mine");
      expect(await cache.get("gen")).toBe("1");
    });
  });
}
