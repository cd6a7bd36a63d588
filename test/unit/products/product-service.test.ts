import { pino } from "pino";
import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { MemoryCache } from "../../../src/adapters/cache/memory-cache.js";
import type { PgliteDatabase } from "../../../src/adapters/db/pglite-database.js";
import { migrate } from "../../../src/adapters/db/migrate.js";
import { ALL_MIGRATIONS } from "../../../src/adapters/db/migrations/index.js";
import { CachePolicy } from "../../../src/products/cache-policy.js";
import { CACHE_TTL_MS } from "../../../src/products/cache-ttl.js";
import { ProductNotFound, UnreadableQrPayload } from "../../../src/products/product-errors.js";
import { ProductService } from "../../../src/products/product-service.js";
import { ProductStore } from "../../../src/products/product-store.js";
import { qrDecoder } from "../../../src/products/qr-formats.js";
import { thrown } from "../../contract/product-store.contract.js";
import { openTestPglite } from "../../support/pglite.js";

/** ProductService on a real PGlite and the in-process cache, with a store that counts its reads. */
describe("ProductService over the cache strategies", () => {
  let db: PgliteDatabase;
  let t = 0;
  let cache: MemoryCache;
  let service: ProductService;
  let store: ProductStore;
  const loads: Record<string, number> = {};
  const counts = { hit: {} as Record<string, number>, miss: {} as Record<string, number> };

  beforeAll(async () => {
    db = await openTestPglite();
    await migrate(db, ALL_MIGRATIONS);
  });
  afterAll(async () => {
    await db?.close();
  });
  beforeEach(async () => {
    for (const tb of ["product_specs", "products", "inspection_rules", "quality_standards"]) await db.query(`DELETE FROM ${tb}`);
    t = 0;
    cache = new MemoryCache({ maxEntries: 1000, now: () => t });
    for (const k of Object.keys(loads)) delete loads[k];
    counts.hit = {};
    counts.miss = {};
    const policy = new CachePolicy(cache, { hit: (c) => (counts.hit[c] = (counts.hit[c] ?? 0) + 1), miss: (c) => (counts.miss[c] = (counts.miss[c] ?? 0) + 1), error: () => undefined }, pino({ level: "silent" }));
    store = new ProductStore(db);
    // Count what reaches the database, method by method.
    for (const m of ["get", "getMany", "findByQr", "search", "rules", "standards"] as const) {
      const orig = store[m].bind(store) as (...a: unknown[]) => Promise<unknown>;
      (store as unknown as Record<string, unknown>)[m] = (...a: unknown[]) => {
        loads[m] = (loads[m] ?? 0) + 1;
        return orig(...a);
      };
    }
    service = new ProductService(store, policy, qrDecoder("standard", ""), { batchMax: 3 });
  });

  it("product master: write-through is visible at once (no database read), lives 1 h", async () => {
    await service.upsert({ product_id: "p1", work_order_id: "WO1", model: "A" });
    expect((await service.get("p1")).model).toBe("A");
    expect(loads.get ?? 0).toBe(0);
    await service.update("p1", { model: "B" });
    expect((await service.get("p1")).model).toBe("B");
    expect(loads.get ?? 0).toBe(0);
    t += CACHE_TTL_MS.product - 1;
    await service.get("p1");
    expect(loads.get ?? 0).toBe(0);
    t += 1;
    await service.get("p1");
    expect(loads.get).toBe(1);
    expect(await thrown(service.get("nope"))).toBeInstanceOf(ProductNotFound);
  });

  it("QR lookups: lazy-load (a miss, then hits), 30 min; the product with its type's rules, standards and specifications in one answer", async () => {
    await service.upsert({ product_id: "p1", work_order_id: "WO1", instruction_id: "I1", product_type: "T", specifications: { w: "1" } });
    await service.putRules("T", [{ category: "scratch", threshold: 0.5 }]);
    await service.putStandards("T", [{ name: "len", metric: "mm", min_value: 1 }]);
    const rulesReadByWrites = loads.rules;
    const first = await service.getByQr("IFC1;wo=WO1;inst=I1;type=T");
    expect(first.product.product_id).toBe("p1");
    expect(first.inspection_rules.map((r) => r.category)).toEqual(["scratch"]);
    expect(first.quality_standards.map((s) => s.name)).toEqual(["len"]);
    expect(first.specifications).toEqual({ w: "1" });
    expect(loads.findByQr).toBe(1);
    expect(counts.miss.qr).toBe(1);
    // Rules were written through: no database read for them.
    expect(loads.rules).toBe(rulesReadByWrites);
    await service.getByQr("IFC1;wo=WO1;inst=I1");
    expect(loads.findByQr).toBe(1);
    expect(counts.hit.qr).toBe(1);
    t += CACHE_TTL_MS.qr;
    await service.getByQr("IFC1;wo=WO1;inst=I1");
    expect(loads.findByQr).toBe(2);
    expect(await thrown(service.getByQr("IFC1;wo=WO2"))).toBeInstanceOf(ProductNotFound);
    expect(await thrown(service.getByQr("not a code"))).toBeInstanceOf(UnreadableQrPayload);
  });

  it("invalidates on update: a QR lookup and a search after a write see the new values", async () => {
    await service.upsertMany([
      { product_id: "old", work_order_id: "WO1", machine_number: "M1", production_date: "2026-01-01", product_type: "T" },
      { product_id: "other", work_order_id: "WO2", machine_number: "M1", production_date: "2026-01-02", product_type: "T" },
    ]);
    expect((await service.getByQr("IFC1;wo=WO1")).product.product_id).toBe("old");
    expect((await service.getByQr("IFC1;wo=WO1;mach=M1")).product.product_id).toBe("old");
    expect((await service.search({ product_type: "T", limit: 10 })).total).toBe(2);
    await service.search({ product_type: "T", limit: 10 });
    expect(loads.search).toBe(1);

    // A newer product with the same work order: cached QR answers for its fields are dropped.
    await service.upsert({ product_id: "new", work_order_id: "WO1", machine_number: "M1", production_date: "2026-03-01", product_type: "T" });
    expect((await service.getByQr("IFC1;wo=WO1")).product.product_id).toBe("new");
    expect((await service.getByQr("IFC1;wo=WO1;mach=M1")).product.product_id).toBe("new");
    expect((await service.search({ product_type: "T", limit: 10 })).total).toBe(3);

    // Moving a product to another work order: its previous fields' keys are dropped too.
    await service.update("new", { work_order_id: "WO9" });
    expect((await service.getByQr("IFC1;wo=WO1;mach=M1")).product.product_id).toBe("old");
    expect((await service.getByQr("IFC1;wo=WO9")).product.product_id).toBe("new");
    // An update of a field the search shows is visible at once.
    await service.update("other", { product_type: "U" });
    expect((await service.search({ product_type: "T", limit: 10 })).items.map((p) => p.product_id)).toEqual(["old", "new"]);

    await service.delete("old");
    expect(await thrown(service.getByQr("IFC1;wo=WO1"))).toBeInstanceOf(ProductNotFound);
    expect(await thrown(service.get("old"))).toBeInstanceOf(ProductNotFound);
    expect((await service.search({ product_type: "T", limit: 10 })).items.map((p) => p.product_id)).toEqual(["new"]);
  });

  it("search pages are cached 5 min per query and generation", async () => {
    await service.upsert({ product_id: "p1", work_order_id: "WO1", product_type: "T" });
    await service.search({ product_type: "T", limit: 10 });
    await service.search({ product_type: "T", limit: 10 });
    await service.search({ product_type: "T", limit: 11 });
    expect(loads.search).toBe(2);
    t += CACHE_TTL_MS.search;
    await service.search({ product_type: "T", limit: 10 });
    expect(loads.search).toBe(3);
  });

  it("batch get: up to batchMax ids, cached ones from one round trip, the rest in one query, unknown ids listed", async () => {
    await service.upsertMany([{ product_id: "a", work_order_id: "W" }, { product_id: "b", work_order_id: "W" }]);
    await service.get("a");
    const got = await service.batchGet(["a", "b", "zz"]);
    expect(got.items.map((p) => p.product_id)).toEqual(["a", "b"]);
    expect(got.missing).toEqual(["zz"]);
    expect(loads.getMany).toBe(1);
    await service.batchGet(["a", "b"]);
    expect(loads.getMany).toBe(1);
    expect((await thrown(service.batchGet(["a", "b", "c", "d"]))) as Error).toMatchObject({ slug: "too-many-ids" });
  });

  it("inspection rules: write-through, 2 h; a PUT replaces what readers see at once", async () => {
    expect(await service.rules("T")).toEqual([]);
    expect(loads.rules).toBe(1);
    await service.putRules("T", [{ category: "dent", threshold: 0.4 }]);
    expect((await service.rules("T")).map((r) => r.threshold)).toEqual([0.4]);
    await service.putRules("T", [{ category: "dent", threshold: 0.6 }]);
    expect((await service.rules("T")).map((r) => r.threshold)).toEqual([0.6]);
    const before = loads.rules!;
    t += CACHE_TTL_MS.rules - 1;
    await service.rules("T");
    expect(loads.rules).toBe(before);
    t += 1;
    await service.rules("T");
    expect(loads.rules).toBe(before + 1);
  });
});
