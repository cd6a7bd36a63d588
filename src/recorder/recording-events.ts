import { STREAM_EVENTS_TOPIC, type EventBus, type StreamLifecycleEvent } from "../ports/event-bus.js";
import type { RecordingManifest } from "../ports/recording-manifest.js";

interface Seen {
  recordingId: string;
  /** Segments already told as completed (their seq). */
  completed: Set<number>;
  ended: boolean;
}

/**
 * The recorder's side of `stream-events`, derived from its manifest changes: a new recording id
 * is `recording-started`, a segment turning complete is `segment-completed`, a manifest with an
 * end time is `recording-stopped`; a kept clip is `clip-exported`. Each is told once, in the
 * recorder's order, keyed by stream.
 */
export class RecordingEvents {
  private readonly seen = new Map<string, Seen>();

  constructor(private readonly bus: EventBus, private readonly now: () => number = Date.now) {}

  manifestChanged(stream: string, m: RecordingManifest): void {
    let s = this.seen.get(stream);
    if (!s || s.recordingId !== m.recordingId) {
      s = { recordingId: m.recordingId, completed: new Set(), ended: false };
      this.seen.set(stream, s);
      this.emit({ type: "recording-started", stream, at: m.startedAt, recordingId: m.recordingId });
    }
    if (s.ended) return;
    for (const seg of m.segments) {
      if (!seg.complete || s.completed.has(seg.seq)) continue;
      s.completed.add(seg.seq);
      this.emit({ type: "segment-completed", stream, at: this.now(), recordingId: m.recordingId, seq: seg.seq, startMs: seg.startMs, durationMs: seg.durationMs, bytes: seg.bytes });
    }
    if (m.endedAt !== null && !s.ended) {
      s.ended = true;
      this.emit({ type: "recording-stopped", stream, at: m.endedAt, recordingId: m.recordingId });
      s.completed.clear(); // kept only to ignore a late repeat of the ended manifest
    }
  }

  clipExported(clip: { id: string; stream: string; startMs: number; durationMs: number; bytes: number; sourceRecordingId: string }): void {
    this.emit({ type: "clip-exported", stream: clip.stream, at: this.now(), recordingId: clip.sourceRecordingId, clipId: clip.id, startMs: clip.startMs, durationMs: clip.durationMs, bytes: clip.bytes });
  }

  private emit(value: StreamLifecycleEvent): void {
    this.bus.publish({ topic: STREAM_EVENTS_TOPIC, key: value.stream, value });
  }
}
