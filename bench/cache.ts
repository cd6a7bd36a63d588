/**
 * The product cache (issue 16), on both engines:
 *  - raw get/set latency: in-process LRU vs Redis (its own redis-server on 127.0.0.1);
 *  - CachePolicy.read hit vs miss over a PGlite table of 100 000 products (generate_series):
 *    a get-by-QR (unique index) and a name search (LIKE, LIMIT 50: a scan), median, p99, mean,
 *    and the cache's share of the mean (1 - hit/miss: the documents claim an 80 % reduction).
 * A miss is a key never read before (get, query, add); a hit reads it again.
 *   npx tsx bench/cache.ts [ops=5000] [lookups=2000] [searches=100]   (--short: 500, 200, 20)
 */
import pino from "pino";
import { MemoryCache } from "../src/adapters/cache/memory-cache.js";
import { RedisCache } from "../src/adapters/cache/redis-cache.js";
import { PgliteDatabase } from "../src/adapters/db/pglite-database.js";
import { RedisConnection } from "../src/adapters/state/redis-connection.js";
import type { Cache } from "../src/ports/cache.js";
import { CachePolicy } from "../src/products/cache-policy.js";
import { CACHE_TTL_MS } from "../src/products/cache-ttl.js";
import { startRedis } from "../test/support/redis-server.js";
import { machine, numArg, writeResults } from "./lib/results.js";
import { median, pct, round } from "./lib/stats.js";

const ops = numArg(0, 5000, 500);
const lookups = numArg(1, 2000, 200);
const searches = numArg(2, 100, 20);
const ROWS = 100_000;
const m = machine();

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length;
const summary = (xs: number[]) => ({ p50_ms: round(median(xs), 3), p99_ms: round(pct(xs, 99), 3), mean_ms: round(mean(xs), 3) });

async function time(n: number, fn: (i: number) => Promise<unknown>): Promise<number[]> {
  const out: number[] = [];
  for (let i = 0; i < n; i++) {
    const t0 = performance.now();
    await fn(i);
    out.push(performance.now() - t0);
  }
  return out;
}

const counters = { hit: () => undefined, miss: () => undefined, error: () => undefined };

async function main(): Promise<void> {
  const redisServer = await startRedis();
  const conn = new RedisConnection({ url: redisServer.url });
  await conn.ready();
  const db = await PgliteDatabase.open();
  try {
    await db.query("CREATE TABLE bench_products (id TEXT PRIMARY KEY, qr TEXT NOT NULL UNIQUE, name TEXT NOT NULL, spec JSONB NOT NULL)");
    await db.query(
      `INSERT INTO bench_products SELECT 'P' || i, 'IFC1;wo=WO' || lpad(i::text, 6, '0'), 'product ' || (i % 997) || ' type ' || (i % 13),
         jsonb_build_object('length_mm', i % 500, 'tolerance', 0.05, 'material', 'SUS304') FROM generate_series(1, ${ROWS}) AS i`,
    );
    await db.query("ANALYZE bench_products");
    const byQr = async (qr: string) => (await db.query("SELECT * FROM bench_products WHERE qr = $1", [qr])).rows[0];
    const search = async (q: string) => (await db.query("SELECT id, name FROM bench_products WHERE name LIKE $1 ORDER BY id LIMIT 50", [q])).rows;

    const engines: [string, Cache][] = [
      ["memory", new MemoryCache({ maxEntries: 100_000 })],
      ["redis", new RedisCache({ redis: conn, keyPrefix: "bench:" })],
    ];
    const value = JSON.stringify({ id: "P1", qr: "IFC1;wo=WO000001", name: "product 1 type 1", spec: { length_mm: 1, tolerance: 0.05, material: "SUS304" } });
    const raw: Record<string, unknown>[] = [];
    const policy: Record<string, unknown>[] = [];
    for (const [engine, cache] of engines) {
      const set = await time(ops, (i) => cache.set(`raw:${i}`, value, CACHE_TTL_MS.product));
      const get = await time(ops, (i) => cache.get(`raw:${i}`));
      raw.push({ engine, set: summary(set), get: summary(get) });

      const p = new CachePolicy(cache, counters, pino({ level: "silent" }));
      const qr = (i: number) => `IFC1;wo=WO${String(1 + ((i * 7919) % ROWS)).padStart(6, "0")}`;
      const readQr = (i: number) => p.read("qr", `qr:${qr(i)}`, CACHE_TTL_MS.qr, () => byQr(qr(i)));
      const dbOnlyQr = await time(lookups, (i) => byQr(qr(i + lookups)));
      const qrMiss = await time(lookups, readQr);
      const qrHit = await time(lookups, readQr);
      const term = (i: number) => `product ${i % 997} type %`;
      const readSearch = (i: number) => p.read("search", `search:0:${term(i)}`, CACHE_TTL_MS.search, () => search(term(i)));
      const dbOnlySearch = await time(searches, (i) => search(term(i + searches)));
      const searchMiss = await time(searches, readSearch);
      const searchHit = await time(searches, readSearch);
      for (const [what, dbOnly, miss, hit] of [
        ["get-by-QR", dbOnlyQr, qrMiss, qrHit],
        ["search", dbOnlySearch, searchMiss, searchHit],
      ] as const) {
        policy.push({
          engine,
          query: what,
          database_only: summary([...dbOnly]),
          miss: summary([...miss]),
          hit: summary([...hit]),
          /** What the cache takes off the mean of a read: 1 - hit / database only. */
          reduction_of_mean_pct: round(100 * (1 - mean([...hit]) / mean([...dbOnly])), 1),
          /** What a miss costs over the database alone (get + add), share of the miss's mean. */
          miss_overhead_pct: round(100 * (1 - mean([...dbOnly]) / mean([...miss])), 1),
        });
      }
    }
    console.table(raw.map((r) => ({ engine: r.engine, ...Object.fromEntries(Object.entries(r).filter(([k]) => k !== "engine").flatMap(([k, v]) => Object.entries(v as object).map(([s, x]) => [`${k} ${s}`, x]))) })));
    console.table(
      policy.map((r) => ({
        engine: r.engine,
        query: r.query,
        "db p50": (r.database_only as { p50_ms: number }).p50_ms,
        "db p99": (r.database_only as { p99_ms: number }).p99_ms,
        "miss p50": (r.miss as { p50_ms: number }).p50_ms,
        "miss p99": (r.miss as { p99_ms: number }).p99_ms,
        "hit p50": (r.hit as { p50_ms: number }).p50_ms,
        "hit p99": (r.hit as { p99_ms: number }).p99_ms,
        "mean −%": r.reduction_of_mean_pct,
      })),
    );
    console.log(`wrote ${await writeResults("cache", m, { rows: ROWS, ops, lookups, searches, raw, policy })}`);
  } finally {
    await db.close();
    await conn.close();
    await redisServer.stop();
  }
}

void main();
