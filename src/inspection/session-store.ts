import { randomUUID } from "node:crypto";
import { Conflict, NotFound } from "../core/errors.js";
import type { Queryable } from "../ports/database.js";
import type { Detection } from "./ai-result.js";

export type Judgement = "OK" | "NG";
export type ResultSource = "ai" | "human" | "pipeline";

export interface InspectionSession {
  session_id: string;
  target_id: string;
  product_id: string | null;
  status: "in_progress" | "completed";
  overall_result: Judgement | null;
  inspector: string | null;
  device_id: string | null;
  notes: string;
  metadata: Record<string, unknown>;
  revision: number;
  started_at: string;
  completed_at: string | null;
  updated_at: string;
}

export interface InspectionResult {
  result_id: string;
  session_id: string;
  item_id: string | null;
  source: ResultSource;
  result: Judgement;
  confidence: number | null;
  detections: Detection[];
  defect_types: string[];
  processing_time_ms: number | null;
  pipeline_id: string | null;
  pipeline_version: string | null;
  execution_id: string | null;
  image_file_id: string | null;
  verifies_result_id: string | null;
  comment: string;
  created_by: string | null;
  created_at: string;
}

export interface NewResult {
  session_id: string;
  item_id: string | null;
  source: ResultSource;
  result: Judgement;
  confidence?: number | null;
  detections?: Detection[];
  defect_types?: string[];
  processing_time_ms?: number | null;
  pipeline_id?: string | null;
  pipeline_version?: string | null;
  execution_id?: string | null;
  image_file_id?: string | null;
  verifies_result_id?: string | null;
  comment?: string;
  created_by?: string | null;
  /** When it was judged (default: now); offline devices upload results judged earlier. */
  created_at?: string;
}

type SessionRow = Omit<InspectionSession, "started_at" | "completed_at" | "updated_at"> & { started_at: Date; completed_at: Date | null; updated_at: Date };
const session = (r: SessionRow): InspectionSession => ({ ...r, started_at: r.started_at.toISOString(), completed_at: r.completed_at?.toISOString() ?? null, updated_at: r.updated_at.toISOString() });
type ResultRow = Omit<InspectionResult, "created_at"> & { created_at: Date };
const result = (r: ResultRow): InspectionResult => ({ ...r, confidence: r.confidence === null ? null : Number(r.confidence), created_at: r.created_at.toISOString() });

/**
 * The final judgement of each (session, item): a person's verification overrides the AI for its
 * item; among judgements of the same kind the latest wins. Shared by completion, statistics and
 * the quality monitor's seed, so they can never disagree.
 */
export const finalOrder = (alias = ""): string => {
  const a = alias ? `${alias}.` : "";
  return `(${a}source = 'human') DESC, ${a}created_at DESC, ${a}result_id DESC`;
};

/** Inspection sessions (API design §6.1.2) and their judgements. */
export class SessionStore {
  constructor(private readonly db: Queryable) {}

  /** A client-given id (a device's offline session) is kept; the same id twice is a 409. */
  async create(s: { session_id?: string; target_id: string; product_id?: string | null; inspector?: string | null; device_id?: string | null; metadata?: Record<string, unknown> }): Promise<InspectionSession> {
    const target = await this.db.query("SELECT 1 FROM inspection_targets WHERE target_id = $1 AND deleted_at IS NULL", [s.target_id]);
    if (target.rowCount === 0) throw new NotFound("target-not-found", `no inspection target ${s.target_id}`, { target_id: s.target_id });
    const id = s.session_id ?? randomUUID();
    const r = await this.db.query<SessionRow>(
      `INSERT INTO inspection_sessions (session_id, target_id, product_id, inspector, device_id, metadata) VALUES ($1, $2, $3, $4, $5, $6)
       ON CONFLICT (session_id) DO NOTHING RETURNING *`,
      [id, s.target_id, s.product_id ?? null, s.inspector ?? null, s.device_id ?? null, JSON.stringify(s.metadata ?? {})],
    );
    if (!r.rows[0]) throw new Conflict("session-exists", `session ${id} exists`, { session_id: id });
    return session(r.rows[0]);
  }

