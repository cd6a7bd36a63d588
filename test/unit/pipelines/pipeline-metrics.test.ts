import { describe, expect, it } from "vitest";
import { aggregatePipelineMetrics, percentile, timeStats, type ExecutionMetricsRow } from "../../../src/pipelines/pipeline-metrics.js";

const row = (status: string, ms: number | null, steps: [string, string, string, number | null][] = []): ExecutionMetricsRow => ({
  status,
  processing_time_ms: ms,
  steps: steps.map(([step_id, service, st, duration_ms]) => ({ step_id, service, status: st, duration_ms })),
});

describe("pipeline metrics", () => {
  it("nearest-rank p95 picks a real sample", () => {
    const hundred = Array.from({ length: 100 }, (_, i) => i + 1);
    expect(percentile(hundred, 95)).toBe(95);
    expect(percentile([7], 95)).toBe(7);
    expect(percentile([1, 2], 95)).toBe(2);
    expect(percentile([], 95)).toBeNull();
    expect(timeStats([30, 10, 20])).toEqual({ count: 3, avg_ms: 20, p95_ms: 30 });
    expect(timeStats([])).toEqual({ count: 0, avg_ms: null, p95_ms: null });
  });

  it("aggregates counts, durations, and per-step and per-service times", () => {
    const rows = [
      row("completed", 60, [["resize", "ResizeService", "completed", 10], ["detect", "AIDetectionService", "completed", 40], ["filter", "FilterService", "completed", 10]]),
      row("completed", 80, [["resize", "ResizeService", "completed", 20], ["detect", "AIDetectionService", "completed", 50], ["filter", "FilterService", "completed", 10]]),
      row("failed", 100, [["resize", "ResizeService", "completed", 30], ["detect", "AIDetectionService", "failed", 70], ["filter", "FilterService", "skipped", null]]),
      row("running", null, [["resize", "ResizeService", "running", null]]),
      row("kafka_queued", null),
    ];
    const m = aggregatePipelineMetrics(rows);
    expect(m.total_executions).toBe(5);
    expect(m.by_status).toEqual({ pending: 0, running: 1, completed: 2, failed: 1, cancelled: 0, kafka_queued: 1 });
    expect(m.success_rate).toBeCloseTo(2 / 3, 10);
    expect(m.duration).toEqual({ count: 3, avg_ms: 80, p95_ms: 100 });
    expect(m.steps).toEqual([
      { step_id: "resize", service: "ResizeService", failures: 0, count: 3, avg_ms: 20, p95_ms: 30 },
      { step_id: "detect", service: "AIDetectionService", failures: 1, count: 3, avg_ms: 160 / 3, p95_ms: 70 },
      { step_id: "filter", service: "FilterService", failures: 0, count: 2, avg_ms: 10, p95_ms: 10 },
    ]);
    expect(m.services.map((s) => [s.service, s.count, s.p95_ms])).toEqual([["ResizeService", 3, 30], ["AIDetectionService", 3, 70], ["FilterService", 2, 10]]);
  });

  it("has null figures before any execution finished", () => {
    const m = aggregatePipelineMetrics([]);
    expect(m).toMatchObject({ total_executions: 0, success_rate: null, duration: { count: 0, avg_ms: null, p95_ms: null }, steps: [], services: [] });
  });
});
