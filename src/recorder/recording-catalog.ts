import type { Readable } from "node:stream";
import type { Logger } from "pino";
import { concatObjects, ObjectNotFoundError, type ObjectStore } from "../ports/object-store.js";
import { gapsWithin, MANIFEST_NAME, parseManifest, type GapEntry, type RecordingManifest, type SegmentEntry } from "./manifest.js";
import type { SegmentLeases } from "./segment-leases.js";

/** Reserved top-level prefix of kept clips (the stream name "clips" is refused). */
export const CLIPS_PREFIX = "clips/";

export interface RecordingSpan {
  stream: string;
  recordingId: string;
  /** ISO 8601 of `startMs`. */
  start: string;
  startMs: number;
  durationMs: number;
  bytes: number;
  segments: number;
  live: boolean;
  tags: Record<string, string>;
  width?: number;
  height?: number;
  codec?: string;
  /** Holes between the span's segments (network breaks the recording went on after). */
  gaps: GapEntry[];
}

export interface PlaybackPlan {
  manifest: RecordingManifest;
  seqs: number[];
  initKey: string;
  partKeys: string[];
  bytes: number;
  startMs: number;
  durationMs: number;
}

/**
 * Reads what has been recorded: manifests from the store (cached by modification time) and,
 * for recordings still being written, the recorder's in-memory manifest.
 */
export class RecordingCatalog {
  private readonly cache = new Map<string, { version: string; manifest: RecordingManifest | undefined }>();
  private unreadable = 0;

  constructor(
    private readonly store: ObjectStore,
    private readonly liveManifest: (stream: string) => RecordingManifest | undefined,
    private readonly leases: SegmentLeases,
    private readonly log?: Logger,
  ) {}

  /** Drops the cached copy of a manifest (its writer changed it; see ManifestStore.onWrite). */
  forget(key: string): void {
    this.cache.delete(key);
  }

  /** Stored manifests skipped because they do not parse (each version counted once). */
  get unreadableManifests(): number {
    return this.unreadable;
  }

  async manifests(stream?: string): Promise<RecordingManifest[]> {
    const objects = await this.store.list(stream ? `${stream}/` : "");
    const out: RecordingManifest[] = [];
    for (const o of objects) {
      // Clips live beside the streams, under a reserved name, with their own lifecycle.
      if (!o.key.endsWith(`/${MANIFEST_NAME}`) || o.key.startsWith(CLIPS_PREFIX)) continue;
      // Size too: two writes within one mtime tick must not serve the older version.
      const version = `${o.modifiedMs}/${o.size}`;
      const cached = this.cache.get(o.key);
      let manifest: RecordingManifest | undefined;
      if (cached?.version === version) {
        manifest = cached.manifest;
      } else {
        let data: Buffer;
        try {
          data = await this.store.get(o.key);
        } catch (err) {
          if (err instanceof ObjectNotFoundError) continue; // deleted meanwhile
          throw err;
        }
        try {
          manifest = parseManifest(data);
        } catch (err) {
          // One bad object must not take the whole listing (or the retention pass) down.
          this.unreadable++;
          this.log?.warn({ objectKey: o.key, err: (err as Error).message }, "unreadable recording manifest skipped");
        }
        this.cache.set(o.key, { version, manifest });
      }
      if (!manifest) continue;
      const live = this.liveManifest(manifest.stream);
      out.push(live && live.recordingId === manifest.recordingId ? live : manifest);
    }
    return out.sort((a, b) => a.startedAt - b.startedAt);
  }

  /** One span per recording, clipped to the segments that overlap [fromMs, toMs]. */
  async spans(stream: string | undefined, fromMs = -Infinity, toMs = Infinity, tags: [string, string][] = []): Promise<RecordingSpan[]> {
    const spans: RecordingSpan[] = [];
    for (const m of await this.manifests(stream)) {
      if (!tags.every(([k, v]) => m.tags[k] === v)) continue;
      const segs = m.segments.filter((s) => s.parts.length > 0 && s.startMs < toMs && s.startMs + s.durationMs > fromMs);
      const first = segs[0];
      const last = segs[segs.length - 1];
      if (!first || !last) continue;
      const init = m.inits.find((i) => i.index === last.init);
      spans.push({
        stream: m.stream,
        recordingId: m.recordingId,
        start: new Date(first.startMs).toISOString(),
        startMs: first.startMs,
        // Media time, as playback will yield it (wall-clock starts can drift from it slightly).
        durationMs: Math.round(segs.reduce((n, s) => n + s.durationMs, 0)),
        bytes: segs.reduce((n, s) => n + s.bytes, 0),
        segments: segs.length,
        live: m.endedAt === null,
        tags: m.tags,
        ...(init ? { width: init.width, height: init.height, codec: init.codec } : {}),
        gaps: gapsWithin(m, segs),
      });
    }
    return spans;
  }

  /**
   * The objects that play [startMs, startMs+durationMs) of a stream: the init segment of the
   * span's first segment and every part of the segments that overlap it, the first one starting
   * at the IDR at or before `startMs`. A resolution change inside the span is carried by the
   * SPS/PPS stored in-band with every IDR sample.
   */
  async plan(stream: string, startMs: number, durationMs: number): Promise<PlaybackPlan | undefined> {
    const endMs = startMs + durationMs;
    for (const m of await this.manifests(stream)) {
      const segs: SegmentEntry[] = m.segments.filter((s) => s.parts.length > 0 && s.startMs < endMs && s.startMs + s.durationMs > startMs);
      const first = segs[0];
      const last = segs[segs.length - 1];
      if (!first || !last) continue;
      // by index, not position: retention drops the oldest inits from the array
      const init = m.inits.find((i) => i.index === first.init);
      if (!init) continue;
      const initInfo = await this.store.stat(init.key);
      if (!initInfo) continue;
      const partKeys = segs.flatMap((s) => s.parts.map((p) => p.key));
      return {
        manifest: m,
        seqs: segs.map((s) => s.seq),
        initKey: init.key,
        partKeys,
        bytes: initInfo.size + segs.reduce((n, s) => n + s.parts.reduce((k, p) => k + p.bytes, 0), 0),
        startMs: first.startMs,
        durationMs: segs.reduce((n, s) => n + s.durationMs, 0),
      };
    }
    return undefined;
  }

  /**
   * Streams the planned objects one after another, without holding the span in memory. Its
   * segments are leased until the stream ends, so retention cannot pull them away mid-response.
   */
  open(plan: PlaybackPlan): Readable {
    const out = concatObjects(this.store, [plan.initKey, ...plan.partKeys]);
    const release = this.leases.acquire(plan.manifest.recordingId, plan.seqs);
    out.once("close", release);
    return out;
  }
}
