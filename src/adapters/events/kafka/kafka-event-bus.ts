import kafkajs, { type Admin, type Consumer, type EachMessagePayload, type Kafka, type Message, type Producer, type TopicMessages } from "kafkajs";
import type { Logger } from "pino";
import { deadLetterTopic, type BusEvent, type DeadLetter, type EventBus, type EventBusStats, type EventHandler } from "../../../ports/event-bus.js";
import { decodeMessage, encodeEvent } from "./envelope.js";
import { kafkaLogLevel, pinoLogCreator } from "./log-creator.js";
import { registerLz4Codec } from "./lz4-codec.js";
import { Outbox } from "./outbox.js";
import { DEFAULT_TOPICS, ensureTopics, servedTopics } from "./topics.js";

const { CompressionTypes, Partitioners } = kafkajs;

export interface KafkaEventBusOptions {
  /** Bootstrap brokers, `host:port`. */
  brokers: string[];
  /** This node's id: the consumer group is `ifc-node-<nodeId>` (every node sees every node's events). */
  nodeId: string;
  /** Kafka client id (default `ifc-<nodeId>`). */
  clientId?: string;
  /** Topics served (published and consumed), each with its `.dlq` (default: the five of ports/event-bus). */
  topics?: readonly string[];
  /** Partitions per topic; pipeline-progress 4 and video-analysis-events 8 unless given here. */
  partitions?: Readonly<Record<string, number>>;
  /** Partitions of the other topics (default 3). */
  defaultPartitions?: number;
  /** Partitions of a dead-letter topic (default 1). */
  deadLetterPartitions?: number;
  /** Replicas of a created topic (default 3, the production shape; capped at the broker count with a warning). */
  replicationFactor?: number;
  /** Bound of the in-order queue before the producer (default 10 000); the overflow is counted as dropped. */
  maxQueuedEvents?: number;
  /** Bytes of message data per produce request (default 16 KB, the design's batch size). */
  batchBytes?: number;
  /** Events per produce request at most (default 500). */
  maxBatchEvents?: number;
  /** Produce/admin request timeout (default 30 s). */
  requestTimeoutMs?: number;
  /** TCP connect timeout (default 3 s). */
  connectionTimeoutMs?: number;
  /** kafkajs retries of one request (default 3), starting at `retryInitialMs` (default 300). */
  retries?: number;
  retryInitialMs?: number;
  /** Wait before the queue is tried again after a failed send (doubles up to `sendBackoffMaxMs`; defaults 500 ms and 5 s). */
  sendBackoffMs?: number;
  sendBackoffMaxMs?: number;
  /** Consumer: bytes per fetch (default 1 MB), session timeout (30 s), heartbeat (3 s), longest idle fetch wait (500 ms). */
  fetchMaxBytes?: number;
  sessionTimeoutMs?: number;
  heartbeatIntervalMs?: number;
  fetchMaxWaitMs?: number;
  /** close(): how long it may spend delivering what is queued (default 10 s); what is left is counted as dropped. */
  closeTimeoutMs?: number;
  log?: Logger;
  /** Clock for the envelope's `produced_at` and dead letters' `failedAt`. */
  now?: () => number;
}

interface Outgoing {
  topic: string;
  key: string;
  value: string;
  /** Called once the broker acknowledged it (or it was dropped): dead letters wait for it. */
  done?: () => void;
}

/**
 * The EventBus on Kafka (kafkajs; everything kafkajs-specific stays in this folder).
 *
 * - publish() only queues: a bounded in-order queue that one sender drains with sendBatch
 *   (idempotent producer, acks from all in-sync replicas, LZ4, ≤ `batchBytes` per request). While
 *   the broker is unreachable the queue waits and is retried in order; beyond
 *   `maxQueuedEvents` new events are dropped, counted and logged once per episode.
 * - The topic set is fixed at construction (created when missing, before the consumer
 *   subscribes): the per-node consumer group subscribes to all of them at start, so subscribe()
 *   only adds a local handler and works at any time, but a topic outside the set throws.
 * - Each consumed message goes to this node's handlers of its topic; the offset is committed
 *   after they settled (at least once). A handler that throws or rejects has the event sent to
 *   `<topic>.dlq` with the error, and consumption moves on.
 * - A node's group starts at the end of each topic as of the node's first start (committed
 *   then, so a consumer restart never skips ahead): earlier events are not replayed; after a
 *   restart it resumes from its committed offsets. ready() tells when the consumer is fetching.
 */
