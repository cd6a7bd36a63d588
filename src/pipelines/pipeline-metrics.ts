/**
 * Performance insights of one pipeline (GET /pipelines/{id}/metrics), aggregated from the
 * execution rows the caller read from its database. Pure: no I/O, no clock.
 */

export interface StepMetricsRow {
  step_id: string;
  service: string;
  status: string;
  /** null while the step has not finished (or never started). */
  duration_ms: number | null;
}

export interface ExecutionMetricsRow {
  status: string;
  /** null while the execution has not finished. */
  processing_time_ms: number | null;
  steps: StepMetricsRow[];
}

export interface TimeStats {
  /** Samples the figures are over. */
  count: number;
  avg_ms: number | null;
  p95_ms: number | null;
}

export interface PipelineMetrics {
  total_executions: number;
  /** Executions by status (every status seen, plus the documents' five at 0 when absent). */
  by_status: Record<string, number>;
  /** completed / (completed + failed); null before any finished. */
  success_rate: number | null;
  /** Over executions that finished with a processing time. */
  duration: TimeStats;
  /** Per step id, over that step's finished runs; `failures` counts its failed ones. */
  steps: (TimeStats & { step_id: string; service: string; failures: number })[];
  /** Per service, over every finished step that called it. */
  services: (TimeStats & { service: string })[];
}

const STATUSES = ["pending", "running", "completed", "failed", "cancelled"];

/** Nearest-rank percentile of ascending `sorted` (p in (0, 100]); the value of a real sample. */
export function percentile(sorted: readonly number[], p: number): number | null {
  if (sorted.length === 0) return null;
  const rank = Math.ceil((p / 100) * sorted.length);
  return sorted[Math.min(sorted.length, Math.max(1, rank)) - 1] as number;
}

export function timeStats(samples: readonly number[]): TimeStats {
  const sorted = samples.filter((v) => Number.isFinite(v)).sort((a, b) => a - b);
  if (sorted.length === 0) return { count: 0, avg_ms: null, p95_ms: null };
  const sum = sorted.reduce((a, b) => a + b, 0);
  return { count: sorted.length, avg_ms: sum / sorted.length, p95_ms: percentile(sorted, 95) };
}

const finished = (v: number | null): v is number => v !== null && Number.isFinite(v);

export function aggregatePipelineMetrics(rows: readonly ExecutionMetricsRow[]): PipelineMetrics {
  const byStatus: Record<string, number> = Object.fromEntries(STATUSES.map((s) => [s, 0]));
  const durations: number[] = [];
  const steps = new Map<string, { service: string; samples: number[]; failures: number }>();
  const services = new Map<string, number[]>();
  for (const row of rows) {
    byStatus[row.status] = (byStatus[row.status] ?? 0) + 1;
    if (finished(row.processing_time_ms)) durations.push(row.processing_time_ms);
    for (const st of row.steps) {
      const acc = steps.get(st.step_id) ?? { service: st.service, samples: [], failures: 0 };
      steps.set(st.step_id, acc);
      if (st.status === "failed") acc.failures++;
      if (!finished(st.duration_ms)) continue;
      acc.samples.push(st.duration_ms);
      const svc = services.get(st.service) ?? [];
      services.set(st.service, svc);
      svc.push(st.duration_ms);
    }
  }
  const completed = byStatus.completed ?? 0;
  const failed = byStatus.failed ?? 0;
  return {
    total_executions: rows.length,
    by_status: byStatus,
    success_rate: completed + failed === 0 ? null : completed / (completed + failed),
    duration: timeStats(durations),
    steps: [...steps].map(([step_id, a]) => ({ step_id, service: a.service, failures: a.failures, ...timeStats(a.samples) })),
    services: [...services].map(([service, samples]) => ({ service, ...timeStats(samples) })),
  };
}
