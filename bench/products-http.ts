/**
 * The product master at the documents' scale: 100 000 products imported into the server's
 * metadata database (PGlite, the embedded default), then over HTTP from this process:
 *  - get-by-QR and search latency, cold (each request a distinct key: a cache miss answered by the
 *    database) and cached (the same keys again: hits), median and p99, and the cache's share of
 *    the mean — the documents claim an 80 % reduction;
 *  - requests per second at 1000 concurrent clients (autocannon, cached get-by-QR and search mixed).
 * Both cache engines: the in-process LRU (IFC_CACHE=memory) and Redis (IFC_CACHE=redis, a
 * Debian redis-server started for the run). The server runs in its own process.
 *   npx tsx bench/products-http.ts [products=100000] [samples=400] [seconds=10] [--only=memory|redis] (--short: 10 000, 100, 3 s)
 */
import { rm } from "node:fs/promises";
import autocannon from "autocannon";
import { startRedis, type RedisServer } from "../test/support/redis-server.js";
import { spawnServer, type ServerProcess } from "../test/support/server-harness.js";
import { cpuMs } from "./lib/proc.js";
import { machine, numArg, writeResults } from "./lib/results.js";
import { median, pct, round } from "./lib/stats.js";

const PRODUCTS = numArg(0, 100_000, 10_000);
const SAMPLES = numArg(1, 400, 100);
const SECONDS = numArg(2, 10, 3);
const CONNECTIONS = 1000;
const IMPORT_CHUNK = 20_000;
const TYPES = 20;
const MACHINES = 50;
const only = process.argv.find((a) => a.startsWith("--only="))?.slice("--only=".length);
const engines = (["memory", "redis"] as const).filter((e) => !only || e === only);
const m = machine();

const wo = (i: number): string => `WO${String(i).padStart(7, "0")}`;
const type = (i: number): string => `TYPE-${i % TYPES}`;
const mach = (i: number): string => `MACH-${String(i % MACHINES).padStart(3, "0")}`;
const date = (i: number): string => new Date(Date.UTC(2026, 0, 1) + (i % 330) * 86_400_000).toISOString().slice(0, 10);
const qr = (i: number): string => `IFC1;wo=${wo(i)};inst=INST-${i};type=${type(i)};mach=${mach(i)};date=${date(i)};seq=${i % 1000}`;

/** Rows [from, to) as CSV with its header. */
function csv(from: number, to: number): string {
  const rows = ["product_id,work_order_id,instruction_id,product_type,machine_number,production_date,monthly_sequence,model,version,batch,status"];
  for (let i = from; i < to; i++) rows.push(`P${i},${wo(i)},INST-${i},${type(i)},${mach(i)},${date(i)},${i % 1000},M-${i % 7},v1,B-${i % 97},active`);
  return rows.join("\n") + "\n";
}

/** Distinct search queries: type × machine × a month (cold), each asked once, then again (cached). */
function searchUrl(k: number): string {
  const month = 1 + (k % 11);
  const from = `2026-${String(month).padStart(2, "0")}-01`;
  const to = `2026-${String(month).padStart(2, "0")}-28`;
  return `/api/v1/products?product_type=${type(k)}&machine_number=${mach(k * 7)}&from=${from}&to=${to}&limit=50`;
}

async function timed(url: string): Promise<number> {
  const t0 = performance.now();
  const res = await fetch(url);
  if (res.status !== 200) throw new Error(`${url} answered ${res.status}: ${(await res.text()).slice(0, 300)}`);
  await res.arrayBuffer();
  return performance.now() - t0;
}

interface Latency {
  median_ms: number | null;
  p99_ms: number | null;
  mean_ms: number | null;
}
const summary = (xs: number[]): Latency => ({ median_ms: round(median(xs), 2), p99_ms: round(pct(xs, 99), 2), mean_ms: round(xs.reduce((a, b) => a + b, 0) / Math.max(1, xs.length), 2) });
const share = (cold: Latency, cached: Latency): number | null => (cold.mean_ms && cached.mean_ms !== null ? round((1 - cached.mean_ms / cold.mean_ms) * 100, 1) : null);

async function coldAndCached(base: string, urls: string[]): Promise<{ cold: Latency; cached: Latency; cache_share_of_mean_pct: number | null }> {
  const cold: number[] = [];
  for (const u of urls) cold.push(await timed(base + u));
  const cached: number[] = [];
  for (const u of urls) cached.push(await timed(base + u));
  const c = summary(cold);
  const h = summary(cached);
  return { cold: c, cached: h, cache_share_of_mean_pct: share(c, h) };
}

