import type { Logger } from "pino";
import { InProcessEventBus } from "../adapters/events/in-process-event-bus.js";
import type { Config } from "../config.js";
import type { EventBus } from "../ports/event-bus.js";
import type { CloseStack } from "./close-stack.js";
import { nodeIdOf } from "./state.js";

export interface BuiltEvents {
  bus: EventBus;
  /** Readiness: with Kafka, this node's consumer is fetching. */
  readinessChecks: Record<string, () => Promise<void>>;
}

/** How long start-up waits for Kafka before going on (events queue meanwhile, bounded). */
const KAFKA_START_WAIT_MS = 20_000;

/** The in-process bus (IFC_EVENT_BUS=memory), or Kafka shared by the cluster (IFC_EVENT_BUS=kafka). */
export async function buildEvents(config: Config, logger: Logger, stack: CloseStack): Promise<BuiltEvents> {
  const log = logger.child({ component: "events" });
  if (config.eventBus === "memory") {
    const bus = new InProcessEventBus(log);
    stack.push("event bus", () => bus.close());
    return { bus, readinessChecks: {} };
  }
  // Loaded only for Kafka (kafkajs and its codecs: ~13 MiB resident).
  const { KafkaEventBus } = await import("../adapters/events/kafka/index.js");
  const bus = new KafkaEventBus({
    brokers: config.kafkaBrokers,
    nodeId: nodeIdOf(config),
    replicationFactor: config.kafkaReplicationFactor,
    defaultPartitions: config.kafkaPartitions,
    partitions: Object.fromEntries(config.kafkaTopicPartitions),
    maxQueuedEvents: config.kafkaQueueMaxEvents,
    log,
  });
  stack.push("event bus", () => bus.close());
  let fetching = false;
  void bus.ready().then(() => (fetching = true), () => undefined);
  // A node whose consumer is not fetching misses what others publish meanwhile (a new group
  // starts at the topics' ends): wait a while, then start anyway (Kafka may come later).
  await bus.ready(KAFKA_START_WAIT_MS).catch((err: unknown) => log.warn({ err }, "Kafka not ready at start: events queue until it is"));
  return {
    bus,
    readinessChecks: {
      kafka: async () => {
        if (!fetching) throw new Error(`the Kafka consumer is not fetching yet (brokers ${config.kafkaBrokers.join(",")})`);
      },
    },
  };
}
