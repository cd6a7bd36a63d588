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

    it("add stores only where no live value is: not over a value nor a counter, but over an expired one", async () => {
      const { cache, advance } = await fixture();
      expect(await cache.add("k", "first", TTL)).toBe(true);
      expect(await cache.add("k", "second", TTL)).toBe(false);
      expect(await cache.get("k")).toBe("first");
      await cache.increment("gen");
      expect(await cache.add("gen", "x", TTL)).toBe(false);
      expect(await cache.get("gen")).toBe("1");
      advance(TTL - 1);
      expect(await cache.add("k", "third", TTL)).toBe(false);
      advance(1); // expired on the cache's clock (Redis may still hold it: its TTL runs in real time)
      expect(await cache.add("k", "third", TTL)).toBe(true);
      expect(await cache.get("k")).toBe("third");
      advance(TTL - 1);
      expect(await cache.get("k")).toBe("third"); // the TTL runs from the add
      await expect(cache.add("z", "v", 0)).rejects.toBeInstanceOf(RangeError);
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
