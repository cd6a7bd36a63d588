/**
 * The Kafka event bus on a real broker (test/support/kafka-broker.ts, one KRaft node on this
 * machine): node A publishes, node B's handler receives (two buses, two consumer groups, as two
 * ingest nodes). Measures:
 *  - the broker's start time (format + start until it answers);
 *  - paced latency: one event every `paceMs`, publish() → B's handler (p50/p95/max);
 *  - throughput: `burst` events of ~300 bytes published at once, until B has them all
 *    (events/s end to end) and their latency p50/p95.
 *   npx tsx bench/kafka-bus.ts [paced=300] [paceMs=20] [burst=50000]   (--short: 50, 20, 5000)
 */
import { readFileSync } from "node:fs";
import { KafkaEventBus } from "../src/adapters/events/kafka/kafka-event-bus.js";
import { startKafka } from "../test/support/kafka-broker.js";
import { waitFor } from "../test/support/wait-for.js";
import { machine, numArg, sleep, writeResults } from "./lib/results.js";
import { max, pct, round } from "./lib/stats.js";

const paced = numArg(0, 300, 50);
const paceMs = numArg(1, 20, 20);
const burst = numArg(2, 50_000, 5000);
const TOPIC = "video-analysis-events";
const kafkaVersion = /^KAFKA_VERSION=(.*)$/m.exec(readFileSync(new URL("../scripts/versions.env", import.meta.url), "utf8"))?.[1] ?? null;

const m = machine();
const t0 = performance.now();
const broker = await startKafka();
const brokerStartMs = Math.round(performance.now() - t0);
const common = { brokers: broker.brokers, topics: [TOPIC], replicationFactor: 1, maxQueuedEvents: Math.max(10_000, burst) };
const a = new KafkaEventBus({ ...common, nodeId: "bench-a" });
const b = new KafkaEventBus({ ...common, nodeId: "bench-b" });
try {
  const lat: number[] = [];
  let got = 0;
  b.subscribe(TOPIC, (e) => {
    got++;
    lat.push(performance.now() + performance.timeOrigin - (e.value.t as number));
  });
  await Promise.all([a.ready(), b.ready()]);

  const detection = { type: "detection", boxes: [{ label: "person", score: 0.91, x: 0.1, y: 0.2, w: 0.3, h: 0.4 }], pad: "x".repeat(160) };
  for (let i = 0; i < paced; i++) {
    a.publish({ topic: TOPIC, key: `cam-${i % 8}`, value: { ...detection, seq: i, t: performance.now() + performance.timeOrigin } });
    await sleep(paceMs);
  }
  await waitFor(() => got >= paced, { timeoutMs: 60_000, what: "paced events" });
  const pacedLat = lat.splice(0);

  got = 0;
  const start = performance.now();
  for (let i = 0; i < burst; i++) a.publish({ topic: TOPIC, key: `cam-${i % 8}`, value: { ...detection, seq: i, t: performance.now() + performance.timeOrigin } });
  await waitFor(() => got >= burst, { timeoutMs: 300_000, what: "burst events" });
  const burstS = (performance.now() - start) / 1000;

  const result = {
    kafkaVersion,
    brokerStartMs,
    paced: { events: paced, paceMs, p50Ms: round(pct(pacedLat, 50)), p95Ms: round(pct(pacedLat, 95)), maxMs: round(max(pacedLat)) },
    burst: { events: burst, seconds: round(burstS, 2), eventsPerSecond: Math.round(burst / burstS), p50Ms: round(pct(lat, 50)), p95Ms: round(pct(lat, 95)) },
    statsA: a.stats(),
    statsB: b.stats(),
  };
  console.log(JSON.stringify(result, null, 2));
  console.log(await writeResults("kafka-bus", m, result));
} finally {
  await Promise.all([a.close(), b.close()]);
  await broker.stop();
}
