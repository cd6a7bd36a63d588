import pino from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { CachePolicy, type CacheCounters } from "../../src/products/cache-policy.js";
import { CACHE_TTL_MS } from "../../src/products/cache-ttl.js";
import type { Cache } from "../../src/ports/cache.js";

/** CacheCounters that remember: `hits.product`, `errors["qr/get"]`. */
export function recordingCounters(): CacheCounters & { hits: Record<string, number>; misses: Record<string, number>; errors: Record<string, number> } {
  const hits: Record<string, number> = {};
  const misses: Record<string, number> = {};
  const errors: Record<string, number> = {};
  return {
    hits,
    misses,
    errors,
    hit: (c) => void (hits[c] = (hits[c] ?? 0) + 1),
    miss: (c) => void (misses[c] = (misses[c] ?? 0) + 1),
    error: (c, op) => void (errors[`${c}/${op}`] = (errors[`${c}/${op}`] ?? 0) + 1),
  };
}

export interface CachePolicyFixture {
  /** A cache on a manual clock that `advance` moves. */
  cache: Cache;
  now(): number;
  advance(ms: number): void;
  cleanup(): Promise<void>;
}

/** A loader standing in for the database: counts its calls. */
function source<T>(value: () => T | undefined): { load: () => Promise<T | undefined>; calls: number } {
  const s = {
    calls: 0,
    load: () => {
      s.calls++;
      return Promise.resolve(value());
    },
  };
  return s;
}

const MIN = 60_000;
const log = pino({ level: "silent" });

