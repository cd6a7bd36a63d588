/** The Kafka EventBus: the only entry the composition imports (everything kafkajs-specific stays in this folder). */
export { KafkaEventBus, type KafkaEventBusOptions } from "./kafka-event-bus.js";
export { DEFAULT_TOPICS, DOCUMENTED_PARTITIONS } from "./topics.js";
