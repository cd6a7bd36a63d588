/**
 * The product master with 100,000 products (PGlite, the embedded default, in memory): get-by-QR
 * and search latency through ProductService, cold (cache empty for that key: the database
 * answers) and cached (the in-process LRU answers), median and p99, and the cache's share of the
 * mean. Measured in-process (the service layer, no HTTP): the figure the cache strategy changes.
 * Run: npx tsx bench/products.ts [products] [samples]   (IFC_BENCH_SHORT=1: 10,000 and 200)
 */
import { pino } from "pino";
import { MemoryCache } from "../src/adapters/cache/memory-cache.js";
import { migrate } from "../src/adapters/db/migrate.js";
import { ALL_MIGRATIONS } from "../src/adapters/db/migrations/index.js";
import { PgliteDatabase } from "../src/adapters/db/pglite-database.js";
import { CachePolicy } from "../src/products/cache-policy.js";
import { ProductService } from "../src/products/product-service.js";
import { ProductStore } from "../src/products/product-store.js";
import { qrDecoder } from "../src/products/qr-formats.js";
import { machine, numArg, writeResults } from "./lib/results.js";
import { pct } from "./lib/stats.js";

const N = numArg(0, 100_000, 10_000);
const SAMPLES = numArg(1, 500, 200);
const TYPES = 20;
const MACHINES = 50;

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const summary = (xs: number[]) => ({ median_ms: +pct(xs, 50)!.toFixed(3), p99_ms: +pct(xs, 99)!.toFixed(3), mean_ms: +mean(xs).toFixed(3) });

async function time(fn: () => Promise<unknown>): Promise<number> {
  const t0 = performance.now();
  await fn();
  return performance.now() - t0;
}

async function main(): Promise<void> {
  const m = machine();
  const db = await PgliteDatabase.open();
  await migrate(db, ALL_MIGRATIONS);
  const t0 = performance.now();
  await db.query(`INSERT INTO products (product_id, work_order_id, instruction_id, product_type, machine_number, production_date, monthly_sequence, status)
    SELECT 'P' || g, 'WO' || lpad(g::text, 7, '0'), 'IN' || g, 'TYPE-' || (g % ${TYPES}), 'M' || (g % ${MACHINES}), DATE '2025-01-01' + (g % 700), g % 1000, 'active'
    FROM generate_series(1, ${N}) g`);
  await db.query(`INSERT INTO product_specs (product_id, key, value) SELECT 'P' || g, 'weight', (g % 97)::text FROM generate_series(1, ${N}) g`);
  await db.query("ANALYZE");
  const loadMs = performance.now() - t0;
  const cache = new MemoryCache({ maxEntries: 200_000 });
  const service = new ProductService(new ProductStore(db), new CachePolicy(cache, { hit: () => undefined, miss: () => undefined, error: () => undefined }, pino({ level: "silent" })), qrDecoder("auto", ""), { batchMax: 100 });
  await service.putRules("TYPE-1", [{ category: "scratch", threshold: 0.5 }]);

  const ids = Array.from({ length: SAMPLES }, (_, i) => 1 + ((i * 7919) % N));
  const qr = (g: number) => `IFC1;wo=WO${String(g).padStart(7, "0")};inst=IN${g}`;
  const qrCold: number[] = [];
  const qrCached: number[] = [];
  for (const g of ids) qrCold.push(await time(() => service.getByQr(qr(g))));
  for (const g of ids) qrCached.push(await time(() => service.getByQr(qr(g))));

  // Every query distinct (its date range or prefix differs), so a "cold" one never hits the cache.
  const day = (i: number) => new Date(Date.UTC(2025, 0, 1) + (i % 600) * 86_400_000).toISOString().slice(0, 10);
  const queries = Array.from({ length: SAMPLES }, (_, i) =>
    i % 2 === 0
      ? { product_type: `TYPE-${i % TYPES}`, machine_number: `M${(i * 3) % MACHINES}`, from: day(i), to: "2026-12-31", limit: 50 }
      : { product_type: `TYPE-${i % TYPES}`, work_order_prefix: `WO00${String(i % 1000).padStart(3, "0")}`, limit: 50 });
  const searchCold: number[] = [];
  const searchCached: number[] = [];
  for (const q of queries) searchCold.push(await time(() => service.search(q)));
  for (const q of queries) searchCached.push(await time(() => service.search(q)));

  const out = {
    products: N, samples: SAMPLES, load_ms: Math.round(loadMs), engine: "pglite (in memory)", cache: "memory LRU",
    get_by_qr: { cold: summary(qrCold), cached: summary(qrCached), mean_reduction_pct: +(100 * (1 - mean(qrCached) / mean(qrCold))).toFixed(1) },
    search: { cold: summary(searchCold), cached: summary(searchCached), mean_reduction_pct: +(100 * (1 - mean(searchCached) / mean(searchCold))).toFixed(1) },
  };
  console.log(JSON.stringify(out, null, 2));
  console.log(`results: ${await writeResults("products", m, out)}`);
  await db.close();
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
