import { randomBytes } from "node:crypto";
import type { Logger } from "pino";
import { BadRequestError, NotFoundError } from "../errors.js";
import type { ObjectStore } from "../ports/object-store.js";
import { parseManifest, type RecordingManifest } from "./manifest.js";
import { CLIPS_PREFIX, type PlaybackPlan, type RecordingCatalog } from "./recording-catalog.js";
import type { SegmentLeases } from "./segment-leases.js";

export interface ClipManifest extends RecordingManifest {
  clip: {
    id: string;
    /** The span asked for (epoch ms); the clip starts at the keyframe at or before `from`. */
    from: number;
    to: number;
    createdAt: number;
    expiresAt: number;
    sourceRecordingId: string;
  };
}

export interface ClipSummary {
  id: string;
  stream: string;
  from: string;
  to: string;
  startMs: number;
  durationMs: number;
  bytes: number;
  createdAt: string;
  expiresAt: string;
  tags: Record<string, string>;
  sourceRecordingId: string;
}

const CLIP_ID = /^[a-z0-9]{16}$/;

/** Tag filters from `?tag=key:value` (all must match). */
export function matchesTags(tags: Record<string, string>, filters: [string, string][]): boolean {
  return filters.every(([k, v]) => tags[k] === v);
}

/**
 * Kept clips: the segments covering a span are copied server-side (no download) under
 * `clips/{id}/`, with their own manifest and retention. The source segments are leased while
 * they are copied, so the rolling window's cleaner cannot remove them half-way.
 */
export class ClipService {
  constructor(
    private readonly store: ObjectStore,
    private readonly catalog: RecordingCatalog,
    private readonly leases: SegmentLeases,
    private readonly retentionMs: number,
    private readonly log: Logger,
  ) {}

  async create(stream: string, fromMs: number, toMs: number, tags: Record<string, string>, now = Date.now()): Promise<ClipSummary> {
    if (!(fromMs < toMs)) throw new BadRequestError("from must be before to", "invalid-range");
    const plan: PlaybackPlan | undefined = await this.catalog.plan(stream, fromMs, toMs - fromMs);
    if (!plan) throw new NotFoundError(`no recording of "${stream}" covers that span (it may be outside the rolling window)`, "recording-not-found");
    const release = this.leases.acquire(plan.manifest.recordingId, plan.seqs);
    try {
      const id = randomBytes(8).toString("hex");
      const prefix = `${CLIPS_PREFIX}${id}/`;
      const src = plan.manifest;
      const segs = src.segments.filter((s) => plan.seqs.includes(s.seq));
      const initIndexes = new Set(segs.map((s) => s.init));
      const rename = (key: string): string => prefix + key.slice(key.lastIndexOf("/") + 1);
      for (const init of src.inits.filter((i) => initIndexes.has(i.index))) await this.store.copy(init.key, rename(init.key));
      for (const seg of segs) for (const p of seg.parts) await this.store.copy(p.key, rename(p.key));
      const manifest: ClipManifest = {
        version: 1,
        stream,
        recordingId: id,
        startedAt: segs[0]?.startMs ?? fromMs,
        endedAt: now,
        tags: { ...src.tags, ...tags },
        inits: src.inits.filter((i) => initIndexes.has(i.index)).map((i) => ({ ...i, key: rename(i.key) })),
        segments: segs.map((s) => ({ ...s, complete: true, parts: s.parts.map((p) => ({ ...p, key: rename(p.key) })) })),
        clip: { id, from: fromMs, to: toMs, createdAt: now, expiresAt: now + this.retentionMs, sourceRecordingId: src.recordingId },
      };
      // The manifest last: a clip is listed only once all its objects are there.
      await this.store.put(`${prefix}manifest.json`, Buffer.from(JSON.stringify(manifest)), "application/json");
      this.log.info({ clip: id, stream, segments: segs.length }, "clip created");
      return summarize(manifest);
    } finally {
      release();
    }
  }

  async get(id: string): Promise<ClipManifest> {
    if (!CLIP_ID.test(id)) throw new NotFoundError(`no clip ${id.slice(0, 40)}`, "clip-not-found");
    try {
      return parseManifest(await this.store.get(`${CLIPS_PREFIX}${id}/manifest.json`)) as ClipManifest;
    } catch {
      throw new NotFoundError(`no clip ${id}`, "clip-not-found");
    }
  }

  async list(filter: { stream?: string; fromMs?: number; toMs?: number; tags?: [string, string][] } = {}): Promise<ClipSummary[]> {
    const out: ClipSummary[] = [];
    for (const o of await this.store.list(CLIPS_PREFIX)) {
      if (!o.key.endsWith("/manifest.json")) continue;
      let m: ClipManifest;
      try {
        m = parseManifest(await this.store.get(o.key)) as ClipManifest;
      } catch {
        continue;
      }
      const s = summarize(m);
      if (filter.stream && s.stream !== filter.stream) continue;
      if (filter.fromMs !== undefined && s.startMs + s.durationMs < filter.fromMs) continue;
      if (filter.toMs !== undefined && s.startMs > filter.toMs) continue;
      if (filter.tags && !matchesTags(s.tags, filter.tags)) continue;
      out.push(s);
    }
    return out.sort((a, b) => a.startMs - b.startMs);
  }

  /** The playback plan of a whole clip (init + every part). */
  async plan(id: string): Promise<PlaybackPlan> {
    const m = await this.get(id);
    const init = m.inits[0];
    if (!init) throw new NotFoundError(`clip ${id} has no media`, "clip-not-found");
    const parts = m.segments.flatMap((s) => s.parts);
    const initInfo = await this.store.stat(init.key);
    return {
      manifest: m,
      seqs: m.segments.map((s) => s.seq),
      initKey: init.key,
      partKeys: parts.map((p) => p.key),
      bytes: (initInfo?.size ?? 0) + parts.reduce((n, p) => n + p.bytes, 0),
      startMs: m.segments[0]?.startMs ?? m.clip.from,
      durationMs: m.segments.reduce((n, s) => n + s.durationMs, 0),
    };
  }

  /** Deletes a clip: manifest first (it disappears from listings), then its objects. */
  async delete(id: string): Promise<void> {
    const m = await this.get(id);
    await this.store.delete(`${CLIPS_PREFIX}${id}/manifest.json`);
    for (const o of await this.store.list(`${CLIPS_PREFIX}${id}/`)) await this.store.delete(o.key);
    this.log.info({ clip: id, stream: m.stream }, "clip deleted");
  }

  /** Clip retention: deletes clips past their expiry. */
  async deleteExpired(now = Date.now()): Promise<number> {
    let n = 0;
    for (const c of await this.list()) {
      if (Date.parse(c.expiresAt) <= now) {
        await this.delete(c.id);
        n++;
      }
    }
    return n;
  }
}

function summarize(m: ClipManifest): ClipSummary {
  const startMs = m.segments[0]?.startMs ?? m.clip.from;
  return {
    id: m.clip.id,
    stream: m.stream,
    from: new Date(m.clip.from).toISOString(),
    to: new Date(m.clip.to).toISOString(),
    startMs,
    durationMs: Math.round(m.segments.reduce((n, s) => n + s.durationMs, 0)),
    bytes: m.segments.reduce((n, s) => n + s.bytes, 0),
    createdAt: new Date(m.clip.createdAt).toISOString(),
    expiresAt: new Date(m.clip.expiresAt).toISOString(),
    tags: m.tags,
    sourceRecordingId: m.clip.sourceRecordingId,
  };
}
