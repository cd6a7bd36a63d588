import type { Logger } from "pino";
import type { ObjectStore } from "../ports/object-store.js";
import { initKey, manifestKey, partKey, type RecordingManifest, type SegmentEntry } from "./manifest.js";
import type { ManifestChange } from "./manifest-store.js";
import type { GapOutput, InitOutput, PartOutput, SegmentClosed } from "./segmenter.js";

/**
 * Writes one recording to the object store, in order, off the media path: the segmenter hands
 * over bytes synchronously, this queue puts them one after another. The manifest is rewritten
 * after each init and each closed segment (not each part: its size grows with the recording),
 * and only after the objects it names are stored, so it never names a missing object. Parts of
 * the open segment are in the store at once; after a crash they are found by listing. While the
 * recording is live it is the manifest's one writer: other changes come through `update`.
 */
export class RecordingWriter {
  readonly manifest: RecordingManifest;
  private chain: Promise<void> = Promise.resolve();
  private queuedBytes = 0;
  private failures = 0;
  private bytesWritten = 0;

  constructor(
    private readonly store: ObjectStore,
    stream: string,
    recordingId: string,
    startedAt: number,
    private readonly log: Logger,
    /** Told after each stored init or part and each closed segment (LL-HLS blocking reloads wait on it). */
    private readonly onChange: (manifest: RecordingManifest) => void = () => undefined,
  ) {
    this.manifest = { version: 1, stream, recordingId, startedAt, endedAt: null, tags: {}, inits: [], segments: [], gaps: [] };
  }

  init(out: InitOutput): void {
    const key = initKey(this.manifest.stream, this.manifest.recordingId, out.index);
    this.enqueue(key, out.data, "video/mp4", true, () => {
      this.manifest.inits.push({
        index: out.index,
        key,
        codec: out.sps.codecString,
        width: out.sps.width,
        height: out.sps.height,
        ...(out.audioCodec ? { audio: out.audioCodec } : {}),
      });
    });
  }

  part(out: PartOutput): void {
    const key = partKey(this.manifest.stream, this.manifest.recordingId, out.seq, out.part);
    this.enqueue(key, out.data, "video/iso.segment", false, () => {
      let seg = this.manifest.segments[this.manifest.segments.length - 1];
      if (out.segmentStart) {
        seg = {
          seq: out.seq,
          init: out.segmentStart.init,
          startMs: Math.round(out.segmentStart.startMs),
          startDts: out.segmentStart.startDts,
          durationMs: 0,
          bytes: 0,
          keyframe: out.independent,
          complete: false,
          parts: [],
          ...(out.segmentStart.discontinuity !== undefined ? { discontinuity: out.segmentStart.discontinuity } : {}),
        } satisfies SegmentEntry;
        this.manifest.segments.push(seg);
      }
      if (!seg || seg.seq !== out.seq) throw new Error(`part ${out.seq}/${out.part} without its segment`);
      seg.parts.push({ key, durationMs: round3(out.durationMs), bytes: out.data.length, independent: out.independent });
      seg.durationMs = round3(seg.durationMs + out.durationMs);
      seg.bytes += out.data.length;
    });
  }

  /**
   * A break in the recording: listed once the segments before it are stored (in queue order),
   * and written with the manifest when the segment after it closes.
   */
  gap(out: GapOutput): void {
    this.chain = this.chain.then(() => {
      const fromMs = Math.round(out.fromMs);
      const toMs = Math.round(out.toMs);
      (this.manifest.gaps ??= []).push({ fromMs, toMs, durationMs: toMs - fromMs, reason: out.reason });
      this.log.info({ gapMs: toMs - fromMs, reason: out.reason, droppedFrames: out.droppedFrames, seq: out.seq }, "recording resumes after a gap");
    });
  }

  segmentClosed(out: SegmentClosed): void {
    this.chain = this.chain.then(async () => {
      const seg = this.manifest.segments.find((s) => s.seq === out.seq);
      if (seg) {
        seg.durationMs = round3(out.durationMs);
        seg.complete = true;
      }
      this.onChange(this.manifest);
      try {
        await this.writeManifest();
      } catch (err) {
        this.failures++;
        this.log.error({ err }, "manifest write failed");
      }
    });
  }

  /**
   * A change from the ManifestStore (tags, retention), in the writer's order: applied to the
   * in-memory manifest, so the next segment write carries it, and stored at once (once the
   * recording has media; before that the first init writes it). Rejects, changing nothing, when
   * `change` throws; rejects when the write fails (the change stays in memory for the next one).
   */
  update(change: ManifestChange): Promise<RecordingManifest> {
    const run = this.chain.then(async () => {
      const next = change(this.manifest, { live: true });
      if (next === null) throw new Error("a live recording's manifest cannot be deleted");
      // Same object, new contents: readers hold on to `manifest` (catalog, HLS).
      this.manifest.tags = next.tags;
      this.manifest.inits = next.inits;
      this.manifest.segments = next.segments;
      if (next.gaps) this.manifest.gaps = next.gaps;
      this.onChange(this.manifest);
      if (this.manifest.inits.length > 0) await this.writeManifest();
      return this.manifest;
    });
    this.chain = run.then(
      () => undefined,
      () => undefined, // the caller has the error
    );
    return run;
  }

  /** Resolves once every write queued so far is done. */
  async flush(): Promise<void> {
    await this.chain;
  }

  /** Marks the recording ended and waits for every queued write. */
  async close(endedAt: number): Promise<void> {
    this.chain = this.chain.then(async () => {
      this.manifest.endedAt = endedAt;
      this.onChange(this.manifest);
      // A session that never delivered a keyframe recorded nothing: leave no empty recording.
      if (this.manifest.inits.length > 0) await this.writeManifest();
    });
    await this.chain;
  }

  get stats(): { queuedBytes: number; bytesWritten: number; failures: number } {
    return { queuedBytes: this.queuedBytes, bytesWritten: this.bytesWritten, failures: this.failures };
  }

  private enqueue(key: string, data: Uint8Array, contentType: string, writeManifest: boolean, thenRecord: () => void): void {
    this.queuedBytes += data.length;
    this.chain = this.chain.then(async () => {
      try {
        await this.store.put(key, data, contentType);
        this.bytesWritten += data.length;
        thenRecord();
        this.onChange(this.manifest);
        if (writeManifest) await this.writeManifest();
      } catch (err) {
        // Issue #4 adds the retrying spool; until then a failed write is logged and counted.
        this.failures++;
        this.log.error({ err, objectKey: key }, "recording write failed");
      } finally {
        this.queuedBytes -= data.length;
      }
    });
  }

  private async writeManifest(): Promise<void> {
    const key = manifestKey(this.manifest.stream, this.manifest.recordingId);
    const body = Buffer.from(JSON.stringify(this.manifest));
    await this.store.put(key, body, "application/json");
    this.bytesWritten += body.length;
  }
}

function round3(n: number): number {
  return Math.round(n * 1000) / 1000;
}