/** The documents' four cache strategies (server design §2.3.4) over any Cache engine, on an injected clock. */
export function cachePolicyContract(name: string, make: () => Promise<CachePolicyFixture>): void {
  describe(`CachePolicy contract: ${name}`, () => {
    const open: CachePolicyFixture[] = [];
    const setup = async () => {
      const fx = await make();
      open.push(fx);
      const counters = recordingCounters();
      return { ...fx, counters, policy: new CachePolicy(fx.cache, counters, log, { now: fx.now }) };
    };
    afterEach(async () => {
      for (const fx of open.splice(0)) await fx.cleanup();
    });

    it("the TTLs are the documents': product 1 h, QR 30 min, search 5 min, rules 2 h", () => {
      expect(CACHE_TTL_MS).toEqual({ product: 60 * MIN, qr: 30 * MIN, search: 5 * MIN, rules: 120 * MIN });
    });

    for (const cache of ["product", "rules"] as const) {
      it(`write-through (${cache}, ${CACHE_TTL_MS[cache] / MIN} min): a read after a write is a hit without the database, until the TTL`, async () => {
        const { policy, counters, advance } = await setup();
        let db = { id: "P1", rev: 1 };
        const src = source(() => db);
        await policy.write(cache, `${cache}:P1`, db, CACHE_TTL_MS[cache]);
        expect(await policy.read(cache, `${cache}:P1`, CACHE_TTL_MS[cache], src.load)).toEqual({ id: "P1", rev: 1 });
        expect(src.calls).toBe(0);
        // A second write replaces the cached value at once: never older than the last write.
        db = { id: "P1", rev: 2 };
        await policy.write(cache, `${cache}:P1`, db, CACHE_TTL_MS[cache]);
        advance(CACHE_TTL_MS[cache] - 1);
        expect(await policy.read(cache, `${cache}:P1`, CACHE_TTL_MS[cache], src.load)).toEqual({ id: "P1", rev: 2 });
        expect(src.calls).toBe(0);
        advance(1);
        expect(await policy.read(cache, `${cache}:P1`, CACHE_TTL_MS[cache], src.load)).toEqual({ id: "P1", rev: 2 });
        expect(src.calls).toBe(1);
        expect(counters).toMatchObject({ hits: { [cache]: 2 }, misses: { [cache]: 1 }, errors: {} });
      });
    }

    it("lazy-load (QR, 30 min): a miss loads once and stores, then hits; the entry is gone at its TTL and loaded again", async () => {
      const { policy, counters, advance } = await setup();
      const src = source(() => ({ product_id: "P7" }));
      const read = () => policy.read("qr", "qr:IFC1;wo=WO1", CACHE_TTL_MS.qr, src.load);
      expect(await read()).toEqual({ product_id: "P7" });
      expect(src.calls).toBe(1);
      expect(await read()).toEqual({ product_id: "P7" });
      advance(CACHE_TTL_MS.qr - 1);
      expect(await read()).toEqual({ product_id: "P7" });
      expect(src.calls).toBe(1);
      advance(1);
      expect(await read()).toEqual({ product_id: "P7" });
      expect(src.calls).toBe(2);
      expect(await read()).toEqual({ product_id: "P7" });
      expect(src.calls).toBe(2);
      expect(counters).toMatchObject({ hits: { qr: 3 }, misses: { qr: 2 }, errors: {} });
    });

    it("a value the database does not have is not cached: every read asks again", async () => {
      const { policy, counters } = await setup();
      const src = source<{ id: string }>(() => undefined);
      for (let i = 0; i < 3; i++) expect(await policy.read("qr", "qr:none", CACHE_TTL_MS.qr, src.load)).toBeUndefined();
      expect(src.calls).toBe(3);
      expect(counters.misses).toEqual({ qr: 3 });
      expect(counters.hits).toEqual({});
    });

    it("cache-aside search (5 min) keyed on a generation: a bump retires every cached page at once", async () => {
      const { policy, counters, advance } = await setup();
      let rows = ["P1", "P2", "P3"];
      const srcs = { a: source(() => rows.slice(0, 2)), b: source(() => rows.slice(2)) };
      const page = async (p: "a" | "b") => {
        const gen = await policy.generation("search", "search:gen");
        expect(gen).toBeTypeOf("number");
        return policy.read("search", `search:${gen}:${p}`, CACHE_TTL_MS.search, srcs[p].load);
      };
      expect(await policy.generation("search", "search:gen")).toBe(0);
      expect(await page("a")).toEqual(["P1", "P2"]);
      expect(await page("b")).toEqual(["P3"]);
      expect(await page("a")).toEqual(["P1", "P2"]);
      expect(await page("b")).toEqual(["P3"]);
      expect([srcs.a.calls, srcs.b.calls]).toEqual([1, 1]);

      rows = ["P0", "P1", "P2", "P3"]; // a product is created: its writer bumps the generation
      await policy.bump("search", "search:gen");
      expect(await policy.generation("search", "search:gen")).toBe(1);
      expect(await page("a")).toEqual(["P0", "P1"]);
      expect(await page("b")).toEqual(["P2", "P3"]);
      expect([srcs.a.calls, srcs.b.calls]).toEqual([2, 2]);

      advance(CACHE_TTL_MS.search - 1);
      expect(await page("a")).toEqual(["P0", "P1"]);
      advance(1);
      expect(await page("a")).toEqual(["P0", "P1"]);
      expect(srcs.a.calls).toBe(3);
      expect(counters).toMatchObject({ hits: { search: 3 }, misses: { search: 5 }, errors: {} });
    });

    it("a reader that loaded before a write-through never overwrites it: the cached value is the last write's", async () => {
      const { policy } = await setup();
      let db = { id: "P1", rev: 1 };
      const key = "product:P1";
      // The reader misses and reads rev 1; before it stores that, a writer commits rev 2 and writes it through.
      const racingLoad = async () => {
        const seen = db;
        db = { id: "P1", rev: 2 };
        await policy.write("product", key, db, CACHE_TTL_MS.product);
        return seen;
      };
      expect(await policy.read("product", key, CACHE_TTL_MS.product, racingLoad)).toEqual({ id: "P1", rev: 1 });
      const src = source(() => db);
      expect(await policy.read("product", key, CACHE_TTL_MS.product, src.load)).toEqual({ id: "P1", rev: 2 });
      expect(src.calls).toBe(0);
    });

    it("invalidate drops exactly the keys given: the next read loads them again", async () => {
      const { policy, counters } = await setup();
      const src = source(() => ({ id: "P1" }));
      await policy.write("product", "product:P1", { id: "P1" }, CACHE_TTL_MS.product);
      await policy.write("product", "product:P2", { id: "P2" }, CACHE_TTL_MS.product);
      await policy.invalidate("product", ["product:P1"]);
      await policy.invalidate("product", []);
      expect(await policy.read("product", "product:P1", CACHE_TTL_MS.product, src.load)).toEqual({ id: "P1" });
      expect(src.calls).toBe(1);
      expect(await policy.read("product", "product:P2", CACHE_TTL_MS.product, src.load)).toEqual({ id: "P2" });
      expect(src.calls).toBe(1);
      expect(counters).toMatchObject({ hits: { product: 1 }, misses: { product: 1 }, errors: {} });
    });

    it("a reader that loaded before an update and its invalidate never stores the old value back", async () => {
      const { policy } = await setup();
      let db = { id: "P1", rev: 1 };
      const key = "product:P1";
      const racingLoad = async () => {
        const seen = db;
        db = { id: "P1", rev: 2 };
        await policy.invalidate("product", [key]);
        return seen;
      };
      expect(await policy.read("product", key, CACHE_TTL_MS.product, racingLoad)).toEqual({ id: "P1", rev: 1 });
      const src = source(() => db);
      expect(await policy.read("product", key, CACHE_TTL_MS.product, src.load)).toEqual({ id: "P1", rev: 2 });
      expect(src.calls).toBe(1);
    });

    it("after an invalidate the next reader caches again at once; a racing reader is refused while the tombstone lives (10 s)", async () => {
      const { policy, counters, advance } = await setup();
      const src = source(() => ({ id: "P1" }));
      const read = () => policy.read("product", "product:P1", CACHE_TTL_MS.product, src.load);
      await policy.write("product", "product:P1", { id: "P1" }, CACHE_TTL_MS.product);
      await policy.invalidate("product", ["product:P1"]);
      await read();
      await read();
      expect(src.calls).toBe(1); // loaded over the tombstone, then a hit
      expect(counters).toMatchObject({ hits: { product: 1 }, misses: { product: 1 } });

      // A reader misses, then an invalidation lands while it loads for (tombstone - 1 ms), then exactly the tombstone's life.
      for (const [loadMs, stored] of [
        [10_000 - 1, false],
        [10_000, true],
      ] as const) {
        const key = `product:slow${loadMs}`;
        const slow = async () => {
          await policy.invalidate("product", [key]);
          advance(loadMs);
          return { id: "old" };
        };
        await policy.read("product", key, CACHE_TTL_MS.product, slow);
        const after = source(() => ({ id: "new" }));
        expect(await policy.read("product", key, CACHE_TTL_MS.product, after.load)).toEqual(stored ? { id: "old" } : { id: "new" });
        expect(after.calls).toBe(stored ? 0 : 1);
      }
    });

    it("readMany: hits and misses in the keys' order, the misses loaded in one call and then cached", async () => {
      const { policy, counters } = await setup();
      await policy.write("product", "p:b", "B", CACHE_TTL_MS.product);
      await policy.write("product", "p:d", "D", CACHE_TTL_MS.product);
      const asked: number[][] = [];
      const loadMissing = (idx: number[]) => {
        asked.push(idx);
        return Promise.resolve(idx.map((i) => (i === 4 ? undefined : `${"abcde"[i]!.toUpperCase()}*`)));
      };
      const keys = ["p:a", "p:b", "p:c", "p:d", "p:e"];
      expect(await policy.readMany("product", keys, CACHE_TTL_MS.product, loadMissing)).toEqual(["A*", "B", "C*", "D", undefined]);
      expect(asked).toEqual([[0, 2, 4]]);
      expect(await policy.readMany("product", keys, CACHE_TTL_MS.product, loadMissing)).toEqual(["A*", "B", "C*", "D", undefined]);
      expect(asked).toEqual([[0, 2, 4], [4]]); // the absent one is asked again, alone
      expect(await policy.readMany("product", [], CACHE_TTL_MS.product, loadMissing)).toEqual([]);
      expect(asked).toHaveLength(2);
      expect(counters).toMatchObject({ hits: { product: 2 + 4 }, misses: { product: 3 + 1 }, errors: {} });
    });

    it("counts per cache name: hits and misses of one cache never land on another", async () => {
      const { policy, counters } = await setup();
      const src = source(() => 1);
      await policy.read("qr", "x", CACHE_TTL_MS.qr, src.load);
      await policy.read("qr", "x", CACHE_TTL_MS.qr, src.load);
      await policy.read("rules", "y", CACHE_TTL_MS.rules, src.load);
      expect(counters.hits).toEqual({ qr: 1 });
      expect(counters.misses).toEqual({ qr: 1, rules: 1 });
      expect(counters.errors).toEqual({});
      expect(policy.pendingInvalidations).toBe(0);
    });
  });
}
