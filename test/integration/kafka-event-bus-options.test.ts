import { randomUUID } from "node:crypto";
import kafkajs from "kafkajs";
import pino from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { KafkaEventBus } from "../../src/adapters/events/kafka/kafka-event-bus.js";
import { deadLetterTopic, EVENT_SCHEMA_VERSION, type DeadLetter } from "../../src/ports/event-bus.js";
import { freePort } from "../support/free-port.js";
import { sharedKafka } from "../support/kafka-broker.js";
import { waitFor } from "../support/wait-for.js";

let brokers: string[] = [];
const lines: { msg: string; level: number; [k: string]: unknown }[] = [];
const log = pino({ level: "warn" }, { write: (s: string) => void lines.push(JSON.parse(s) as { msg: string; level: number }) });
const buses: KafkaEventBus[] = [];
const raw = () => new kafkajs.Kafka({ clientId: "ifc-test-raw", brokers, logLevel: kafkajs.logLevel.NOTHING });

beforeAll(async () => {
  brokers = await sharedKafka();
});
afterAll(async () => {
  await Promise.all(buses.map((b) => b.close()));
});

function bus(topics: string[], extra: Partial<ConstructorParameters<typeof KafkaEventBus>[0]> = {}): KafkaEventBus {
  const b = new KafkaEventBus({ brokers, nodeId: `opts-${randomUUID().slice(0, 8)}`, topics, defaultPartitions: 1, replicationFactor: 1, log, fetchMaxWaitMs: 200, ...extra });
  buses.push(b);
  return b;
}

describe("KafkaEventBus against a real broker", () => {
  it("creates missing topics with their partitions and caps replication at the broker count, with a warning", async () => {
    const t = `opts-topics-${randomUUID().slice(0, 8)}`;
    const b = bus([t], { partitions: { [t]: 4 }, replicationFactor: 3 });
    await b.ready();
    const admin = raw().admin();
    await admin.connect();
    const { topics } = await admin.fetchTopicMetadata({ topics: [t, deadLetterTopic(t)] });
    await admin.disconnect();
    const by = new Map(topics.map((m) => [m.name, m.partitions]));
    expect(by.get(t)).toHaveLength(4);
    expect(by.get(deadLetterTopic(t))).toHaveLength(1);
    expect(by.get(t)?.[0]?.replicas).toHaveLength(1);
    expect(lines.some((l) => /replication factor above the broker count/.test(l.msg) && l.replicationFactor === 3 && l.brokers === 1)).toBe(true);
  });

  it("writes JSON with schema_version and the node id, keyed by the event's key", async () => {
    const t = `opts-wire-${randomUUID().slice(0, 8)}`;
    const b = bus([t], { nodeId: "wire-node" });
    await b.ready();
    b.publish({ topic: t, key: "cam-9", value: { type: "published", stream: "cam-9" } });
    const consumer = raw().consumer({ groupId: `raw-${randomUUID()}`, maxWaitTimeInMs: 200 });
    await consumer.connect();
    await consumer.subscribe({ topic: t, fromBeginning: true });
    let seen: { key: string | undefined; value: Record<string, unknown> } | undefined;
    await consumer.run({ eachMessage: async ({ message }) => void (seen = { key: message.key?.toString(), value: JSON.parse(message.value?.toString() ?? "null") as Record<string, unknown> }) });
    await waitFor(() => seen !== undefined, { timeoutMs: 30_000, what: "the raw message" });
    await consumer.disconnect();
    expect(seen?.key).toBe("cam-9");
    expect(seen?.value).toMatchObject({ type: "published", stream: "cam-9", schema_version: EVENT_SCHEMA_VERSION, node_id: "wire-node" });
    expect(typeof seen?.value.produced_at).toBe("number");
  });

  it("dead-letters a message it cannot read and moves on", async () => {
    const t = `opts-junk-${randomUUID().slice(0, 8)}`;
    const b = bus([t]);
    const letters: DeadLetter[] = [];
    const ok: unknown[] = [];
    b.subscribe(deadLetterTopic(t), (e) => void letters.push(e.value as DeadLetter));
    b.subscribe(t, (e) => void ok.push(e.value));
    await b.ready();
    const producer = raw().producer({ createPartitioner: kafkajs.Partitioners.DefaultPartitioner });
    await producer.connect();
    await producer.send({ topic: t, messages: [{ key: "cam-1", value: "not json" }] });
    await producer.disconnect();
    b.publish({ topic: t, key: "cam-1", value: { after: true } });
    await waitFor(() => letters.length === 1 && ok.length >= 1, { timeoutMs: 30_000, what: "the dead letter and the next event" });
    expect(letters[0]).toMatchObject({ topic: t, key: "cam-1", value: { raw: "not json" }, error: expect.stringMatching(/not JSON/) as unknown });
    expect(b.stats().deadLettered).toBe(1);
  });

  it("a node that was down gets, when it comes back, what was published after its first start", async () => {
    const t = `opts-resume-${randomUUID().slice(0, 8)}`;
    const nodeId = `resume-${randomUUID().slice(0, 8)}`;
    const first = bus([t], { nodeId });
    await first.ready();
    await first.close(); // consumed nothing: only its start position is committed
    const other = bus([t]);
    await other.ready();
    for (let i = 0; i < 5; i++) other.publish({ topic: t, key: "cam-1", value: { seq: i } });
    await waitFor(() => other.stats().queued === 0, { timeoutMs: 30_000, what: "events sent" });
    const again = bus([t], { nodeId });
    const got: number[] = [];
    again.subscribe(t, (e) => void got.push((e.value as { seq: number }).seq));
    await waitFor(() => new Set(got).size === 5, { timeoutMs: 30_000, what: "events published while the node was down" });
    expect([...new Set(got)]).toEqual([0, 1, 2, 3, 4]);
  });

  it("throws on subscribe() of a topic outside its set, and counts and logs a publish to one", async () => {
    const t = `opts-set-${randomUUID().slice(0, 8)}`;
    const b = bus([t]);
    expect(() => b.subscribe("elsewhere", () => undefined)).toThrow(/not served.*option topics/);
    b.publish({ topic: "elsewhere", key: "k", value: {} });
    b.publish({ topic: "elsewhere", key: "k", value: {} });
    expect(b.stats()).toMatchObject({ published: 2, dropped: 2, queued: 0 });
    expect(lines.filter((l) => /does not serve/.test(l.msg) && l.topic === "elsewhere")).toHaveLength(1);
  });

  it("ready(timeoutMs) rejects, and close() gives up delivering after closeTimeoutMs and counts what was left as dropped", async () => {
    const nowhere = `127.0.0.1:${await freePort()}`;
    const b = new KafkaEventBus({ brokers: [nowhere], nodeId: "closing", topics: ["t"], log, connectionTimeoutMs: 300, closeTimeoutMs: 800 });
    for (let i = 0; i < 5; i++) b.publish({ topic: "t", key: "k", value: { i } });
    await expect(b.ready(300)).rejects.toThrow(new RegExp(`not ready within 300 ms \\(brokers ${nowhere}\\)`));
    const t0 = Date.now();
    await b.close();
    const took = Date.now() - t0;
    expect(took).toBeGreaterThanOrEqual(700);
    expect(took).toBeLessThan(10_000);
    expect(b.stats()).toMatchObject({ published: 5, dropped: 5, queued: 0 });
    expect(lines.some((l) => /closed with events it could not deliver/.test(l.msg) && l.left === 5)).toBe(true);
  });
});