export class KafkaEventBus implements EventBus {
  private readonly kafka: Kafka;
  private readonly log: Logger | undefined;
  private readonly now: () => number;
  private readonly served: Set<string>;
  private readonly outbox: Outbox<Outgoing>;
  private readonly handlers = new Map<string, Set<EventHandler>>();
  private readonly counts = { published: 0, delivered: 0, failed: 0, deadLettered: 0, dropped: 0 };
  private readonly o: Required<Omit<KafkaEventBusOptions, "log" | "now" | "clientId" | "partitions">> & Pick<KafkaEventBusOptions, "partitions">;

  private admin: Admin | undefined;
  private producer: Producer | undefined;
  private consumer: Consumer | undefined;
  private setup: Promise<void>;
  private readyPromise: Promise<void>;
  private markReady!: () => void;
  private pumping = false;
  private pumpScheduled = false;
  private closed = false;
  /** Cancels the sender's back-off wait (close()). */
  private wake: (() => void) | undefined;
  private backoffMs: number;
  private dropEpisode = 0;
  private outage = false;
  private readonly unservedLogged = new Set<string>();

  constructor(opts: KafkaEventBusOptions) {
    registerLz4Codec();
    this.log = opts.log?.child({ component: "kafka-event-bus" });
    this.now = opts.now ?? Date.now;
    this.o = {
      brokers: opts.brokers,
      nodeId: opts.nodeId,
      topics: opts.topics ?? DEFAULT_TOPICS,
      partitions: opts.partitions,
      defaultPartitions: opts.defaultPartitions ?? 3,
      deadLetterPartitions: opts.deadLetterPartitions ?? 1,
      replicationFactor: opts.replicationFactor ?? 3,
      maxQueuedEvents: opts.maxQueuedEvents ?? 10_000,
      batchBytes: opts.batchBytes ?? 16 * 1024,
      maxBatchEvents: opts.maxBatchEvents ?? 500,
      requestTimeoutMs: opts.requestTimeoutMs ?? 30_000,
      connectionTimeoutMs: opts.connectionTimeoutMs ?? 3000,
      retries: opts.retries ?? 3,
      retryInitialMs: opts.retryInitialMs ?? 300,
      sendBackoffMs: opts.sendBackoffMs ?? 500,
      sendBackoffMaxMs: opts.sendBackoffMaxMs ?? 5000,
      fetchMaxBytes: opts.fetchMaxBytes ?? 1024 * 1024,
      sessionTimeoutMs: opts.sessionTimeoutMs ?? 30_000,
      heartbeatIntervalMs: opts.heartbeatIntervalMs ?? 3000,
      fetchMaxWaitMs: opts.fetchMaxWaitMs ?? 500,
      closeTimeoutMs: opts.closeTimeoutMs ?? 10_000,
    };
    if (this.o.brokers.length === 0) throw new Error("KafkaEventBus needs at least one broker");
    this.served = new Set(servedTopics(this.o.topics));
    this.outbox = new Outbox(this.o.maxQueuedEvents);
    this.backoffMs = this.o.sendBackoffMs;
    this.kafka = new kafkajs.Kafka({
      clientId: opts.clientId ?? `ifc-${opts.nodeId}`,
      brokers: this.o.brokers,
      connectionTimeout: this.o.connectionTimeoutMs,
      requestTimeout: this.o.requestTimeoutMs,
      retry: { retries: this.o.retries, initialRetryTime: this.o.retryInitialMs },
      ...(opts.log ? { logLevel: kafkaLogLevel(opts.log), logCreator: pinoLogCreator(opts.log) } : { logLevel: kafkajs.logLevel.NOTHING }),
    });
    this.readyPromise = new Promise<void>((resolve) => (this.markReady = resolve));
    this.setup = this.start();
    // Failures are retried inside start(); this only keeps a final one from being unhandled.
    this.setup.catch(() => undefined);
  }

  /**
   * Resolves when the topics exist and this node's consumer is fetching (events published after
   * it reach this node's handlers). Meanwhile the bus already queues; with `timeoutMs` it rejects
   * when Kafka is not there in time (the bus keeps trying).
   */
  ready(timeoutMs?: number): Promise<void> {
    if (timeoutMs === undefined) return this.readyPromise;
    let timer: NodeJS.Timeout | undefined;
    const late = new Promise<never>((_, reject) => {
      timer = setTimeout(() => reject(new Error(`Kafka event bus not ready within ${timeoutMs} ms (brokers ${this.o.brokers.join(",")})`)), timeoutMs);
    });
    return Promise.race([this.readyPromise, late]).finally(() => clearTimeout(timer));
  }

