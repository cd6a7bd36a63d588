import { randomBytes } from "node:crypto";
import type { Logger } from "pino";
import type { ReaderHandle } from "../core/stream-hub.js";
import type { LiveStream, StreamRegistry } from "../core/stream-registry.js";
import type { ObjectStore } from "../ports/object-store.js";
import { newRecordingId, type RecordingManifest } from "./manifest.js";
import { RecordingWriter } from "./recording-writer.js";
import { Segmenter, type SegmenterOptions } from "./segmenter.js";

export interface RecorderOptions extends Omit<SegmenterOptions, "audio"> {
  recordByDefault: boolean;
}

interface ActiveRecording {
  stream: LiveStream;
  reader: ReaderHandle;
  segmenter: Segmenter;
  writer: RecordingWriter;
  closed: Promise<void>;
  stopped: boolean;
}

/**
 * Records every live stream (remux only, never re-encode): attaches a reader to the stream's
 * hub, feeds a Segmenter, and writes what it produces through a RecordingWriter.
 */
export class Recorder {
  private readonly active = new Map<string, ActiveRecording>();
  private readonly closing = new Set<Promise<void>>();
  private readonly changeListeners = new Set<(stream: string, manifest: RecordingManifest) => void>();

  constructor(
    private readonly registry: StreamRegistry,
    private readonly store: ObjectStore,
    private readonly opts: RecorderOptions,
    private readonly log: Logger,
  ) {
    if (opts.recordByDefault) registry.onStarted((s) => void this.start(s));
  }

  /** Starts recording a live stream; returns the recording's id (the current one when already recording). */
  start(stream: LiveStream, tags: Record<string, string> = {}): string {
    const current = this.active.get(stream.name);
    if (current) return current.writer.manifest.recordingId;
    const now = Date.now();
    const recordingId = newRecordingId(now, randomBytes(2).toString("hex"));
    const log = this.log.child({ stream: stream.name, recording: recordingId });
    const writer = new RecordingWriter(this.store, stream.name, recordingId, now, log, (m) => {
      for (const l of this.changeListeners) l(stream.name, m);
    });
    const audio = stream.hub.tracks.audio;
    const segmenter = new Segmenter(
      { ...this.opts, ...(audio ? { audio: { channels: audio.channels } } : {}) },
      {
        init: (o) => writer.init(o),
        part: (o) => writer.part(o),
        segmentClosed: (o) => writer.segmentClosed(o),
        requestKeyframe: (reason) => stream.hub.requestKeyframe(reason),
      },
    );
    let resolveClosed!: () => void;
    const closed = new Promise<void>((r) => (resolveClosed = r));
    const reader = stream.hub.attach("recorder", (frame, droppedBefore) => {
      if (frame.kind === "video") segmenter.video(frame, droppedBefore);
      else segmenter.audio(frame);
    });
    const rec: ActiveRecording = { stream, reader, segmenter, writer, closed, stopped: false };
    this.active.set(stream.name, rec);
    writer.manifest.tags = { ...tags };
    log.info("recording started");
    stream.hub.onClose(() => {
      // The hub's readers finish their queues first: nothing received is lost.
      const done = stream.hub
        .drain()
        .then(() => this.stopRecording(rec))
        .finally(() => {
          resolveClosed();
          this.closing.delete(done);
        });
      this.closing.add(done);
    });
    return recordingId;
  }

  /** Merges tags into a live recording's manifest (stored with its next manifest write). */
  tagLive(streamName: string, tags: Record<string, string>): string | undefined {
    const rec = this.active.get(streamName);
    if (!rec) return undefined;
    Object.assign(rec.writer.manifest.tags, tags);
    return rec.writer.manifest.recordingId;
  }

  private async stopRecording(rec: ActiveRecording): Promise<void> {
    if (rec.stopped) return;
    rec.stopped = true;
    rec.reader.detach();
    rec.segmenter.finish();
    if (this.active.get(rec.stream.name) === rec) this.active.delete(rec.stream.name);
    await rec.writer.close(Date.now());
    this.log.info({ stream: rec.stream.name, recording: rec.writer.manifest.recordingId, ...rec.writer.stats }, "recording closed");
  }

  /** Retention of a live recording goes through its writer (see RecordingWriter.dropSegments). */
  async dropSegments(streamName: string, seqs: ReadonlySet<number>): Promise<void> {
    await this.active.get(streamName)?.writer.dropSegments(seqs);
  }

  /** Stops recording a live stream (operator request); its recording is closed cleanly. */
  async stop(streamName: string): Promise<boolean> {
    const rec = this.active.get(streamName);
    if (!rec) return false;
    await rec.stream.hub.drain();
    await this.stopRecording(rec);
    return true;
  }

  isRecording(streamName: string): boolean {
    return this.active.has(streamName);
  }

  /** The in-memory manifest of a live recording (fresher than the stored one). */
  liveManifest(streamName: string): RecordingManifest | undefined {
    return this.active.get(streamName)?.writer.manifest;
  }

  /**
   * Called after every init or part of a live recording is in the store, each closed segment,
   * and the recording's end. Returns a function that removes the listener.
   */
  onManifestChange(listener: (stream: string, manifest: RecordingManifest) => void): () => void {
    this.changeListeners.add(listener);
    return () => this.changeListeners.delete(listener);
  }

  /** Resolves once every recording whose stream ended has been written out. */
  async flush(): Promise<void> {
    await Promise.all([...this.closing]);
  }
}