async function run(engine: "memory" | "redis", redis: RedisServer | undefined): Promise<Record<string, unknown>> {
  let server: ServerProcess | undefined;
  try {
    server = await spawnServer({
      IFC_REST_RATE_LIMIT_PER_MINUTE: "0",
      IFC_HTTP_MAX_CONNECTIONS_PER_CLIENT: String(CONNECTIONS + 64),
      IFC_CACHE: engine,
      ...(redis ? { IFC_REDIS_URL: redis.url } : {}),
      IFC_PIPELINE_EMBEDDED_SERVICES: "off",
      IFC_PRODUCTS_IMPORT_MAX_ROWS: String(PRODUCTS),
    });
    // In files of IMPORT_CHUNK rows: each request must arrive within IFC_HTTP_REQUEST_TIMEOUT_MS
    // (30 s), and the import writes as it reads, so one 100 000-row body can outlast it.
    let t0 = performance.now();
    for (let from = 0; from < PRODUCTS; from += IMPORT_CHUNK) {
      const to = Math.min(PRODUCTS, from + IMPORT_CHUNK);
      const imp = await fetch(`${server.url}/api/v1/products/import`, { method: "POST", headers: { "content-type": "text/csv" }, body: csv(from, to) });
      const impBody = (await imp.json()) as { imported?: number; failed?: unknown[] };
      if (imp.status !== 200 || impBody.imported !== to - from) throw new Error(`import answered ${imp.status}: ${JSON.stringify(impBody).slice(0, 300)}`);
    }
    const importMs = performance.now() - t0;

    // Warm the connection and the query plans on keys the samples never use.
    for (let i = 0; i < 20; i++) await timed(`${server.url}/api/v1/products/by-qr?payload=${encodeURIComponent(qr(PRODUCTS - 1 - i))}`);
    const step = Math.floor(PRODUCTS / SAMPLES);
    const qrUrls = Array.from({ length: SAMPLES }, (_, k) => `/api/v1/products/by-qr?payload=${encodeURIComponent(qr(k * step))}`);
    const byQr = await coldAndCached(server.url, qrUrls);
    const searchUrls = Array.from({ length: Math.min(SAMPLES, TYPES * MACHINES) }, (_, k) => searchUrl(k));
    const search = await coldAndCached(server.url, searchUrls);

    // 1000 concurrent clients on cached keys: the steady state of a busy line.
    const requests = [...qrUrls.slice(0, 100), ...searchUrls.slice(0, 100)].map((path) => ({ method: "GET" as const, path }));
    const pid = server.child.pid as number;
    const cpu0 = cpuMs(pid);
    t0 = performance.now();
    const r = await autocannon({ url: server.url, connections: CONNECTIONS, duration: SECONDS, requests });
    const wallMs = performance.now() - t0;
    const serverCpuMs = cpuMs(pid) - cpu0;
    return {
      engine,
      products: PRODUCTS,
      import_s: round(importMs / 1000, 2),
      import_rows_per_s: Math.round(PRODUCTS / (importMs / 1000)),
      get_by_qr: byQr,
      search,
      concurrent: {
        connections: CONNECTIONS,
        rps: round(r.requests.average, 0),
        p50_ms: r.latency.p50,
        p99_ms: r.latency.p99,
        errors: r.errors,
        timeouts: r.timeouts,
        non2xx: r.non2xx,
        server_cpu_pct: round((serverCpuMs / wallMs) * 100, 0),
      },
    };
  } finally {
    if (server) {
      server.child.kill("SIGTERM");
      await server.exited;
      await rm(server.dataDir, { recursive: true, force: true });
    }
  }
}

const results: Record<string, unknown>[] = [];
let redis: RedisServer | undefined;
try {
  for (const engine of engines) {
    if (engine === "redis") redis = await startRedis();
    results.push(await run(engine, redis));
  }
} finally {
  await redis?.stop();
}
console.table(results.map((r) => {
  const q = r.get_by_qr as { cold: Latency; cached: Latency; cache_share_of_mean_pct: number };
  const s = r.search as { cold: Latency; cached: Latency; cache_share_of_mean_pct: number };
  const c = r.concurrent as { rps: number; p99_ms: number; non2xx: number; errors: number };
  return {
    engine: r.engine,
    "qr cold p50/p99 ms": `${q.cold.median_ms}/${q.cold.p99_ms}`,
    "qr cached p50/p99 ms": `${q.cached.median_ms}/${q.cached.p99_ms}`,
    "qr cache share %": q.cache_share_of_mean_pct,
    "search cold p50/p99 ms": `${s.cold.median_ms}/${s.cold.p99_ms}`,
    "search cached p50/p99 ms": `${s.cached.median_ms}/${s.cached.p99_ms}`,
    "search cache share %": s.cache_share_of_mean_pct,
    "rps @1000": c.rps,
    "p99 @1000 ms": c.p99_ms,
    "errors/non2xx": `${c.errors}/${c.non2xx}`,
  };
}));
console.log(`wrote ${await writeResults("products-http", m, { runs: results })}`);
