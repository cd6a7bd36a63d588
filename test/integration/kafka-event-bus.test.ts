import { randomUUID } from "node:crypto";
import pino from "pino";
import { beforeAll } from "vitest";
import { KafkaEventBus } from "../../src/adapters/events/kafka/kafka-event-bus.js";
import { eventBusContract } from "../contract/event-bus.contract.js";
import { freePort } from "../support/free-port.js";
import { sharedKafka } from "../support/kafka-broker.js";

// The run-wide broker (test/global-setup.ts); each bus is a new node (its own consumer group) on fresh topics.
let brokers: string[] = [];
beforeAll(async () => {
  brokers = await sharedKafka();
});

const log = pino({ level: process.env.IFC_TEST_KAFKA_LOG_LEVEL ?? "silent" });

eventBusContract("Kafka", {
  async make(topics) {
    const bus = new KafkaEventBus({ brokers, nodeId: `contract-${randomUUID().slice(0, 8)}`, topics, defaultPartitions: 2, replicationFactor: 1, log, fetchMaxWaitMs: 200 });
    return { bus, ready: () => bus.ready(), close: () => bus.close() };
  },
  async makeStalled(topics, bound) {
    // Unable to deliver: no broker answers at its address (the outage test restarts a real one).
    const nowhere = `127.0.0.1:${await freePort()}`;
    const bus = new KafkaEventBus({ brokers: [nowhere], nodeId: "stalled", topics, maxQueuedEvents: bound, log, connectionTimeoutMs: 500, closeTimeoutMs: 500 });
    return { bus, bound, ready: () => bus.ready(), close: () => bus.close(), stall: () => ({ received: () => [] }) };
  },
});
