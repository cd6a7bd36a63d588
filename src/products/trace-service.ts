import { NotFound } from "../core/errors.js";
import { decodeCursor, encodeCursor } from "../core/keyset-cursor.js";
import { splitRecordingRef, type LinkRow, type Page, type ProductRow, type ResultRow, type SessionRow, type TraceStore, type VideoFilter } from "./trace-store.js";

/** A recording as the recorder's catalog lists it (only what traceability needs). */
export interface RecordingInfo {
  stream: string;
  recordingId: string;
  startMs: number;
  durationMs: number;
  live: boolean;
  tags: Record<string, string>;
}

export interface ClipInfo {
  id: string;
  stream: string;
  startMs: number;
  durationMs: number;
  createdAt: string;
  sourceRecordingId: string;
  tags: Record<string, string>;
}

/** What was recorded and clipped: a port onto the recorder, implemented by the composition. */
export interface MediaIndex {
  /** Recordings whose tags carry every pair. */
  recordings(tags: [string, string][]): Promise<RecordingInfo[]>;
  clips(): Promise<ClipInfo[]>;
}

export type TraceKind = "production" | "recording" | "clip" | "inspection_session" | "inspection_result" | "execution" | "file";

export interface TraceEntry {
  [key: string]: unknown;
  kind: TraceKind;
  id: string;
  /** ISO 8601: when it happened (a recording: when the product was first seen in it). */
  at: string;
  /** Where to fetch it. */
  url: string;
}

export interface TraceLimits {
  /** Most rows read from each source (links, sessions, results) for one chain; the chain says `truncated` past it. */
  perSourceMax: number;
  /** Longest span a play_url asks for (IFC_PLAY_MAX_DURATION_MS): longer sightings play their first part. */
  playMaxDurationMs: number;
}

export const TRACE_LIMIT_DEFAULTS: Readonly<TraceLimits> = { perSourceMax: 5000, playMaxDurationMs: 3_600_000 };

/** The recording tag keys (extractor/product-info.ts) of a product's fields. */
const TAG_OF: [keyof ProductRow, string][] = [
  ["instruction_id", "instruction"],
  ["product_type", "product_type"],
  ["machine_number", "machine_number"],
  ["production_date", "production_date"],
  ["monthly_sequence", "monthly_sequence"],
];

/** A recording whose tags name the product: the work order, and no other field contradicting it. */
export function tagsNameProduct(tags: Record<string, string>, p: ProductRow): boolean {
  if (tags.work_order !== p.work_order_id) return false;
  return TAG_OF.every(([field, tag]) => {
    const mine = p[field];
    const theirs = tags[tag];
    return mine === null || mine === undefined || theirs === undefined || String(mine) === theirs;
  });
}

/** `/api/v1/recordings/{stream}/play?start=…&duration=…` for a span (at least 1 s, at most the playback limit). */
export function playUrl(stream: string, fromMs: number, toMs: number, maxMs: number): string {
  const seconds = Math.min(Math.max(1, Math.ceil((toMs - fromMs) / 1000)), Math.max(1, Math.floor(maxMs / 1000)));
  return `/api/v1/recordings/${encodeURIComponent(stream)}/play?start=${encodeURIComponent(new Date(fromMs).toISOString())}&duration=${seconds}`;
}

export interface TraceChain {
  entries: TraceEntry[];
  /** A source had more rows than TraceLimits.perSourceMax. */
  truncated: boolean;
}

export interface VideoSearchHit {
  product_id: string;
  work_order_id: string;
  stream: string;
  recording_id: string;
  from: string;
  to: string;
  play_url: string;
}

/** Traceability: a product's whole chain, its details, and recording spans by product fields. */
export class TraceService {
  private readonly limits: TraceLimits;

  constructor(
    private readonly store: () => Promise<TraceStore>,
    private readonly media: MediaIndex,
    limits: Partial<TraceLimits> = {},
  ) {
    this.limits = { ...TRACE_LIMIT_DEFAULTS, ...limits };
  }

  private async productOr404(store: TraceStore, id: string): Promise<ProductRow> {
    const p = await store.product(id);
    if (!p) throw new NotFound("product-not-found", `no product ${id}`, { product_id: id });
    return p;
  }

