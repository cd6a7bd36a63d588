/**
 * Detections across the cluster, end to end: node A's AI feed publishes to the event bus
 * (`video-analysis-events`, as src/extractor/ai-feed.ts does), Kafka carries them, node B's
 * consumer hands them to its WebSocket fan-out, and a client of B's
 * `/ws/streams/{stream}/detections` receives them. Two real servers in this process
 * (IFC_EVENT_BUS=kafka, IFC_STATE=redis), one KRaft broker and one Redis on this machine.
 *  - paced: `rate` detections per second over 4 streams for `seconds` s: delivered share and
 *    latency publish → WebSocket message (p50/p95/max);
 *  - burst: `burst` detections at once: events per second until B's client has them all.
 *   npx tsx bench/cluster-events.ts [rates=100,500,2000] [seconds=5] [burst=20000]   (--short: 100; 2 s; 2000)
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { pino } from "pino";
import WebSocket from "ws";
import { loadConfig } from "../src/config.js";
import { VIDEO_ANALYSIS_TOPIC } from "../src/ports/event-bus.js";
import { startServer, type Server } from "../src/server.js";
import { startKafka } from "../test/support/kafka-broker.js";
import { startRedis } from "../test/support/redis-server.js";
import { waitFor } from "../test/support/wait-for.js";
import { listArg, machine, numArg, sleep, writeResults } from "./lib/results.js";
import { max, pct, round } from "./lib/stats.js";

const rates = listArg(0, [100, 500, 2000], [100]);
const seconds = numArg(1, 5, 2);
const burst = numArg(2, 20_000, 2000);
const STREAMS = ["ev-0", "ev-1", "ev-2", "ev-3"];

const m = machine();
const [broker, redis] = await Promise.all([startKafka(), startRedis()]);
const dirs: string[] = [];
const logger = pino({ level: "warn" });
async function node(id: string): Promise<Server> {
  const dataDir = await mkdtemp(path.join(tmpdir(), "ifc-bench-events-"));
  dirs.push(dataDir);
  return startServer(loadConfig({}, {
    httpHost: "127.0.0.1", httpPort: 0, rtspPort: 0, grpcEnabled: false, aiEnabled: false, restRateLimitPerMinute: 0, dataDir,
    nodeId: id, eventBus: "kafka", kafkaBrokers: broker.brokers, kafkaReplicationFactor: 1, kafkaQueueMaxEvents: Math.max(10_000, burst * 2), state: "redis", redisUrl: redis.url,
    wsMaxBufferedBytes: 64 * 1024 * 1024,
  }), logger);
}
const [a, b] = [await node("bench-a"), await node("bench-b")];

let received = 0;
let latencies: number[] = [];
const sockets = await Promise.all(STREAMS.map(async (stream) => {
  const ws = new WebSocket(`${b.url.replace("http", "ws")}/ws/streams/${stream}/detections`);
  await new Promise((resolve, reject) => ws.once("open", resolve).once("error", reject));
  ws.on("message", (data: Buffer) => {
    const msg = JSON.parse(data.toString()) as { sent_at?: number };
    received++;
    if (typeof msg.sent_at === "number") latencies.push(performance.timeOrigin + performance.now() - msg.sent_at);
  });
  return ws;
}));

let seq = 0;
const detection = (stream: string): void => {
  a.bus.publish({
    topic: VIDEO_ANALYSIS_TOPIC, key: stream,
    value: {
      type: "analysis", stream_id: stream, seq: seq++, sent_at: performance.timeOrigin + performance.now(),
      analysis_results: { detections: [{ class_name: "person", confidence: 0.91, bbox: { x: 120, y: 80, width: 200, height: 360 }, attributes: {} }] },
    },
  });
};

const paced: Record<string, unknown>[] = [];
const burstRow: Record<string, unknown> = {};
try {
  // B's consumer joined at start (startServer waits for it); one event warms the path up.
  detection(STREAMS[0] as string);
  await waitFor(() => received >= 1, { what: "the first detection on B", timeoutMs: 60_000 });
  for (const rate of rates) {
    received = 0;
    latencies = [];
    const total = rate * seconds;
    const tickMs = 10;
    const perTick = rate / (1000 / tickMs);
    const start = performance.now();
    let sent = 0;
    while (sent < total) {
      const due = Math.min(total, Math.floor(((performance.now() - start) / tickMs + 1) * perTick));
      while (sent < due) detection(STREAMS[sent++ % STREAMS.length] as string);
      await sleep(tickMs);
    }
    await waitFor(() => received >= total, { what: `${total} detections on B`, timeoutMs: 60_000 }).catch(() => undefined);
    paced.push({ rate, sent: total, delivered: received, p50Ms: round(pct(latencies, 50)), p95Ms: round(pct(latencies, 95)), maxMs: round(max(latencies)) });
  }
  received = 0;
  latencies = [];
  const t0 = performance.now();
  for (let i = 0; i < burst; i++) detection(STREAMS[i % STREAMS.length] as string);
  await waitFor(() => received >= burst, { what: `${burst} burst detections on B`, timeoutMs: 120_000 }).catch(() => undefined);
  const elapsed = (performance.now() - t0) / 1000;
  Object.assign(burstRow, { events: burst, delivered: received, seconds: round(elapsed, 2), eventsPerSecond: Math.round(received / elapsed), p50Ms: round(pct(latencies, 50)), p95Ms: round(pct(latencies, 95)) });
} finally {
  for (const ws of sockets) ws.close();
  await a.close();
  await b.close();
  await Promise.all([broker.stop(), redis.stop()]);
  for (const d of dirs) await rm(d, { recursive: true, force: true });
}
console.table(paced);
console.table([burstRow]);
console.log(await writeResults("cluster-events", m, { path: "A bus.publish → Kafka → B consumer → B WebSocket client", streams: STREAMS.length, seconds, paced, burst: burstRow }));
