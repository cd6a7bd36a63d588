import type { Queryable } from "../ports/database.js";
import { decodeCursor, encodeCursor } from "../core/keyset-cursor.js";
import type { Product } from "./product-fields.js";

/** What a product is linked to (product_links.kind). Inspections link through inspection_sessions.product_id. */
export const LINK_KINDS = ["recording", "clip", "execution", "file"] as const;
export type LinkKind = (typeof LINK_KINDS)[number];

/** How a QR code names a product: the work order, plus whichever of the others the code carries. */
export interface ProductKey {
  work_order_id: string;
  instruction_id?: string;
  machine_number?: string;
  monthly_sequence?: number;
}

export interface LinkRow {
  product_id: string;
  kind: LinkKind;
  ref_id: string;
  stream: string | null;
  /** Epoch ms. */
  first_seen_at: number;
  last_seen_at: number;
  detail: Record<string, unknown>;
}

/** A product as the trace reads it: the master's own shape. */
export type ProductRow = Product;

export interface SessionRow {
  session_id: string;
  target_id: string;
  status: string;
  overall_result: string | null;
  inspector: string | null;
  device_id: string | null;
  started_at: string;
  completed_at: string | null;
}

export interface ResultRow {
  result_id: string;
  session_id: string;
  item_id: string | null;
  source: string;
  result: string;
  confidence: number | null;
  defect_types: unknown[];
  pipeline_id: string | null;
  pipeline_version: string | null;
  execution_id: string | null;
  image_file_id: string | null;
  created_at: string;
}

export interface FileRow {
  file_id: string;
  filename: string;
  content_type: string;
  size_bytes: number;
  execution_id: string | null;
  created_at: string;
}

export interface ExecutionRow {
  execution_id: string;
  pipeline_id: string;
  pipeline_version: string;
  status: string;
  created_at: string;
  finished_at: string | null;
}

export interface VideoFilter {
  work_order_id?: string;
  work_order_prefix?: string;
  instruction_id?: string;
  product_type?: string;
  machine_number?: string;
  /** Epoch ms: spans that end at or after it. */
  fromMs?: number;
  /** Epoch ms: spans that start at or before it. */
  toMs?: number;
  /** The overall_result of the product's latest judged inspection session. */
  inspection_result?: "OK" | "NG";
}

export interface VideoHit {
  product_id: string;
  work_order_id: string;
  stream: string;
  recording_id: string;
  /** Epoch ms. */
  fromMs: number;
  toMs: number;
}

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
  total: number;
}

