/**
 * What the cluster's stream registry adds to a publish: WHIP POST → 201 (the answer read) with
 * IFC_STATE=redis (a claim in Redis before the local claim; Redis on loopback, from Debian)
 * against IFC_STATE=memory (the same claim in a Map). Two servers in this process, the same
 * werift publisher offer (video only), POSTs alternating between them so the machine's drift
 * hits both alike; each publisher DELETEs before the next.
 *   npx tsx bench/cluster-publish.ts [posts=40]   (--short: 5)
 */
import { pino } from "pino";
import { loadConfig, type Config } from "../src/config.js";
import { startServer, type Server } from "../src/server.js";
import { whipPublish } from "../test/helpers/whip-client.js";
import { startRedis } from "../test/support/redis-server.js";
import { machine, numArg, writeResults } from "./lib/results.js";
import { pct, round } from "./lib/stats.js";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";

const posts = numArg(0, 40, 5);
const m = machine();
const redis = await startRedis();
const logger = pino({ level: "warn" });
const dirs: string[] = [];
async function server(overrides: Partial<Config>): Promise<Server> {
  const dataDir = await mkdtemp(path.join(tmpdir(), "ifc-bench-cluster-"));
  dirs.push(dataDir);
  return startServer(loadConfig({}, { httpHost: "127.0.0.1", httpPort: 0, rtspPort: 0, grpcEnabled: false, aiEnabled: false, recordByDefault: false, restRateLimitPerMinute: 0, dataDir, ...overrides }), logger);
}
const modes: { name: "memory" | "redis"; server: Server; ms: number[] }[] = [
  { name: "memory", server: await server({ state: "memory" }), ms: [] },
  { name: "redis", server: await server({ state: "redis", redisUrl: redis.url, nodeId: "bench" }), ms: [] },
];
try {
  // One warm-up publish each (JIT, werift's first DTLS certificate), not counted.
  for (const mode of modes) await (await whipPublish(`${mode.server.url}/whip/warm`, { audio: false })).close();
  for (let i = 0; i < posts; i++) {
    for (const mode of i % 2 === 0 ? modes : [...modes].reverse()) {
      const pub = await whipPublish(`${mode.server.url}/whip/bench-${i}`, { audio: false });
      mode.ms.push(pub.timings.answerAt - pub.timings.postSentAt);
      await pub.close();
    }
  }
} finally {
  for (const mode of modes) await mode.server.close();
  await redis.stop();
  for (const d of dirs) await rm(d, { recursive: true, force: true });
}
const rows = modes.map((mode) => ({ state: mode.name, posts: mode.ms.length, medianMs: round(pct(mode.ms, 50)), p95Ms: round(pct(mode.ms, 95)), maxMs: round(Math.max(...mode.ms)) }));
const [mem, red] = rows;
const summary = { redisMinusMemoryMedianMs: round((red?.medianMs ?? 0) - (mem?.medianMs ?? 0)), redisOverMemoryMedian: round((red?.medianMs ?? 0) / (mem?.medianMs ?? 1), 2) };
console.table(rows);
console.log(summary);
console.log(await writeResults("cluster-publish", m, { posts, rows, summary }));
