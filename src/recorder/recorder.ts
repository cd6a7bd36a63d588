import { randomBytes } from "node:crypto";
import type { Logger } from "pino";
import type { FrameConsumer, ReaderHandle } from "../core/stream-hub.js";
import type { LiveStream, StreamRegistry } from "../core/stream-registry.js";
import type { ObjectStore } from "../ports/object-store.js";
import { newRecordingId, type RecordingManifest } from "./manifest.js";
import { ManifestStore, type ManifestChange } from "./manifest-store.js";
import { RecordingWriter } from "./recording-writer.js";
import { Segmenter, type SegmenterAudio, type SegmenterOptions, type SegmenterStats } from "./segmenter.js";

export interface RecorderOptions extends Omit<SegmenterOptions, "audio"> {
  recordByDefault: boolean;
  /** Most tags on one recording (IFC_MAX_TAGS), on every path that adds some. */
  maxTags?: number;
  /** After a post-roll, how long a stream that sends nothing more keeps its recording open (default QUIET_STREAM_GRACE_MS). */
  quietStreamGraceMs?: number;
  /** The clock pre- and post-rolls are counted on (epoch ms, as frames' `wallClockMs`); injected by tests. */
  now?: () => number;
}

/** A tag change would leave a recording with more than `max` tags; nothing was changed. */
export class TagLimitError extends Error {
  override name = "TagLimitError";
  constructor(readonly max: number) {
    super(`at most ${max} tags`);
  }
}

/** The manifest change that merges `tags`, refused beyond `max`. */
export function mergeTags(tags: Record<string, string>, max: number): ManifestChange {
  return (m) => {
    const merged = { ...m.tags, ...tags };
    if (Object.keys(merged).length > max) throw new TagLimitError(max);
    return { ...m, tags: merged };
  };
}

/** A recording began (on a start request or a stream's start) or was closed (stop request or stream end). */
export interface RecordingLifecycleEvent {
  kind: "started" | "stopped";
  stream: string;
  recordingId: string;
}

/** How a recording starts. */
export interface StartOptions {
  /**
   * Begin this long before now, from the stream buffer: the first frame is the IDR at or before
   * (now − preRollMs), or the oldest one held. Undefined: from the next IDR on (no backlog).
   */
  preRollMs?: number;
}

/** The longest post-roll a stop request may ask for (REST and gRPC): a stop an hour away is a recording left on. */
export const MAX_POST_ROLL_MS = 3_600_000;

/**
 * A post-roll ends at the first frame captured after it; a stream that sends nothing more (a
 * publisher gone quiet, reconnecting) ends it this long after the post-roll instead.
 */
export const QUIET_STREAM_GRACE_MS = 5000;

/** How a recording stops. */
export interface StopOptions {
  /** Keep recording this long more, then stop; a `start` before then cancels the stop. */
  postRollMs?: number;
}

interface ActiveRecording {
  stream: LiveStream;
  reader: ReaderHandle;
  segmenter: Segmenter;
  writer: RecordingWriter;
  closed: Promise<void>;
  stopped: boolean;
  detach: () => void;
  /**
   * A stop scheduled by a post-roll: the recording ends before the first frame captured at or
   * after `at` (epoch ms), or when `timer` fires should the stream go quiet.
   */
  pendingStop?: { at: number; timer: NodeJS.Timeout };
}

/**
 * Records every live stream (remux only, never re-encode): attaches a reader to the stream's
 * hub, feeds a Segmenter, and writes what it produces through a RecordingWriter.
 */
export class Recorder {
  private readonly active = new Map<string, ActiveRecording>();
  private readonly closing = new Set<Promise<void>>();
  private readonly changeListeners = new Set<(stream: string, manifest: RecordingManifest) => void>();
  private readonly lifecycleListeners = new Set<(event: RecordingLifecycleEvent) => void>();
  /** Breaks and units dropped at them by recordings already closed (for /metrics, kept past them). */
  private readonly closedBreaks: SegmenterStats = { gaps: 0, droppedAtBreaks: 0 };
  /** Every change to a recording's manifest goes through this (live ones through their writer). */
  readonly manifests: ManifestStore;
  private readonly maxTags: number;
  private readonly now: () => number;
  private readonly quietStreamGraceMs: number;

  constructor(
    private readonly registry: StreamRegistry,
    private readonly store: ObjectStore,
    private readonly opts: RecorderOptions,
    private readonly log: Logger,
    manifests?: ManifestStore,
  ) {
    this.manifests = manifests ?? new ManifestStore(store);
    this.maxTags = opts.maxTags ?? 32;
    this.now = opts.now ?? Date.now;
    this.quietStreamGraceMs = opts.quietStreamGraceMs ?? QUIET_STREAM_GRACE_MS;
    if (opts.recordByDefault) registry.onStarted((s) => void this.start(s));
  }