const iso = (d: Date | string | null): string | null => (d === null ? null : new Date(d).toISOString());
const isoNN = (d: Date | string): string => new Date(d).toISOString();
/** Microseconds since the epoch, exact, as keyset cursors carry them. */
const US = (col: string) => `(extract(epoch from ${col}) * 1000000)::bigint`;
const FROM_US = (p: string) => `('epoch'::timestamptz + ${p}::bigint * interval '1 microsecond')`;
const likePrefix = (s: string) => `${s.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

/**
 * Traceability's own SQL over migration 002's tables (products, product_links, inspection_*) and
 * 001's (files, executions): this module reads the product master, it does not own it.
 */
export class TraceStore {
  constructor(private readonly db: Queryable) {}

  /** The live product a QR code names; several matches → the newest production date. */
  async findProduct(key: ProductKey): Promise<string | undefined> {
    const where = ["work_order_id = $1", "deleted_at IS NULL"];
    const params: unknown[] = [key.work_order_id];
    const add = (col: string, v: unknown) => {
      params.push(v);
      where.push(`${col} = $${params.length}`);
    };
    if (key.instruction_id !== undefined) add("instruction_id", key.instruction_id);
    if (key.machine_number !== undefined) add("machine_number", key.machine_number);
    if (key.monthly_sequence !== undefined) add("monthly_sequence", key.monthly_sequence);
    const r = await this.db.query<{ product_id: string }>(
      `SELECT product_id FROM products WHERE ${where.join(" AND ")} ORDER BY production_date DESC NULLS LAST, product_id DESC LIMIT 1`,
      params,
    );
    return r.rows[0]?.product_id;
  }

  async productExists(productId: string): Promise<boolean> {
    const r = await this.db.query("SELECT 1 FROM products WHERE product_id = $1 AND deleted_at IS NULL", [productId]);
    return r.rows.length > 0;
  }

  /**
   * Upserts links: the span only ever widens (LEAST/GREATEST), so replays (Kafka's at least once)
   * and several nodes writing the same sighting converge on one row.
   */
  async upsertLinks(rows: readonly LinkRow[]): Promise<void> {
    // One statement may not touch a row twice: merge duplicates first.
    const merged = new Map<string, LinkRow>();
    for (const r of rows) {
      const k = `${r.product_id}\u0000${r.kind}\u0000${r.ref_id}`;
      const m = merged.get(k);
      merged.set(k, m ? { ...m, first_seen_at: Math.min(m.first_seen_at, r.first_seen_at), last_seen_at: Math.max(m.last_seen_at, r.last_seen_at) } : r);
    }
    const list = [...merged.values()];
    for (let i = 0; i < list.length; i += 500) {
      const chunk = list.slice(i, i + 500);
      const params: unknown[] = [];
      const values = chunk.map((r) => {
        params.push(r.product_id, r.kind, r.ref_id, r.stream, new Date(r.first_seen_at), new Date(r.last_seen_at), JSON.stringify(r.detail));
        const b = params.length - 7;
        return `($${b + 1}, $${b + 2}, $${b + 3}, $${b + 4}, $${b + 5}::timestamptz, $${b + 6}::timestamptz, $${b + 7}::jsonb)`;
      });
      await this.db.query(
        `INSERT INTO product_links (product_id, kind, ref_id, stream, first_seen_at, last_seen_at, detail) VALUES ${values.join(", ")}
         ON CONFLICT (product_id, kind, ref_id) DO UPDATE SET
           first_seen_at = LEAST(product_links.first_seen_at, EXCLUDED.first_seen_at),
           last_seen_at = GREATEST(product_links.last_seen_at, EXCLUDED.last_seen_at),
           stream = COALESCE(EXCLUDED.stream, product_links.stream),
           detail = product_links.detail || EXCLUDED.detail`,
        params,
      );
    }
  }

  async deleteLink(productId: string, kind: LinkKind, refId: string): Promise<boolean> {
    const r = await this.db.query("DELETE FROM product_links WHERE product_id = $1 AND kind = $2 AND ref_id = $3", [productId, kind, refId]);
    return r.rowCount > 0;
  }

  async link(productId: string, kind: LinkKind, refId: string): Promise<LinkRow | undefined> {
    const r = await this.db.query<LinkDbRow>(`SELECT ${LINK_COLS} FROM product_links WHERE product_id = $1 AND kind = $2 AND ref_id = $3`, [productId, kind, refId]);
    return r.rows[0] && linkRow(r.rows[0]);
  }

  /** The product row with its specifications, or undefined (unknown or deleted). */
  async product(productId: string): Promise<ProductRow | undefined> {
    const r = await this.db.query<Omit<ProductRow, "specifications" | "created_at" | "updated_at"> & { created_at: Date; updated_at: Date }>(
      `SELECT product_id, work_order_id, instruction_id, product_type, machine_number, to_char(production_date, 'YYYY-MM-DD') AS production_date,
              monthly_sequence, model, version, batch, status, revision, created_at, updated_at
         FROM products WHERE product_id = $1 AND deleted_at IS NULL`,
      [productId],
    );
    const row = r.rows[0];
    if (!row) return undefined;
    const specs = await this.db.query<{ key: string; value: string }>("SELECT key, value FROM product_specs WHERE product_id = $1 ORDER BY key", [productId]);
    return { ...row, created_at: isoNN(row.created_at), updated_at: isoNN(row.updated_at), specifications: Object.fromEntries(specs.rows.map((s) => [s.key, s.value])) };
  }

  /** A product's links, oldest first, at most `max` (and whether there were more). */
  async links(productId: string, max: number, kinds: readonly LinkKind[] = LINK_KINDS): Promise<{ rows: LinkRow[]; truncated: boolean }> {
    const r = await this.db.query<LinkDbRow>(
      `SELECT ${LINK_COLS} FROM product_links WHERE product_id = $1 AND kind = ANY($2::text[]) ORDER BY first_seen_at, kind, ref_id LIMIT $3`,
      [productId, [...kinds], max + 1],
    );
    return { rows: r.rows.slice(0, max).map(linkRow), truncated: r.rows.length > max };
  }

  /** A product's inspection sessions, oldest first, at most `max`. */
  async sessions(productId: string, max: number): Promise<{ rows: SessionRow[]; truncated: boolean }> {
    const r = await this.db.query<SessionDbRow>(`SELECT ${SESSION_COLS} FROM inspection_sessions WHERE product_id = $1 ORDER BY started_at, session_id LIMIT $2`, [productId, max + 1]);
    return { rows: r.rows.slice(0, max).map(sessionRow), truncated: r.rows.length > max };
  }

  /** A product's inspection history, newest first, keyset-paged on (started_at, session_id). */
  async sessionPage(productId: string, page: { limit: number; cursor?: string }): Promise<Page<SessionRow>> {
    const params: unknown[] = [productId];
    let after = "";
    if (page.cursor) {
      const [us, id] = decodeCursor(page.cursor, ["number", "string"]);
      params.push(us, id);
      after = `AND (started_at, session_id) < (${FROM_US("$2")}, $3)`;
    }
    params.push(page.limit + 1);
    const r = await this.db.query<SessionDbRow & { at_us: number }>(
      `SELECT ${SESSION_COLS}, ${US("started_at")} AS at_us FROM inspection_sessions WHERE product_id = $1 ${after}
        ORDER BY started_at DESC, session_id DESC LIMIT $${params.length}`,
      params,
    );
    const total = await this.db.query<{ n: number }>("SELECT count(*)::int AS n FROM inspection_sessions WHERE product_id = $1", [productId]);
    const rows = r.rows.slice(0, page.limit);
    const last = rows[rows.length - 1];
    return { items: rows.map(sessionRow), next_cursor: r.rows.length > page.limit && last ? encodeCursor([last.at_us, last.session_id]) : null, total: total.rows[0]?.n ?? 0 };
  }

  /** The results of these sessions, oldest first, at most `max`. */
  async results(sessionIds: readonly string[], max: number): Promise<{ rows: ResultRow[]; truncated: boolean }> {
    if (sessionIds.length === 0) return { rows: [], truncated: false };
    const r = await this.db.query<ResultDbRow>(
      `SELECT result_id, session_id, item_id, source, result, confidence, defect_types, pipeline_id, pipeline_version, execution_id, image_file_id, created_at
         FROM inspection_results WHERE session_id = ANY($1::text[]) ORDER BY created_at, result_id LIMIT $2`,
      [[...sessionIds], max + 1],
    );
    return { rows: r.rows.slice(0, max).map((x) => ({ ...x, created_at: isoNN(x.created_at) })), truncated: r.rows.length > max };
  }

  async files(ids: readonly string[]): Promise<FileRow[]> {
    if (ids.length === 0) return [];
    const r = await this.db.query<FileRow & { created_at: Date }>(
      "SELECT file_id, filename, content_type, size_bytes, execution_id, created_at FROM files WHERE file_id = ANY($1::text[])",
      [[...ids]],
    );
    return r.rows.map((f) => ({ ...f, created_at: isoNN(f.created_at) }));
  }

  async executions(ids: readonly string[]): Promise<ExecutionRow[]> {
    if (ids.length === 0) return [];
    const r = await this.db.query<Omit<ExecutionRow, "created_at" | "finished_at"> & { created_at: Date; finished_at: Date | null }>(
      "SELECT execution_id, pipeline_id, pipeline_version, status, created_at, finished_at FROM executions WHERE execution_id = ANY($1::text[])",
      [[...ids]],
    );
    return r.rows.map((e) => ({ ...e, created_at: isoNN(e.created_at), finished_at: iso(e.finished_at) }));
  }

  /**
   * Recording spans of products matching `filter`, keyset-paged on (first_seen_at, product_id,
   * ref_id), oldest first. Only live (not deleted) products.
   */
  async searchVideos(filter: VideoFilter, page: { limit: number; cursor?: string }): Promise<Page<VideoHit>> {
    const where = ["l.kind = 'recording'", "p.deleted_at IS NULL"];
    const params: unknown[] = [];
    const add = (sql: (p: string) => string, v: unknown) => {
      params.push(v);
      where.push(sql(`$${params.length}`));
    };
    if (filter.work_order_id !== undefined) add((p) => `p.work_order_id = ${p}`, filter.work_order_id);
    if (filter.work_order_prefix !== undefined) add((p) => `p.work_order_id LIKE ${p}`, likePrefix(filter.work_order_prefix));
    if (filter.instruction_id !== undefined) add((p) => `p.instruction_id = ${p}`, filter.instruction_id);
    if (filter.product_type !== undefined) add((p) => `p.product_type = ${p}`, filter.product_type);
    if (filter.machine_number !== undefined) add((p) => `p.machine_number = ${p}`, filter.machine_number);
    if (filter.fromMs !== undefined) add((p) => `l.last_seen_at >= ${p}::timestamptz`, new Date(filter.fromMs));
    if (filter.toMs !== undefined) add((p) => `l.first_seen_at <= ${p}::timestamptz`, new Date(filter.toMs));
    let verdict = "";
    if (filter.inspection_result !== undefined) {
      // The latest verdict per product (sessions still open, without overall_result, do not hide
      // the last one), joined once: a correlated subquery per link row cost seconds at 100k rows.
      params.push(filter.inspection_result);
      verdict = `JOIN (SELECT DISTINCT ON (product_id) product_id, overall_result FROM inspection_sessions WHERE overall_result IS NOT NULL AND product_id IS NOT NULL
                        ORDER BY product_id, COALESCE(completed_at, started_at) DESC, session_id DESC) v ON v.product_id = l.product_id AND v.overall_result = $${params.length}`;
    }
    const filtered = where.join(" AND ");
    const countParams = [...params];
    if (page.cursor) {
      const [us, pid, ref] = decodeCursor(page.cursor, ["number", "string", "string"]);
      params.push(us, pid, ref);
      const n = params.length;
      where.push(`(l.first_seen_at, l.product_id, l.ref_id) > (${FROM_US(`$${n - 2}`)}, $${n - 1}, $${n})`);
    }
    params.push(page.limit + 1);
    const r = await this.db.query<{ product_id: string; work_order_id: string; ref_id: string; stream: string | null; first_seen_at: Date; last_seen_at: Date; at_us: number }>(
      `SELECT l.product_id, p.work_order_id, l.ref_id, l.stream, l.first_seen_at, l.last_seen_at, ${US("l.first_seen_at")} AS at_us
         FROM product_links l JOIN products p ON p.product_id = l.product_id ${verdict}
        WHERE ${where.join(" AND ")}
        ORDER BY l.first_seen_at, l.product_id, l.ref_id LIMIT $${params.length}`,
      params,
    );
    const total = await this.db.query<{ n: number }>(`SELECT count(*)::int AS n FROM product_links l JOIN products p ON p.product_id = l.product_id ${verdict} WHERE ${filtered}`, countParams);
    const rows = r.rows.slice(0, page.limit);
    const last = rows[rows.length - 1];
    return {
      items: rows.map((x) => {
        const { stream, recordingId } = splitRecordingRef(x.ref_id, x.stream);
        return { product_id: x.product_id, work_order_id: x.work_order_id, stream, recording_id: recordingId, fromMs: x.first_seen_at.getTime(), toMs: x.last_seen_at.getTime() };
      }),
      next_cursor: r.rows.length > page.limit && last ? encodeCursor([last.at_us, last.product_id, last.ref_id]) : null,
      total: total.rows[0]?.n ?? 0,
    };
  }
}

/** `<stream>/<recording id>` (a recording link's ref_id) into its parts. */
export function splitRecordingRef(refId: string, stream: string | null): { stream: string; recordingId: string } {
  const slash = refId.indexOf("/");
  if (slash > 0) return { stream: refId.slice(0, slash), recordingId: refId.slice(slash + 1) };
  return { stream: stream ?? "", recordingId: refId };
}

const LINK_COLS = "product_id, kind, ref_id, stream, first_seen_at, last_seen_at, detail";
type LinkDbRow = Omit<LinkRow, "first_seen_at" | "last_seen_at"> & { first_seen_at: Date; last_seen_at: Date };
const linkRow = (r: LinkDbRow): LinkRow => ({ ...r, first_seen_at: r.first_seen_at.getTime(), last_seen_at: r.last_seen_at.getTime() });

const SESSION_COLS = "session_id, target_id, status, overall_result, inspector, device_id, started_at, completed_at";
type SessionDbRow = Omit<SessionRow, "started_at" | "completed_at"> & { started_at: Date; completed_at: Date | null };
const sessionRow = (r: SessionDbRow): SessionRow => ({
  session_id: r.session_id, target_id: r.target_id, status: r.status, overall_result: r.overall_result, inspector: r.inspector, device_id: r.device_id,
  started_at: isoNN(r.started_at), completed_at: iso(r.completed_at),
});
type ResultDbRow = Omit<ResultRow, "created_at"> & { created_at: Date };
