import { randomBytes } from "node:crypto";
import type { Logger } from "pino";
import { BadRequestError, NotFoundError } from "../errors.js";
import { ObjectNotFoundError, type ObjectStore } from "../ports/object-store.js";
import { parseManifest, type RecordingManifest } from "./manifest.js";
import { CLIPS_PREFIX, type PlaybackPlan, type RecordingCatalog } from "./recording-catalog.js";
import { TagLimitError } from "./recorder.js";
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
/** Largest epoch ms a Date holds (ECMA-262 time value range). */
const MAX_TIME_MS = 8.64e15;

export interface ClipLimits {
  /** Longest span one clip may cover (IFC_CLIP_MAX_DURATION_MS). */
  maxDurationMs: number;
  /** Most clips kept at once (IFC_CLIP_MAX_COUNT). */
  maxCount: number;
  /** Most bytes all kept clips may hold together (IFC_CLIP_TOTAL_BYTES; 0: no cap). */
  maxTotalBytes: number;
  /** Most tags on a clip, its recording's and its own together (IFC_MAX_TAGS). */
  maxTags: number;
}

export const CLIP_LIMIT_DEFAULTS: Readonly<ClipLimits> = { maxDurationMs: 3_600_000, maxCount: 1000, maxTotalBytes: 10 * 1024 ** 3, maxTags: 32 };

/**
 * A clip refused by a limit; nothing was stored. `span`: the request asks too much (client's
 * fault); `count` and `bytes`: the clip store is full until clips are deleted or expire.
 */