  /**
   * Starts recording a live stream; returns the recording's id. When it is already recording,
   * returns the current id (a pending post-roll stop is cancelled; the pre-roll is not applied:
   * the recording already has its start). With `preRollMs`, the recording begins with the
   * buffered frames from the IDR at or before now − preRollMs, and its manifest's `startedAt` is
   * that IDR's capture time (`wallClockMs`), not the time of the request.
   */
  start(stream: LiveStream, tags: Record<string, string> = {}, opts: StartOptions = {}): string {
    if (Object.keys(tags).length > this.maxTags) throw new TagLimitError(this.maxTags);
    const current = this.active.get(stream.name);
    if (current) {
      this.cancelPendingStop(current);
      return current.writer.manifest.recordingId;
    }
    const now = this.now();
    const recordingId = newRecordingId(now, randomBytes(2).toString("hex"));
    const log = this.log.child({ stream: stream.name, recording: recordingId });
    // The reader is attached first: its snapshot of the buffer says where the recording begins.
    // It delivers on a later tick, by which time the segmenter below exists.
    let feed: FrameConsumer = () => undefined;
    // Frames carry their capture time (`wallClockMs`, from the publisher's sender reports, kept
    // within IFC_CLOCK_DRIFT_TOLERANCE_MS of ours by ingest): the pre-roll is counted on it.
    const attachOpts = opts.preRollMs === undefined ? {} : { backlogFrom: now - opts.preRollMs };
    const reader = stream.hub.attach("recorder", (frame, droppedBefore) => feed(frame, droppedBefore), undefined, attachOpts);
    // Whole ms, as every epoch time in a manifest (capture times from sender reports are fractional).
    const startedAt = reader.backlogStart ? Math.round(reader.backlogStart.wallClockMs) : now;
    const writer = new RecordingWriter(this.store, stream.name, recordingId, startedAt, log, (m) => {
      for (const l of this.changeListeners) l(stream.name, m);
    });
    const audio = stream.hub.tracks.audio;
    const segmenterAudio: SegmenterAudio | undefined = audio?.codec === "aac"
      ? { codec: "aac", channels: audio.channels, sampleRate: audio.sampleRate, config: audio.config }
      : audio ? { codec: "opus", channels: audio.channels } : undefined;
    const segmenter = new Segmenter(
      { ...this.opts, ...(segmenterAudio ? { audio: segmenterAudio } : {}) },
      {
        init: (o) => writer.init(o),
        part: (o) => writer.part(o),
        segmentClosed: (o) => writer.segmentClosed(o),
        gap: (o) => writer.gap(o),
        requestKeyframe: (reason) => stream.hub.requestKeyframe(reason),
      },
    );
    let resolveClosed!: () => void;
    const closed = new Promise<void>((r) => (resolveClosed = r));
    writer.manifest.tags = { ...tags };
    const detach = this.manifests.attach(stream.name, recordingId, writer);
    const rec: ActiveRecording = { stream, reader, segmenter, writer, closed, stopped: false, detach };
    feed = (frame, droppedBefore) => {
      // The post-roll is counted in capture time, as the pre-roll is: media captured up to `at`.
      if (rec.pendingStop && frame.wallClockMs >= rec.pendingStop.at) {
        this.endAfterPostRoll(rec);
        return;
      }
      if (frame.kind === "video") segmenter.video(frame, droppedBefore);
      else segmenter.audio(frame);
    };
    this.active.set(stream.name, rec);
    log.info({ preRollMs: opts.preRollMs, startedAt, backlogFrames: reader.stats.queued }, "recording started");
    this.emitLifecycle({ kind: "started", stream: stream.name, recordingId });
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

  /**
   * Merges tags into a recording, live or stored, through its one writer; rejects with
   * TagLimitError (nothing changed) beyond IFC_MAX_TAGS. `undefined`: no such recording.
   */
  tag(streamName: string, recordingId: string, tags: Record<string, string>): Promise<RecordingManifest | undefined> {
    return this.manifests.update(streamName, recordingId, mergeTags(tags, this.maxTags));
  }

  /**
   * Tags the live recording of a stream (the AI feed's product codes); returns its id, or
   * undefined when not recording or when the tags would pass IFC_MAX_TAGS (logged, not applied).
   */
  tagLive(streamName: string, tags: Record<string, string>): string | undefined {
    const rec = this.active.get(streamName);
    if (!rec) return undefined;
    const { recordingId, tags: current } = rec.writer.manifest;
    if (Object.keys({ ...current, ...tags }).length > this.maxTags) {
      this.log.warn({ stream: streamName, recording: recordingId, max: this.maxTags }, "tags not added: the recording has the most tags allowed");
      return undefined;
    }
    this.tag(streamName, recordingId, tags).catch((err: unknown) => this.log.warn({ err, stream: streamName, recording: recordingId }, "tags not added"));
    return recordingId;
  }

  private async stopRecording(rec: ActiveRecording): Promise<void> {
    if (rec.stopped) return;
    rec.stopped = true;
    this.cancelPendingStop(rec);
    rec.reader.detach();
    rec.segmenter.finish();
    this.closedBreaks.gaps += rec.segmenter.stats.gaps;
    this.closedBreaks.droppedAtBreaks += rec.segmenter.stats.droppedAtBreaks;
    if (this.active.get(rec.stream.name) === rec) this.active.delete(rec.stream.name);
    await rec.writer.close(Date.now());
    // Its last version is stored: later changes read it from the store.
    rec.detach();
    this.log.info({ stream: rec.stream.name, recording: rec.writer.manifest.recordingId, ...rec.writer.stats, ...rec.segmenter.stats }, "recording closed");
    this.emitLifecycle({ kind: "stopped", stream: rec.stream.name, recordingId: rec.writer.manifest.recordingId });
  }

  /** Breaks in recordings and the video units dropped at them waiting for an IDR, since start. */
  breakStats(): SegmenterStats {
    const t = { ...this.closedBreaks };
    for (const rec of this.active.values()) {
      t.gaps += rec.segmenter.stats.gaps;
      t.droppedAtBreaks += rec.segmenter.stats.droppedAtBreaks;
    }
    return t;
  }

  /** Recording started/stopped events (gRPC WatchStreams); returns a function that removes the listener. */
  onLifecycle(listener: (event: RecordingLifecycleEvent) => void): () => void {
    this.lifecycleListeners.add(listener);
    return () => this.lifecycleListeners.delete(listener);
  }

  private emitLifecycle(event: RecordingLifecycleEvent): void {
    for (const l of this.lifecycleListeners) {
      try {
        l(event);
      } catch (err) {
        this.log.warn({ err, stream: event.stream }, "recording lifecycle listener failed");
      }
    }
  }

  /**
   * Stops recording a live stream (operator request); its recording is closed cleanly. With
   * `postRollMs` > 0 it goes on with the media captured up to that long from now, then stops
   * (returns at once; a later stop request replaces the schedule, a `start` cancels it). False:
   * the stream is not being recorded.
   */
  async stop(streamName: string, opts: StopOptions = {}): Promise<boolean> {
    const rec = this.active.get(streamName);
    if (!rec) return false;
    const postRollMs = opts.postRollMs ?? 0;
    if (postRollMs > 0) {
      this.cancelPendingStop(rec);
      // Normally the frames end it (see `feed`); the timer is for a stream gone quiet.
      const timer = setTimeout(() => {
        if (!rec.stopped) this.closeInBackground(rec, this.stopNow(rec));
      }, postRollMs + this.quietStreamGraceMs);
      // Shutdown does not wait for a post-roll: the hub's close ends the recording.
      timer.unref();
      rec.pendingStop = { at: this.now() + postRollMs, timer };
      return true;
    }
    await this.stopNow(rec);
    return true;
  }

  /** From the reader's callback: nothing queued after this frame belongs to the recording. */
  private endAfterPostRoll(rec: ActiveRecording): void {
    if (!rec.stopped) this.closeInBackground(rec, this.stopRecording(rec));
  }

  /** A close nobody awaits: `flush` waits for it, and a failure is logged. */
  private closeInBackground(rec: ActiveRecording, closing: Promise<void>): void {
    const done: Promise<void> = closing
      .catch((err: unknown) => this.log.error({ err, stream: rec.stream.name, recording: rec.writer.manifest.recordingId }, "recording not closed after its post-roll"))
      .finally(() => this.closing.delete(done));
    this.closing.add(done);
  }

  private async stopNow(rec: ActiveRecording): Promise<void> {
    await rec.stream.hub.drain();
    await this.stopRecording(rec);
  }

  private cancelPendingStop(rec: ActiveRecording): void {
    if (!rec.pendingStop) return;
    clearTimeout(rec.pendingStop.timer);
    rec.pendingStop = undefined;
  }

  /** When a live recording's post-roll ends (epoch ms); undefined when no stop is scheduled. */
  pendingStopAt(streamName: string): number | undefined {
    return this.active.get(streamName)?.pendingStop?.at;
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

  /** Resolves once every recording whose stream ended, or whose post-roll did, has been written out. */
  async flush(): Promise<void> {
    await Promise.all([...this.closing]);
  }
}

