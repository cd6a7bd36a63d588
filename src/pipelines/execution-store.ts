import { NotFound } from "../core/errors.js";
import type { Database } from "../ports/database.js";

export type ExecutionStatus = "pending" | "running" | "completed" | "failed" | "cancelled";
export type ExecutionRoute = "direct_grpc" | "kafka_fallback";
export type Priority = "low" | "normal" | "high";
export const PRIORITY_RANK: Readonly<Record<Priority, number>> = { low: 0, normal: 1, high: 2 };

export interface ExecutionError {
  code: string;
  message: string;
  failed_step?: string;
  retry_after?: number;
}

export interface ExecutionRecord {
  execution_id: string;
  pipeline_id: string;
  pipeline_version: string;
  status: ExecutionStatus;
  execution_mode: ExecutionRoute;
  priority: Priority;
  parameters: Record<string, unknown>;
  input_file_ids: string[];
  output_file_ids: string[];
  progress: number;
  error: ExecutionError | null;
  attempts: number;
  node_id: string | null;
  submitted_by: string | null;
  created_at: string;
  started_at: string | null;
  finished_at: string | null;
  processing_time_ms: number | null;
}

export type StepStatus = "pending" | "running" | "completed" | "failed" | "skipped" | "cancelled";

export interface StepRecord {
  input_index: number;
  step_id: string;
  service: string;
  method: string;
  status: StepStatus;
  attempts: number;
  instance: string | null;
  started_at: string | null;
  finished_at: string | null;
  duration_ms: number | null;
  result: Record<string, unknown> | null;
  error: { code: string; message: string } | null;
}

export interface ExecutionFilter {
  pipeline_id?: string;
  status?: ExecutionStatus;
  submitted_by?: string;
  /** created_at bounds, epoch ms. */
  fromMs?: number;
  toMs?: number;
}

/** A row as the database returns it: the priority as its rank, times as Dates. */
type Row = Omit<ExecutionRecord, "priority" | "created_at" | "started_at" | "finished_at"> & {
  priority: number;
  created_at: Date;
  started_at: Date | null;
  finished_at: Date | null;
};

const RANK_PRIORITY: readonly Priority[] = ["low", "normal", "high"];
const iso = (d: Date | null): string | null => (d ? d.toISOString() : null);

function toRecord(r: Row): ExecutionRecord {
  return {
    ...r,
    priority: RANK_PRIORITY[r.priority] ?? "normal",
    progress: Number(r.progress),
    created_at: r.created_at.toISOString(),
    started_at: iso(r.started_at),
    finished_at: iso(r.finished_at),
  };
}

/** Executions and their steps: the durable half of the executor (what a restart resumes from). */
export class ExecutionStore {
  constructor(private readonly db: Database) {}

  async insert(e: Pick<ExecutionRecord, "execution_id" | "pipeline_id" | "pipeline_version" | "execution_mode" | "priority" | "parameters" | "input_file_ids" | "node_id" | "submitted_by">): Promise<ExecutionRecord> {
    const r = await this.db.query<Row>(
      `INSERT INTO executions (execution_id, pipeline_id, pipeline_version, status, execution_mode, priority, parameters, input_file_ids, node_id, submitted_by)
       VALUES ($1, $2, $3, 'pending', $4, $5, $6, $7, $8, $9) RETURNING *`,
      [e.execution_id, e.pipeline_id, e.pipeline_version, e.execution_mode, PRIORITY_RANK[e.priority], JSON.stringify(e.parameters), JSON.stringify(e.input_file_ids), e.node_id, e.submitted_by],
    );
    return toRecord(r.rows[0]!);
  }

  async get(id: string): Promise<ExecutionRecord> {
    const r = await this.db.query<Row>("SELECT * FROM executions WHERE execution_id = $1", [id]);
    if (!r.rows[0]) throw new NotFound("execution-not-found", `no execution ${id}`, { execution_id: id });
    return toRecord(r.rows[0]);
  }

  async steps(id: string): Promise<StepRecord[]> {
    const r = await this.db.query<Omit<StepRecord, "started_at" | "finished_at"> & { started_at: Date | null; finished_at: Date | null }>(
      "SELECT input_index, step_id, service, method, status, attempts, instance, started_at, finished_at, duration_ms, result, error FROM execution_steps WHERE execution_id = $1 ORDER BY input_index, started_at NULLS LAST, step_id",
      [id],
    );
    return r.rows.map((s) => ({ ...s, started_at: iso(s.started_at), finished_at: iso(s.finished_at) }));
  }

  /** Newest first, `limit` at a time after the opaque cursor. */
  async list(filter: ExecutionFilter, page: { limit: number; cursor?: string }): Promise<{ items: ExecutionRecord[]; next_cursor: string | null; total: number }> {
    const where: string[] = [];
    const params: unknown[] = [];
    const add = (sql: string, v: unknown): void => {
      params.push(v);
      where.push(sql.replace("?", `$${params.length}`));
    };
    if (filter.pipeline_id) add("pipeline_id = ?", filter.pipeline_id);
    if (filter.status) add("status = ?", filter.status);
    if (filter.submitted_by) add("submitted_by = ?", filter.submitted_by);
    if (filter.fromMs !== undefined) add("created_at >= ?", new Date(filter.fromMs));
    if (filter.toMs !== undefined) add("created_at < ?", new Date(filter.toMs));
    const countSql = `SELECT count(*) AS n FROM executions${where.length ? ` WHERE ${where.join(" AND ")}` : ""}`;
    const total = (await this.db.query<{ n: number }>(countSql, params)).rows[0]?.n ?? 0;
    const after = page.cursor ? decodeCursor(page.cursor) : undefined;
    if (after) {
      params.push(new Date(after.at), after.id);
      where.push(`(created_at, execution_id) < ($${params.length - 1}, $${params.length})`);
    }
    params.push(page.limit + 1);
    const rows = (await this.db.query<Row>(`SELECT * FROM executions${where.length ? ` WHERE ${where.join(" AND ")}` : ""} ORDER BY created_at DESC, execution_id DESC LIMIT $${params.length}`, params)).rows;
    const items = rows.slice(0, page.limit);
    const last = items[items.length - 1];
    return { items: items.map(toRecord), next_cursor: rows.length > page.limit && last ? encodeCursor(last.created_at.getTime(), last.execution_id) : null, total };
  }

