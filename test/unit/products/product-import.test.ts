import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MemoryCache } from "../../../src/adapters/cache/memory-cache.js";
import { migrate } from "../../../src/adapters/db/migrate.js";
import { ALL_MIGRATIONS } from "../../../src/adapters/db/migrations/index.js";
import type { PgliteDatabase } from "../../../src/adapters/db/pglite-database.js";
import { CachePolicy } from "../../../src/products/cache-policy.js";
import type { ImportRow } from "../../../src/products/import-parsers.js";
import { ImportInterrupted, importProducts, MAX_REPORTED_FAILURES } from "../../../src/products/product-import.js";
import { ProductService } from "../../../src/products/product-service.js";
import { ProductStore } from "../../../src/products/product-store.js";
import { qrDecoder } from "../../../src/products/qr-formats.js";
import { thrown } from "../../contract/product-store.contract.js";
import { openTestPglite } from "../../support/pglite.js";

async function* rowsOf(rows: ImportRow[], fail?: Error): AsyncGenerator<ImportRow> {
  for (const r of rows) yield r;
  if (fail) throw fail;
}
const row = (line: number, id: string, wo = "W"): ImportRow => ({ line, fields: { product_id: id, work_order_id: wo } });

describe("importProducts", () => {
  let db: PgliteDatabase;
  let service: ProductService;
  beforeAll(async () => {
    db = await openTestPglite();
    await migrate(db, ALL_MIGRATIONS);
    service = new ProductService(new ProductStore(db), new CachePolicy(new MemoryCache({ maxEntries: 100 }), { hit: () => undefined, miss: () => undefined, error: () => undefined }, pino({ level: "silent" })), qrDecoder("standard", ""), { batchMax: 10 });
  });
  afterAll(async () => {
    await db?.close();
  });

  it("writes in batches; an id repeated within a batch flushes it first, so the later row wins", async () => {
    const report = await importProducts(service, rowsOf([row(2, "a", "W1"), row(3, "b"), row(4, "a", "W2"), row(5, "c"), row(6, "d")]), { maxRows: 10, batchSize: 2 });
    expect(report).toEqual({ imported: 5, failed: [], failed_count: 0, refused: { count: 0, first_line: null } });
    expect((await service.get("a")).work_order_id).toBe("W2");
    expect((await service.get("a")).revision).toBe(2);
    expect((await service.batchGet(["b", "c", "d"])).missing).toEqual([]);
  });

  it("lists at most MAX_REPORTED_FAILURES bad rows but counts them all; rows past maxRows are refused", async () => {
    const bad: ImportRow[] = Array.from({ length: MAX_REPORTED_FAILURES + 5 }, (_, i) => ({ line: i + 2, error: "broken" }));
    const r = await importProducts(service, rowsOf([...bad, row(9000, "e")]), { maxRows: MAX_REPORTED_FAILURES + 5 });
    expect(r.failed).toHaveLength(MAX_REPORTED_FAILURES);
    expect(r.failed_count).toBe(MAX_REPORTED_FAILURES + 5);
    expect(r.refused).toEqual({ count: 1, first_line: 9000 });
    expect(r.imported).toBe(0);
  });

  it("an interrupted body keeps the batches written before, and says how many", async () => {
    const err = await thrown(importProducts(service, rowsOf([row(2, "f"), row(3, "g"), row(4, "h")], new Error("cut")), { maxRows: 10, batchSize: 2 }));
    expect(err).toBeInstanceOf(ImportInterrupted);
    expect((err as ImportInterrupted).report.imported).toBe(2);
    expect((await service.batchGet(["f", "g", "h"])).missing).toEqual(["h"]);
  });
});
