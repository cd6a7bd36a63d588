import type { Admin, ITopicConfig } from "kafkajs";
import type { Logger } from "pino";
import { AUDIT_TOPIC, deadLetterTopic, IMAGE_PROCESSING_TOPIC, PIPELINE_PROGRESS_TOPIC, STREAM_EVENTS_TOPIC, SYSTEM_METRICS_TOPIC, VIDEO_ANALYSIS_TOPIC } from "../../../ports/event-bus.js";

/** The topics a node serves by default (each with its `.dlq`). */
export const DEFAULT_TOPICS: readonly string[] = [STREAM_EVENTS_TOPIC, VIDEO_ANALYSIS_TOPIC, AUDIT_TOPIC, PIPELINE_PROGRESS_TOPIC, SYSTEM_METRICS_TOPIC, IMAGE_PROCESSING_TOPIC];

/** The design documents' partition counts; other topics take `defaultPartitions`. */
export const DOCUMENTED_PARTITIONS: Readonly<Record<string, number>> = { [PIPELINE_PROGRESS_TOPIC]: 4, [VIDEO_ANALYSIS_TOPIC]: 8 };

export interface TopicPlanOptions {
  topics: readonly string[];
  /** Per-topic partitions (over the documented ones). */
  partitions: Readonly<Record<string, number>>;
  defaultPartitions: number;
  /** Dead-letter topics are low-volume: few partitions. */
  deadLetterPartitions: number;
  replicationFactor: number;
}

/** Every topic the bus uses: the served ones and their dead-letter topics. */
export function servedTopics(topics: readonly string[]): string[] {
  return topics.flatMap((t) => [t, deadLetterTopic(t)]);
}

export function topicConfigs(opts: TopicPlanOptions, replicationFactor: number): ITopicConfig[] {
  const partitionsOf = (t: string): number => opts.partitions[t] ?? DOCUMENTED_PARTITIONS[t] ?? opts.defaultPartitions;
  return opts.topics.flatMap((t) => [
    { topic: t, numPartitions: partitionsOf(t), replicationFactor },
    { topic: deadLetterTopic(t), numPartitions: opts.partitions[deadLetterTopic(t)] ?? opts.deadLetterPartitions, replicationFactor },
  ]);
}

/**
 * Creates the served topics that do not exist yet. Replication is capped at the number of
 * brokers (a one-broker test cluster cannot hold 3 replicas), with a warning. Another node
 * creating the same topic at the same moment is fine: existing topics are left alone.
 */
export async function ensureTopics(admin: Admin, opts: TopicPlanOptions, log: Logger | undefined): Promise<string[]> {
  const { brokers } = await admin.describeCluster();
  let rf = opts.replicationFactor;
  if (rf > brokers.length) {
    log?.warn({ replicationFactor: rf, brokers: brokers.length }, "Kafka replication factor above the broker count: capped at the broker count");
    rf = brokers.length;
  }
  const existing = new Set(await admin.listTopics());
  const missing = topicConfigs(opts, rf).filter((c) => !existing.has(c.topic));
  if (missing.length === 0) return [];
  try {
    await admin.createTopics({ topics: missing, waitForLeaders: true });
  } catch (err) {
    // Lost a creation race with another node: fine if the topics are there now.
    const now = new Set(await admin.listTopics());
    if (missing.some((c) => !now.has(c.topic))) throw err;
  }
  log?.info({ topics: missing.map((c) => c.topic), replicationFactor: rf }, "Kafka topics created");
  return missing.map((c) => c.topic);
}
