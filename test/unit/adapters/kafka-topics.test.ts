import { describe, expect, it } from "vitest";
import { DEFAULT_TOPICS, servedTopics, topicConfigs } from "../../../src/adapters/events/kafka/topics.js";

describe("Kafka bus topic plan", () => {
  it("serves the six topics and their dead-letter topics by default", () => {
    expect(servedTopics(DEFAULT_TOPICS)).toEqual([
      "stream-events", "stream-events.dlq", "video-analysis-events", "video-analysis-events.dlq", "audit-events", "audit-events.dlq",
      "pipeline-progress", "pipeline-progress.dlq", "system-metrics", "system-metrics.dlq", "image-processing-requests", "image-processing-requests.dlq",
    ]);
  });

  it("uses the documents' partitions (progress 4, analysis 8), the default for the rest, and per-topic overrides", () => {
    const plan = topicConfigs({ topics: DEFAULT_TOPICS, partitions: { "audit-events": 2 }, defaultPartitions: 3, deadLetterPartitions: 1, replicationFactor: 3 }, 3);
    const by = new Map(plan.map((c) => [c.topic, c]));
    expect(by.get("pipeline-progress")?.numPartitions).toBe(4);
    expect(by.get("video-analysis-events")?.numPartitions).toBe(8);
    expect(by.get("stream-events")?.numPartitions).toBe(3);
    expect(by.get("audit-events")?.numPartitions).toBe(2);
    expect(by.get("stream-events.dlq")?.numPartitions).toBe(1);
    expect(plan.every((c) => c.replicationFactor === 3)).toBe(true);
  });
});