  async get(id: string): Promise<InspectionSession> {
    const r = await this.db.query<SessionRow>("SELECT * FROM inspection_sessions WHERE session_id = $1", [id]);
    if (!r.rows[0]) throw new NotFound("session-not-found", `no inspection session ${id}`, { session_id: id });
    return session(r.rows[0]);
  }

  /** The session, refused with 409 once completed (its judgements are final). */
  async open(id: string): Promise<InspectionSession> {
    const s = await this.get(id);
    if (s.status === "completed") throw new Conflict("session-completed", `session ${id} is completed`, { session_id: id });
    return s;
  }

  /** Only the fields given change; notes, metadata and product may change after completion too. */
  async update(id: string, u: { notes?: string; metadata?: Record<string, unknown>; product_id?: string | null }): Promise<InspectionSession> {
    const r = await this.db.query<SessionRow>(
      `UPDATE inspection_sessions SET notes = COALESCE($2, notes), metadata = COALESCE($3::jsonb, metadata),
         product_id = CASE WHEN $4 THEN $5 ELSE product_id END, revision = revision + 1, updated_at = now()
       WHERE session_id = $1 RETURNING *`,
      [id, u.notes ?? null, u.metadata ? JSON.stringify(u.metadata) : null, u.product_id !== undefined, u.product_id ?? null],
    );
    if (!r.rows[0]) throw new NotFound("session-not-found", `no inspection session ${id}`, { session_id: id });
    return session(r.rows[0]);
  }

  /** Sets overall_result from the final judgements (NG if any item's is NG); twice is a 409. */
  async complete(id: string, at?: Date): Promise<InspectionSession> {
    const finals = await this.finalResults(id);
    const overall: Judgement = finals.some((f) => f.result === "NG") ? "NG" : "OK";
    const r = await this.db.query<SessionRow>(
      `UPDATE inspection_sessions SET status = 'completed', overall_result = $2, completed_at = COALESCE($3, now()), revision = revision + 1, updated_at = now()
       WHERE session_id = $1 AND status <> 'completed' RETURNING *`,
      [id, overall, at ?? null],
    );
    if (!r.rows[0]) {
      await this.get(id);
      throw new Conflict("session-completed", `session ${id} is already completed`, { session_id: id });
    }
    return session(r.rows[0]);
  }

  async addResult(n: NewResult): Promise<InspectionResult> {
    const r = await this.db.query<ResultRow>(
      `INSERT INTO inspection_results (result_id, session_id, item_id, source, result, confidence, detections, defect_types, processing_time_ms,
         pipeline_id, pipeline_version, execution_id, image_file_id, verifies_result_id, comment, created_by, created_at)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, COALESCE($17, now())) RETURNING *`,
      [
        `result-${randomUUID()}`, n.session_id, n.item_id, n.source, n.result, n.confidence ?? null, JSON.stringify(n.detections ?? []), JSON.stringify(n.defect_types ?? []),
        n.processing_time_ms ?? null, n.pipeline_id ?? null, n.pipeline_version ?? null, n.execution_id ?? null, n.image_file_id ?? null,
        n.verifies_result_id ?? null, n.comment ?? "", n.created_by ?? null, n.created_at ? new Date(n.created_at) : null,
      ],
    );
    return result(r.rows[0]!);
  }

  async getResult(id: string): Promise<InspectionResult> {
    const r = await this.db.query<ResultRow>("SELECT * FROM inspection_results WHERE result_id = $1", [id]);
    if (!r.rows[0]) throw new NotFound("result-not-found", `no inspection result ${id}`, { result_id: id });
    return result(r.rows[0]);
  }

  /** Every judgement of a session, oldest first (bounded by what one session can hold: its items × retries). */
  async results(sessionId: string, max = 1000): Promise<InspectionResult[]> {
    const r = await this.db.query<ResultRow>("SELECT * FROM inspection_results WHERE session_id = $1 ORDER BY created_at, result_id LIMIT $2", [sessionId, max]);
    return r.rows.map(result);
  }

  /** The final judgement of each item of the session. */
  async finalResults(sessionId: string): Promise<InspectionResult[]> {
    const r = await this.db.query<ResultRow>(
      `SELECT DISTINCT ON (COALESCE(item_id, '')) * FROM inspection_results WHERE session_id = $1 ORDER BY COALESCE(item_id, ''), ${finalOrder()}`,
      [sessionId],
    );
    return r.rows.map(result);
  }
}