  /** Every link, inspection and recording of the product, oldest first. */
  async chain(productId: string): Promise<TraceChain & { product: ProductRow }> {
    const store = await this.store();
    const product = await this.productOr404(store, productId);
    const max = this.limits.perSourceMax;
    const [links, sessions, recordings, clips] = await Promise.all([
      store.links(productId, max),
      store.sessions(productId, max),
      this.media.recordings([["work_order", product.work_order_id]]),
      this.media.clips(),
    ]);
    const results = await store.results(sessions.rows.map((s) => s.session_id), max);
    const entries: TraceEntry[] = [];
    const productionAt = product.production_date ? `${product.production_date}T00:00:00.000Z` : product.created_at;
    entries.push({ kind: "production", id: product.product_id, at: productionAt, url: `/api/v1/products/${encodeURIComponent(product.product_id)}`, work_order_id: product.work_order_id, product_type: product.product_type, machine_number: product.machine_number });

    // Recordings: the live links (with the span the code was seen), and the catalog's tagged ones.
    const catalog = new Map(recordings.filter((r) => tagsNameProduct(r.tags, product)).map((r) => [`${r.stream}/${r.recordingId}`, r]));
    const recordingIds = new Set<string>();
    const byKind = (k: LinkRow["kind"]) => links.rows.filter((l) => l.kind === k);
    for (const l of byKind("recording")) {
      const { stream, recordingId } = splitRecordingRef(l.ref_id, l.stream);
      const rec = catalog.get(`${stream}/${recordingId}`);
      catalog.delete(`${stream}/${recordingId}`);
      recordingIds.add(recordingId);
      entries.push({
        kind: "recording", id: recordingId, at: new Date(l.first_seen_at).toISOString(), url: playUrl(stream, l.first_seen_at, l.last_seen_at, this.limits.playMaxDurationMs),
        stream, first_seen_at: new Date(l.first_seen_at).toISOString(), last_seen_at: new Date(l.last_seen_at).toISOString(), source: "link",
        ...(rec ? { recording_start: new Date(rec.startMs).toISOString(), duration_ms: rec.durationMs, live: rec.live } : { available: false }),
      });
    }
    for (const rec of catalog.values()) {
      recordingIds.add(rec.recordingId);
      entries.push({
        kind: "recording", id: rec.recordingId, at: new Date(rec.startMs).toISOString(), url: playUrl(rec.stream, rec.startMs, rec.startMs + rec.durationMs, this.limits.playMaxDurationMs),
        stream: rec.stream, recording_start: new Date(rec.startMs).toISOString(), duration_ms: rec.durationMs, live: rec.live, source: "tags",
      });
    }
    // Clips: linked ones, and those cut from the product's recordings or tagged with its work order.
    const linkedClips = new Set(byKind("clip").map((l) => l.ref_id));
    const clipSeen = new Set<string>();
    for (const c of clips) {
      if (!linkedClips.has(c.id) && !recordingIds.has(c.sourceRecordingId) && !tagsNameProduct(c.tags, product)) continue;
      clipSeen.add(c.id);
      entries.push({ kind: "clip", id: c.id, at: new Date(c.startMs).toISOString(), url: `/api/v1/clips/${encodeURIComponent(c.id)}/play`, stream: c.stream, duration_ms: c.durationMs, source_recording_id: c.sourceRecordingId });
    }
    for (const l of byKind("clip")) {
      if (!clipSeen.has(l.ref_id)) entries.push({ kind: "clip", id: l.ref_id, at: new Date(l.first_seen_at).toISOString(), url: `/api/v1/clips/${encodeURIComponent(l.ref_id)}/play`, available: false });
    }
    for (const s of sessions.rows) entries.push(sessionEntry(s));
    for (const r of results.rows) entries.push(resultEntry(r));

    // Executions and files: linked explicitly, or used by the product's inspections.
    const executionIds = new Map<string, number | undefined>(byKind("execution").map((l) => [l.ref_id, l.first_seen_at]));
    const fileIds = new Map<string, number | undefined>(byKind("file").map((l) => [l.ref_id, l.first_seen_at]));
    for (const r of results.rows) {
      if (r.execution_id && !executionIds.has(r.execution_id)) executionIds.set(r.execution_id, undefined);
      if (r.image_file_id && !fileIds.has(r.image_file_id)) fileIds.set(r.image_file_id, undefined);
    }
    const [executions, files] = await Promise.all([store.executions([...executionIds.keys()]), store.files([...fileIds.keys()])]);
    const execById = new Map(executions.map((e) => [e.execution_id, e]));
    for (const [id, linkedAt] of executionIds) {
      const e = execById.get(id);
      const at = e?.created_at ?? (linkedAt !== undefined ? new Date(linkedAt).toISOString() : undefined);
      if (!at) continue;
      entries.push({ kind: "execution", id, at, url: `/api/v1/executions/${encodeURIComponent(id)}`, ...(e ? { pipeline_id: e.pipeline_id, pipeline_version: e.pipeline_version, status: e.status, finished_at: e.finished_at } : { available: false }) });
    }
    const fileById = new Map(files.map((f) => [f.file_id, f]));
    for (const [id, linkedAt] of fileIds) {
      const f = fileById.get(id);
      const at = f?.created_at ?? (linkedAt !== undefined ? new Date(linkedAt).toISOString() : undefined);
      if (!at) continue;
      entries.push({ kind: "file", id, at, url: `/api/v1/files/${encodeURIComponent(id)}/download`, ...(f ? { filename: f.filename, content_type: f.content_type, size_bytes: f.size_bytes } : { available: false }) });
    }
    entries.sort(byTime);
    return { product, entries, truncated: links.truncated || sessions.truncated || results.truncated };
  }

