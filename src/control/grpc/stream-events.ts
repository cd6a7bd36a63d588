import type { StreamRegistry } from "../../core/stream-registry.js";
import { StreamEventType, type StreamEvent } from "../../generated/imageflow/v1/ingest_control.js";
import type { ClipService } from "../../recorder/clips.js";
import type { Recorder } from "../../recorder/recorder.js";

export type StreamEventListener = (event: StreamEvent) => void;

function event(type: StreamEventType, stream: string, fields: Partial<StreamEvent> = {}, now = Date.now()): StreamEvent {
  return { type, stream, atMs: now, recordingId: "", segmentSeq: 0, segmentDurationMs: 0, clipId: "", protocol: "", snapshot: false, ...fields };
}

/**
 * What happens to streams, gathered once from the services (registry, recorder, clip service)
 * for every WatchStreams call: each call subscribes here instead of to the services, so a
 * thousand watchers add one listener each to this feed and none to the media path.
 */
export class StreamEventFeed {
  private readonly listeners = new Set<StreamEventListener>();
  private readonly unsubscribe: (() => void)[] = [];
  /** Highest completed segment seq announced, per `stream/recording`. */
  private readonly segmentsSeen = new Map<string, number>();
  private closed = false;

  constructor(deps: { registry: StreamRegistry; recorder: Recorder; clips: ClipService }) {
    // The registry has no unsubscribe: a closed feed ignores its calls.
    deps.registry.onStarted((s) => this.emit(event(StreamEventType.STREAM_EVENT_TYPE_PUBLISHED, s.name, { protocol: s.stats().protocol })));
    deps.registry.onEnded((s) => this.emit(event(StreamEventType.STREAM_EVENT_TYPE_UNPUBLISHED, s.name)));
    this.unsubscribe.push(
      deps.recorder.onLifecycle((e) => {
        const key = `${e.stream}/${e.recordingId}`;
        if (e.kind === "stopped") this.segmentsSeen.delete(key);
        const type = e.kind === "started" ? StreamEventType.STREAM_EVENT_TYPE_RECORDING_STARTED : StreamEventType.STREAM_EVENT_TYPE_RECORDING_STOPPED;
        this.emit(event(type, e.stream, { recordingId: e.recordingId }));
      }),
      deps.recorder.onManifestChange((stream, m) => {
        if (m.endedAt !== null) return;
        const key = `${stream}/${m.recordingId}`;
        const seen = this.segmentsSeen.get(key) ?? -1;
        for (const seg of m.segments) {
          if (!seg.complete || seg.seq <= seen) continue;
          this.segmentsSeen.set(key, seg.seq);
          this.emit(event(StreamEventType.STREAM_EVENT_TYPE_SEGMENT_COMPLETED, stream, { recordingId: m.recordingId, segmentSeq: seg.seq, segmentDurationMs: seg.durationMs }));
        }
      }),
      deps.clips.onCreated((c) => this.emit(event(StreamEventType.STREAM_EVENT_TYPE_CLIP_EXPORTED, c.stream, { clipId: c.id, recordingId: c.sourceRecordingId }))),
    );
  }

  /** Returns the unsubscribe. */
  subscribe(listener: StreamEventListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  get watchers(): number {
    return this.listeners.size;
  }

  close(): void {
    this.closed = true;
    this.listeners.clear();
    for (const u of this.unsubscribe.splice(0)) u();
  }

  private emit(e: StreamEvent): void {
    if (this.closed) return;
    for (const l of this.listeners) l(e);
  }
}

export { event as streamEvent };
