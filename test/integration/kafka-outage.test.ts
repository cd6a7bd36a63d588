import pino from "pino";
import { afterAll, beforeAll, expect, it } from "vitest";
import { KafkaEventBus } from "../../src/adapters/events/kafka/kafka-event-bus.js";
import { startKafka, type KafkaBroker } from "../support/kafka-broker.js";
import { waitFor } from "../support/wait-for.js";

// A broker of its own: this test stops and restarts it while events keep coming.
const log = pino({ level: process.env.IFC_TEST_KAFKA_LOG_LEVEL ?? "silent" });
const TOPIC = "stream-events";
const STREAMS = ["cam-1", "cam-2", "cam-3", "cam-4"];
const SMALL_TOPIC = "system-metrics";

let broker: KafkaBroker;
let bus: KafkaEventBus | undefined;
let small: KafkaEventBus | undefined;
let startMs = 0;

beforeAll(async () => {
  const t0 = Date.now();
  broker = await startKafka();
  startMs = Date.now() - t0;
});

afterAll(async () => {
  await Promise.all([bus?.close(), small?.close()]);
  await broker?.stop();
});

it("delivers every event published while the broker restarts, in per-stream order, dropping none", async () => {
  // A restarted broker keeps the group's old member until its session times out, and kafkajs
  // rejoins as a new member: the consumer resumes after sessionTimeoutMs (30 s by default, 6 s
  // here: the broker's minimum).
  const opts = { brokers: broker.brokers, defaultPartitions: 2, replicationFactor: 1, log, sendBackoffMaxMs: 1000, fetchMaxWaitMs: 200, sessionTimeoutMs: 6000, heartbeatIntervalMs: 1000 };
  // A bound well above what ~400 events/s pile up during even a slow restart: none may be dropped.
  bus = new KafkaEventBus({ ...opts, nodeId: "outage", topics: [TOPIC], maxQueuedEvents: 100_000 });
  const b = bus;
  // A second node with a small queue: its bound is reached while the broker is down.
  const BOUND = 50;
  small = new KafkaEventBus({ ...opts, nodeId: "outage-small", topics: [SMALL_TOPIC], maxQueuedEvents: BOUND });
  const s = small;
  const smallGot: number[] = [];
  s.subscribe(SMALL_TOPIC, (e) => void smallGot.push((e.value as { seq: number }).seq));
  const received = new Map<string, number[]>(STREAMS.map((s) => [s, []]));
  const latencies: number[] = [];
  b.subscribe(TOPIC, (e) => {
    const v = e.value as { seq: number; t: number };
    received.get(e.key)?.push(v.seq);
    latencies.push(Date.now() - v.t);
  });
  await Promise.all([b.ready(), s.ready()]);

  const published = new Map<string, number>(STREAMS.map((s) => [s, 0]));
  const total = (): number => [...published.values()].reduce((a, n) => a + n, 0);
  const distinct = (): number => [...received.values()].reduce((a, l) => a + new Set(l).size, 0);
  // A steady publisher: one event per stream every 10 ms, as lifecycle and detection events come.
  const timer = setInterval(() => {
    for (const s of STREAMS) {
      const seq = published.get(s) ?? 0;
      b.publish({ topic: TOPIC, key: s, value: { type: "stats", stream: s, seq, t: Date.now() } });
      published.set(s, seq + 1);
    }
  }, 10);
  try {
    await waitFor(() => distinct() >= 200, { timeoutMs: 30_000, what: "events flowing before the outage" });
    const steady = [...latencies].sort((x, y) => x - y);
    const median = steady[Math.floor(steady.length / 2)] ?? NaN;

    let queuedWhileDown = 0;
    const tDown = Date.now();
    await broker.restart(async () => {
      // While the broker is away, events pile up in the bounded queue (none dropped).
      await waitFor(() => b.stats().queued >= 300, { timeoutMs: 30_000, what: "events queued while the broker is down" });
      queuedWhileDown = b.stats().queued;
      // At the small queue's edge: BOUND held, every one beyond counted as dropped.
      for (let i = 0; i < BOUND + 20; i++) s.publish({ topic: SMALL_TOPIC, key: "node-x", value: { seq: i } });
      expect(s.stats()).toMatchObject({ published: BOUND + 20, queued: BOUND, dropped: 20 });
    });
    const publishedAtReturn = total();
    await waitFor(() => distinct() >= publishedAtReturn + 200, { timeoutMs: 90_000, what: "events flowing after the broker returned" });
    const recoveryMs = Date.now() - tDown;
    clearInterval(timer);

    const sent = total();
    await waitFor(() => distinct() === sent, { timeoutMs: 60_000, what: `all ${sent} events delivered` });
    for (const s of STREAMS) {
      const n = published.get(s) ?? 0;
      // Exactly what was published, each at least once, first sightings in publish order.
      expect([...new Set(received.get(s))]).toEqual(Array.from({ length: n }, (_, i) => i));
    }
    // The small node's held events arrive after the outage, in order; the 20 beyond its bound never were queued.
    await waitFor(() => new Set(smallGot).size === BOUND, { timeoutMs: 60_000, what: "the small queue's events" });
    expect([...new Set(smallGot)]).toEqual(Array.from({ length: BOUND }, (_, i) => i));
    expect(s.stats().dropped).toBe(20);
    const stats = b.stats();
    expect(stats.dropped).toBe(0);
    expect(stats.published).toBe(sent);
    expect(queuedWhileDown).toBeGreaterThanOrEqual(300);
    await waitFor(() => b.stats().queued === 0, { what: "queue empty" });
    console.log(
      `kafka outage: broker start ${startMs} ms; steady publish→handler median ${median} ms (n=${steady.length}); ` +
        `${sent} events, ${queuedWhileDown} queued while down, back flowing ${recoveryMs} ms after the stop; duplicates ${[...received.values()].reduce((a, l) => a + l.length, 0) - sent}`,
    );
  } finally {
    clearInterval(timer);
  }
});