  /** The chain, a page at a time (keyset on (at, kind, id) over the sorted chain). */
  async trace(productId: string, page: { limit: number; cursor?: string }): Promise<Page<TraceEntry> & { product_id: string; truncated: boolean }> {
    const after = page.cursor ? (decodeCursor(page.cursor, ["string", "string", "string"]) as [string, string, string]) : undefined;
    const { entries, truncated } = await this.chain(productId);
    const rest = after ? entries.filter((e) => byTime(e, { at: after[0], kind: after[1] as TraceKind, id: after[2] }) > 0) : entries;
    const items = rest.slice(0, page.limit);
    const last = items[items.length - 1];
    return { product_id: productId, items, next_cursor: rest.length > page.limit && last ? encodeCursor([last.at, last.kind, last.id]) : null, total: entries.length, truncated };
  }

  /** The product with its specifications, a page of its inspection history with results, its related files and the chain's summary. */
  async details(productId: string, page: { limit: number; cursor?: string }) {
    const store = await this.store();
    const history = await store.sessionPage(productId, page);
    const { product, entries, truncated } = await this.chain(productId);
    const results = await store.results(history.items.map((s) => s.session_id), this.limits.perSourceMax);
    const bySession = new Map<string, ResultRow[]>();
    for (const r of results.rows) bySession.set(r.session_id, [...(bySession.get(r.session_id) ?? []), r]);
    const files = entries.filter((e) => e.kind === "file");
    const isImage = (e: TraceEntry) => typeof e.content_type === "string" && e.content_type.startsWith("image/");
    const summary: Record<string, { count: number; first_at: string; last_at: string }> = {};
    for (const e of entries) {
      const s = summary[e.kind];
      if (!s) summary[e.kind] = { count: 1, first_at: e.at, last_at: e.at };
      else {
        s.count++;
        s.last_at = e.at;
      }
    }
    return {
      product,
      inspection_history: { ...history, items: history.items.map((s) => ({ ...s, results: bySession.get(s.session_id) ?? [] })) },
      related_files: {
        images: files.filter(isImage),
        recordings: entries.filter((e) => e.kind === "recording"),
        clips: entries.filter((e) => e.kind === "clip"),
        reports: files.filter((e) => !isImage(e)),
      },
      trace_summary: { kinds: summary, total: entries.length, first_at: entries[0]?.at ?? null, last_at: entries[entries.length - 1]?.at ?? null, truncated, trace_url: `/api/v1/products/${encodeURIComponent(productId)}/trace` },
    };
  }

  async searchVideos(filter: VideoFilter, page: { limit: number; cursor?: string }): Promise<Page<VideoSearchHit>> {
    const store = await this.store();
    const found = await store.searchVideos(filter, page);
    return {
      ...found,
      items: found.items.map((h) => ({
        product_id: h.product_id, work_order_id: h.work_order_id, stream: h.stream, recording_id: h.recording_id,
        from: new Date(h.fromMs).toISOString(), to: new Date(h.toMs).toISOString(), play_url: playUrl(h.stream, h.fromMs, h.toMs, this.limits.playMaxDurationMs),
      })),
    };
  }
}

function byTime(a: Pick<TraceEntry, "at" | "kind" | "id">, b: Pick<TraceEntry, "at" | "kind" | "id">): number {
  // ISO 8601 in UTC with milliseconds sorts as text.
  return a.at < b.at ? -1 : a.at > b.at ? 1 : a.kind < b.kind ? -1 : a.kind > b.kind ? 1 : a.id < b.id ? -1 : a.id > b.id ? 1 : 0;
}

function sessionEntry(s: SessionRow): TraceEntry {
  return { kind: "inspection_session", id: s.session_id, at: s.started_at, url: `/api/v1/inspection/sessions/${encodeURIComponent(s.session_id)}`, status: s.status, overall_result: s.overall_result, completed_at: s.completed_at, inspector: s.inspector, target_id: s.target_id };
}

function resultEntry(r: ResultRow): TraceEntry {
  return { kind: "inspection_result", id: r.result_id, at: r.created_at, url: `/api/v1/inspection/sessions/${encodeURIComponent(r.session_id)}`, session_id: r.session_id, item_id: r.item_id, source: r.source, result: r.result, confidence: r.confidence, execution_id: r.execution_id, image_file_id: r.image_file_id };
}