  stats(): EventBusStats {
    return { ...this.counts, queued: this.outbox.size };
  }

  publish(event: BusEvent): void {
    if (this.closed) return;
    this.counts.published++;
    if (!this.served.has(event.topic)) {
      // Not created and not consumed by this bus: a wiring mistake, counted and logged once per topic.
      this.counts.dropped++;
      if (!this.unservedLogged.has(event.topic)) {
        this.unservedLogged.add(event.topic);
        this.log?.error({ topic: event.topic, served: [...this.served] }, "event for a topic this Kafka bus does not serve: dropped");
      }
      return;
    }
    this.enqueue({ topic: event.topic, key: event.key, value: encodeEvent(event, this.o.nodeId, this.now()) });
  }

  subscribe(topic: string, handler: EventHandler): () => void {
    if (!this.served.has(topic)) {
      throw new Error(`KafkaEventBus: topic "${topic}" is not served; its consumer subscribes at start to the fixed set ${[...this.served].join(", ")} (option topics)`);
    }
    let set = this.handlers.get(topic);
    if (!set) this.handlers.set(topic, (set = new Set()));
    set.add(handler);
    return () => {
      set.delete(handler);
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    const deadline = this.now() + this.o.closeTimeoutMs;
    // The consumer first: a handler still running may add a dead letter to the queue.
    await withTimeout(this.consumer?.disconnect(), this.o.closeTimeoutMs).catch((err: unknown) => this.log?.warn({ err }, "Kafka consumer disconnect failed"));
    await this.flush(deadline);
    const left = this.outbox.size;
    if (left > 0) {
      this.counts.dropped += left;
      this.log?.warn({ left, closeTimeoutMs: this.o.closeTimeoutMs }, "Kafka bus closed with events it could not deliver in time: dropped");
      this.finish(this.outbox.drain());
    }
    this.wake?.();
    await Promise.allSettled([this.producer?.disconnect(), this.admin?.disconnect()]);
  }

  // --- sending -------------------------------------------------------------------------------

  private enqueue(item: Outgoing): boolean {
    if (!this.outbox.push(item)) {
      this.drop({ maxQueuedEvents: this.o.maxQueuedEvents, topic: item.topic });
      item.done?.();
      return false;
    }
    if (!this.pumpScheduled) {
      this.pumpScheduled = true;
      // Next turn of the loop: events published together go out in one request.
      setImmediate(() => {
        this.pumpScheduled = false;
        void this.pump();
      });
    }
    return true;
  }

  /** Counts a dropped event; logs once per episode (until the broker takes events again). */
  private drop(fields: Record<string, unknown>): void {
    this.counts.dropped++;
    if (this.dropEpisode++ === 0) this.log?.warn({ ...fields, dropped: this.counts.dropped }, "Kafka event queue full: dropping new events until the broker takes them");
  }

  private async pump(): Promise<void> {
    if (this.pumping) return;
    this.pumping = true;
    try {
      while (this.outbox.size > 0) {
        const batch = this.outbox.take(this.o.batchBytes, this.o.maxBatchEvents, (m) => m.value.length + m.key.length);
        try {
          const producer = await this.connectedProducer();
          await producer.sendBatch({ acks: -1, compression: CompressionTypes.LZ4, timeout: this.o.requestTimeoutMs, topicMessages: byTopic(batch) });
          this.outbox.ack();
          this.finish(batch);
          this.backoffMs = this.o.sendBackoffMs;
          if (this.outage || this.dropEpisode > 0) {
            this.log?.info({ queued: this.outbox.size, droppedInEpisode: this.dropEpisode }, "Kafka takes events again");
            this.outage = false;
            this.dropEpisode = 0;
          }
        } catch (err) {
          if (!this.outage) {
            this.outage = true;
            this.log?.warn({ err, queued: this.outbox.size }, "Kafka unreachable: events wait in the queue");
          }
          // A fresh producer after a failure: its idempotence state (sequence numbers) may not survive a broker restart.
          await this.resetProducer();
          if (this.closed && this.closingDeadlinePassed()) break;
          await this.backoff();
        }
      }
    } finally {
      this.pumping = false;
    }
  }

  private closeDeadline = Infinity;

  private closingDeadlinePassed(): boolean {
    return this.now() >= this.closeDeadline;
  }

  private async flush(deadline: number): Promise<void> {
    this.closeDeadline = deadline;
    while (this.outbox.size > 0 && this.now() < deadline) {
      if (!this.pumping) void this.pump();
      await new Promise<void>((resolve) => {
        const t = setTimeout(resolve, 50);
        t.unref();
      });
    }
  }

  private finish(items: Outgoing[]): void {
    for (const m of items) m.done?.();
  }

  private backoff(): Promise<void> {
    const ms = this.backoffMs;
    this.backoffMs = Math.min(this.backoffMs * 2, this.o.sendBackoffMaxMs);
    return new Promise<void>((resolve) => {
      const t = setTimeout(() => {
        this.wake = undefined;
        resolve();
      }, ms);
      this.wake = () => {
        clearTimeout(t);
        this.wake = undefined;
        resolve();
      };
    });
  }

  private async connectedProducer(): Promise<Producer> {
    await this.setup;
    if (!this.producer) {
      const p = this.kafka.producer({
        idempotent: true,
        // Idempotence keeps order per partition only with one request in flight.
        maxInFlightRequests: 1,
        createPartitioner: Partitioners.DefaultPartitioner,
        allowAutoTopicCreation: false,
        // The design's 3 retries (kafkajs warns that this limits its exactly-once: the bus promises at least once).
        retry: { retries: this.o.retries, initialRetryTime: this.o.retryInitialMs },
      });
      await p.connect();
      this.producer = p;
    }
    return this.producer;
  }

  private async resetProducer(): Promise<void> {
    const p = this.producer;
    this.producer = undefined;
    await p?.disconnect().catch(() => undefined);
  }

  // --- start: topics, then the consumer --------------------------------------------------------

  private async start(): Promise<void> {
    let wait = this.o.sendBackoffMs;
    while (!this.closed) {
      try {
        this.admin ??= this.kafka.admin();
        await this.admin.connect();
        await ensureTopics(
          this.admin,
          {
            topics: this.o.topics,
            partitions: this.o.partitions ?? {},
            defaultPartitions: this.o.defaultPartitions,
            deadLetterPartitions: this.o.deadLetterPartitions,
            replicationFactor: this.o.replicationFactor,
          },
          this.log,
        );
        const seeks = await this.startOffsets(this.admin);
        await this.admin.disconnect();
        void this.runConsumer(seeks);
        return;
      } catch (err) {
        this.log?.warn({ err, brokers: this.o.brokers }, "Kafka not reachable at start: retrying");
        await this.admin?.disconnect().catch(() => undefined);
        await new Promise<void>((resolve) => {
          const t = setTimeout(resolve, wait);
          this.wake = () => {
            clearTimeout(t);
            resolve();
          };
        });
        wait = Math.min(wait * 2, this.o.sendBackoffMaxMs);
      }
    }
    throw new Error("KafkaEventBus closed before it could start");
  }

  private get groupId(): string {
    return `ifc-node-${this.o.nodeId}`;
  }

  /**
   * Where this node's group has no committed offset yet: the partitions' current ends. The
   * consumer seeks there (kafkajs commits a seek), so the node's position is pinned at its first
   * start; otherwise kafkajs commits only a "latest" marker, and a consumer that restarts
   * (broker outage) before it consumed anything would skip what was produced meanwhile.
   */
  private async startOffsets(admin: Admin): Promise<{ topic: string; partition: number; offset: string }[]> {
    const out: { topic: string; partition: number; offset: string }[] = [];
    for (const { topic, partitions } of await admin.fetchOffsets({ groupId: this.groupId, topics: [...this.served] })) {
      const unset = partitions.filter((p) => Number(p.offset) < 0);
      if (unset.length === 0) continue;
      const ends = new Map((await admin.fetchTopicOffsets(topic)).map((e) => [e.partition, e.high]));
      for (const p of unset) out.push({ topic, partition: p.partition, offset: ends.get(p.partition) ?? "0" });
    }
    return out;
  }

  private async runConsumer(seeks: { topic: string; partition: number; offset: string }[] = []): Promise<void> {
    if (this.closed) return;
    const consumer = this.kafka.consumer({
      groupId: this.groupId,
      sessionTimeout: this.o.sessionTimeoutMs,
      heartbeatInterval: this.o.heartbeatIntervalMs,
      maxBytes: this.o.fetchMaxBytes,
      maxWaitTimeInMs: this.o.fetchMaxWaitMs,
      allowAutoTopicCreation: false,
    });
    this.consumer = consumer;
    let joined = false;
    consumer.on(consumer.events.GROUP_JOIN, () => (joined = true));
    // The first fetch after joining has resolved the partitions' starting offsets.
    consumer.on(consumer.events.FETCH, () => {
      if (joined) this.markReady();
    });
    consumer.on(consumer.events.CRASH, (e) => {
      this.log?.warn({ err: e.payload.error, restart: e.payload.restart }, "Kafka consumer crashed");
      // kafkajs restarts it itself when the error is retriable; otherwise a fresh one.
      if (!e.payload.restart && !this.closed) void consumer.disconnect().finally(() => void this.runConsumer());
    });
    try {
      await consumer.connect();
      await consumer.subscribe({ topics: [...this.served], fromBeginning: false });
      await consumer.run({ eachMessage: (p) => this.onMessage(p) });
      // Applied (and committed) by the first fetch after the group join.
      for (const seek of seeks) consumer.seek(seek);
    } catch (err) {
      if (this.closed) return;
      this.log?.warn({ err }, "Kafka consumer could not start: retrying");
      await consumer.disconnect().catch(() => undefined);
      await new Promise<void>((resolve) => setTimeout(resolve, this.o.sendBackoffMaxMs).unref());
      void this.runConsumer();
    }
  }

  // --- consuming -------------------------------------------------------------------------------

  private async onMessage({ topic, message }: EachMessagePayload): Promise<void> {
    const decoded = decodeMessage(topic, message.key, message.value);
    if (!decoded.ok) {
      const key = message.key?.toString("utf8") ?? "";
      await this.deadLetter({ topic, key, value: { raw: message.value?.toString("utf8") ?? null } }, decoded.error);
      return;
    }
    const set = this.handlers.get(topic);
    if (!set || set.size === 0) return;
    await Promise.all([...set].map((h) => this.call(h, decoded.event)));
  }

  private async call(handler: EventHandler, event: BusEvent): Promise<void> {
    try {
      const result: unknown = handler(event);
      if (isThenable(result)) await result;
      this.counts.delivered++;
    } catch (err) {
      this.counts.failed++;
      await this.deadLetter(event, err instanceof Error ? err.message : String(err));
    }
  }

  /** Sends the event with its error to `<topic>.dlq` and waits until the broker has it, so the offset moves on only then. */
  private deadLetter(event: BusEvent, error: string): Promise<void> {
    if (event.topic.endsWith(".dlq")) {
      // No dead letters of dead letters: a failing DLQ handler is logged only.
      this.log?.warn({ topic: event.topic, key: event.key, error }, "dead-letter handler failed");
      return Promise.resolve();
    }
    this.log?.warn({ topic: event.topic, key: event.key, error }, "event handler failed: event sent to the dead-letter topic");
    const letter: DeadLetter = { topic: event.topic, key: event.key, value: event.value, error, failedAt: this.now() };
    const dlq: BusEvent = { topic: deadLetterTopic(event.topic), key: event.key, value: letter };
    return new Promise<void>((resolve) => {
      if (this.enqueue({ topic: dlq.topic, key: dlq.key, value: encodeEvent(dlq, this.o.nodeId, this.now()), done: resolve })) this.counts.deadLettered++;
    });
  }
}

function byTopic(batch: Outgoing[]): TopicMessages[] {
  const topics = new Map<string, Message[]>();
  for (const m of batch) {
    let list = topics.get(m.topic);
    if (!list) topics.set(m.topic, (list = []));
    list.push({ key: m.key, value: m.value });
  }
  return [...topics].map(([topic, messages]) => ({ topic, messages }));
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return typeof v === "object" && v !== null && typeof (v as { then?: unknown }).then === "function";
}

async function withTimeout(p: Promise<void> | undefined, ms: number): Promise<void> {
  if (!p) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([p, new Promise<void>((_, reject) => (timer = setTimeout(() => reject(new Error(`timed out after ${ms} ms`)), ms)))]).finally(() => clearTimeout(timer));
}