export class ClipLimitError extends Error {
  override name = "ClipLimitError";
  constructor(
    readonly limit: "span" | "count" | "bytes",
    message: string,
  ) {
    super(message);
  }
}

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
  private queue: Promise<unknown> = Promise.resolve();
  private unreadable = 0;
  private readonly limits: ClipLimits;
  private readonly createdListeners = new Set<(clip: ClipSummary) => void>();

  constructor(
    private readonly store: ObjectStore,
    private readonly catalog: RecordingCatalog,
    private readonly leases: SegmentLeases,
    private readonly retentionMs: number,
    private readonly log: Logger,
    limits: Partial<ClipLimits> = {},
    /** Wall clock, epoch ms (injected by tests: clips live for days). */
    private readonly now: () => number = Date.now,
  ) {
    this.limits = { ...CLIP_LIMIT_DEFAULTS, ...limits };
  }

  /** Called once a clip is stored (gRPC WatchStreams' CLIP_EXPORTED); returns the unsubscribe. */
  onCreated(listener: (clip: ClipSummary) => void): () => void {
    this.createdListeners.add(listener);
    return () => this.createdListeners.delete(listener);
  }

  /** Stored clip manifests skipped by listings because they do not parse. */
  get unreadableManifests(): number {
    return this.unreadable;
  }

  /**
   * Keeps [fromMs, toMs) of a stream. Nothing is stored until everything that can fail has
   * passed: the span and limits are checked and the manifest built before any copy, the copies
   * are removed again if one fails, and the manifest (which makes the clip exist) goes last.
   * Creations run one at a time, so two cannot both take the last place under a limit.
   */
  create(stream: string, fromMs: number, toMs: number, tags: Record<string, string>, now = this.now()): Promise<ClipSummary> {
    const run = this.queue.then(() => this.createNow(stream, fromMs, toMs, tags, now));
    this.queue = run.catch(() => undefined);
    return run;
  }

  private async createNow(stream: string, fromMs: number, toMs: number, tags: Record<string, string>, now: number): Promise<ClipSummary> {
    if (![fromMs, toMs].every((t) => Number.isFinite(t) && Math.abs(t) <= MAX_TIME_MS)) throw new BadRequestError("from and to must be dates", "invalid-time");
    if (!(fromMs < toMs)) throw new BadRequestError("from must be before to", "invalid-range");
    if (toMs - fromMs > this.limits.maxDurationMs) {
      throw new ClipLimitError("span", `a clip spans at most ${this.limits.maxDurationMs} ms (IFC_CLIP_MAX_DURATION_MS); asked for ${toMs - fromMs} ms`);
    }
    const existing = await this.list();
    if (existing.length >= this.limits.maxCount) {
      throw new ClipLimitError("count", `${existing.length} clips are kept, the most allowed (IFC_CLIP_MAX_COUNT); delete some or wait for them to expire`);
    }
    const plan: PlaybackPlan | undefined = await this.catalog.plan(stream, fromMs, toMs - fromMs);
    if (!plan) throw new NotFoundError(`no recording of "${stream}" covers that span (it may be outside the rolling window)`, "recording-not-found");
    // What the clips really occupy (their inits and manifests too), not what their manifests say.
    const used = (await this.store.list(CLIPS_PREFIX)).reduce((n, o) => n + o.size, 0);
    if (this.limits.maxTotalBytes > 0 && used + plan.bytes > this.limits.maxTotalBytes) {
      throw new ClipLimitError("bytes", `clips hold ${used} bytes; this one (${plan.bytes}) would pass IFC_CLIP_TOTAL_BYTES (${this.limits.maxTotalBytes})`);
    }
    const clipTags = { ...plan.manifest.tags, ...tags };
    if (Object.keys(clipTags).length > this.limits.maxTags) throw new TagLimitError(this.limits.maxTags);
    const release = this.leases.acquire(plan.manifest.recordingId, plan.seqs);
    const id = randomBytes(8).toString("hex");
    const prefix = `${CLIPS_PREFIX}${id}/`;
    const copied: string[] = [];
    try {
      const src = plan.manifest;
      const segs = src.segments.filter((s) => plan.seqs.includes(s.seq));
      const initIndexes = new Set(segs.map((s) => s.init));
      const rename = (key: string): string => prefix + key.slice(key.lastIndexOf("/") + 1);
      const manifest: ClipManifest = {
        version: 1,
        stream,
        recordingId: id,
        startedAt: segs[0]?.startMs ?? fromMs,
        endedAt: now,
        tags: clipTags,
        inits: src.inits.filter((i) => initIndexes.has(i.index)).map((i) => ({ ...i, key: rename(i.key) })),
        segments: segs.map((s) => ({ ...s, complete: true, parts: s.parts.map((p) => ({ ...p, key: rename(p.key) })) })),
        clip: { id, from: fromMs, to: toMs, createdAt: now, expiresAt: now + this.retentionMs, sourceRecordingId: src.recordingId },
      };
      // Built and summarized (the listing's own reading) before anything is stored.
      const summary = summarize(manifest);
      const body = Buffer.from(JSON.stringify(manifest));
      parseManifest(body);
      for (const key of [...src.inits.filter((i) => initIndexes.has(i.index)).map((i) => i.key), ...segs.flatMap((s) => s.parts.map((p) => p.key))]) {
        await this.store.copy(key, rename(key));
        copied.push(rename(key));
      }
      // The manifest last: a clip is listed only once all its objects are there.
      await this.store.put(`${prefix}manifest.json`, body, "application/json");
      this.log.info({ clip: id, stream, segments: segs.length }, "clip created");
      for (const l of this.createdListeners) l(summary);
      return summary;
    } catch (err) {
      for (const key of copied) await this.store.delete(key).catch(() => undefined);
      throw err;
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
      let s: ClipSummary;
      try {
        s = summarize(parseManifest(await this.store.get(o.key)) as ClipManifest);
      } catch (err) {
        if (err instanceof ObjectNotFoundError) continue; // deleted meanwhile
        // One bad manifest must not take the listing, or the expiry pass, down with it.
        this.unreadable++;
        this.log.warn({ objectKey: o.key, err: (err as Error).message }, "unreadable clip manifest skipped");
        continue;
      }
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

  /** Deletes a clip: manifest first (it disappears from listings), then its objects. An unreadable clip can be deleted too. */
  async delete(id: string): Promise<void> {
    if (!CLIP_ID.test(id)) throw new NotFoundError(`no clip ${id.slice(0, 40)}`, "clip-not-found");
    const prefix = `${CLIPS_PREFIX}${id}/`;
    const objects = await this.store.list(prefix);
    if (objects.length === 0) throw new NotFoundError(`no clip ${id}`, "clip-not-found");
    await this.store.delete(`${prefix}manifest.json`);
    for (const o of objects) await this.store.delete(o.key);
    this.log.info({ clip: id }, "clip deleted");
  }

  /** Clip retention: deletes clips past their expiry; one that fails to go is logged and retried next pass. */
  async deleteExpired(now = this.now()): Promise<number> {
    let n = 0;
    for (const c of await this.list()) {
      if (Date.parse(c.expiresAt) > now) continue;
      try {
        await this.delete(c.id);
        n++;
      } catch (err) {
        this.log.warn({ clip: c.id, err: (err as Error).message }, "expired clip not deleted; will retry");
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