  /** Executions this node accepted and did not finish: what a restart must resume or fail. */
  async unfinished(nodeId: string): Promise<ExecutionRecord[]> {
    const r = await this.db.query<Row>(
      "SELECT * FROM executions WHERE status IN ('pending', 'running') AND (node_id = $1 OR node_id IS NULL) ORDER BY priority DESC, created_at",
      [nodeId],
    );
    return r.rows.map(toRecord);
  }

  async markRunning(id: string): Promise<ExecutionRecord> {
    const r = await this.db.query<Row>(
      "UPDATE executions SET status = 'running', attempts = attempts + 1, started_at = now(), progress = 0 WHERE execution_id = $1 AND status = 'pending' RETURNING *",
      [id],
    );
    if (!r.rows[0]) throw new NotFound("execution-not-pending", `execution ${id} is not pending`, { execution_id: id });
    return toRecord(r.rows[0]);
  }

  /** Back to pending (a restart retries it, or the fallback queue takes it). */
  async requeue(id: string, mode: ExecutionRoute): Promise<void> {
    await this.db.query("UPDATE executions SET status = 'pending', execution_mode = $2, progress = 0 WHERE execution_id = $1 AND status IN ('pending', 'running')", [id, mode]);
  }

  async setProgress(id: string, progress: number): Promise<void> {
    await this.db.query("UPDATE executions SET progress = $2 WHERE execution_id = $1", [id, progress]);
  }

  /** Ends an execution once: a second finish (a cancel racing completion) changes nothing and returns false. */
  async finish(id: string, end: { status: "completed" | "failed" | "cancelled"; error?: ExecutionError; output_file_ids?: string[]; processing_time_ms?: number }): Promise<boolean> {
    const r = await this.db.query(
      `UPDATE executions SET status = $2, error = $3, output_file_ids = $4, processing_time_ms = $5, finished_at = now(), progress = CASE WHEN $2 = 'completed' THEN 100 ELSE progress END
        WHERE execution_id = $1 AND status IN ('pending', 'running')`,
      [id, end.status, end.error ? JSON.stringify(end.error) : null, JSON.stringify(end.output_file_ids ?? []), end.processing_time_ms ?? null],
    );
    return r.rowCount > 0;
  }

  async putStep(executionId: string, s: StepRecord): Promise<void> {
    await this.db.query(
      `INSERT INTO execution_steps (execution_id, input_index, step_id, service, method, status, attempts, instance, started_at, finished_at, duration_ms, result, error)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)
       ON CONFLICT (execution_id, input_index, step_id) DO UPDATE SET status = EXCLUDED.status, attempts = EXCLUDED.attempts, instance = EXCLUDED.instance,
         started_at = EXCLUDED.started_at, finished_at = EXCLUDED.finished_at, duration_ms = EXCLUDED.duration_ms, result = EXCLUDED.result, error = EXCLUDED.error`,
      [
        executionId, s.input_index, s.step_id, s.service, s.method, s.status, s.attempts, s.instance,
        s.started_at ? new Date(s.started_at) : null, s.finished_at ? new Date(s.finished_at) : null, s.duration_ms,
        s.result ? JSON.stringify(s.result) : null, s.error ? JSON.stringify(s.error) : null,
      ],
    );
  }

  /** Finished executions of a pipeline with their steps, newest first (for metrics). */
  async history(pipelineId: string, limit: number): Promise<{ execution: ExecutionRecord; steps: StepRecord[] }[]> {
    const execs = (await this.db.query<Row>("SELECT * FROM executions WHERE pipeline_id = $1 AND finished_at IS NOT NULL ORDER BY finished_at DESC LIMIT $2", [pipelineId, limit])).rows;
    if (execs.length === 0) return [];
    const ids = execs.map((e) => e.execution_id);
    const steps = (
      await this.db.query<StepRecord & { execution_id: string; started_at: Date | null; finished_at: Date | null }>(
        "SELECT * FROM execution_steps WHERE execution_id = ANY($1::text[])",
        [ids],
      )
    ).rows;
    const byExec = new Map<string, StepRecord[]>();
    for (const s of steps) {
      const { execution_id, ...rest } = s;
      const list = byExec.get(execution_id) ?? [];
      list.push({ ...rest, started_at: iso(s.started_at), finished_at: iso(s.finished_at) });
      byExec.set(execution_id, list);
    }
    return execs.map((e) => ({ execution: toRecord(e), steps: byExec.get(e.execution_id) ?? [] }));
  }
}

function encodeCursor(atMs: number, id: string): string {
  return Buffer.from(JSON.stringify([atMs, id]), "utf8").toString("base64url");
}

function decodeCursor(cursor: string): { at: number; id: string } | undefined {
  try {
    const v: unknown = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
    if (Array.isArray(v) && typeof v[0] === "number" && typeof v[1] === "string") return { at: v[0], id: v[1] };
  } catch {
    // An unreadable cursor reads as none: the caller gets the first page, not an error.
  }
  return undefined;
}
