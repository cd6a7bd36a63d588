import { describe, expect, it } from "vitest";
import { InProcessEventBus } from "../../../src/adapters/events/in-process-event-bus.js";
import { STREAM_EVENTS_TOPIC, type BusEvent } from "../../../src/ports/event-bus.js";
import type { RecordingManifest, SegmentEntry } from "../../../src/ports/recording-manifest.js";
import { RecordingEvents } from "../../../src/recorder/recording-events.js";

const seg = (seq: number, complete: boolean): SegmentEntry => ({ seq, init: 0, startMs: 1000 + seq * 4000, startDts: seq * 360_000, durationMs: 4000, bytes: 1000 + seq, keyframe: true, complete, parts: [] });
const manifest = (recordingId: string, segments: SegmentEntry[], endedAt: number | null = null): RecordingManifest => ({
  version: 1, stream: "cam", recordingId, startedAt: 1000, endedAt, tags: {}, inits: [], segments,
});

describe("RecordingEvents: the recorder's stream-events", () => {
  it("tells recording-started once, each segment once when it completes, recording-stopped at the end, and starts over for the next recording", () => {
    const bus = new InProcessEventBus();
    const got: BusEvent[] = [];
    bus.subscribe(STREAM_EVENTS_TOPIC, (e) => got.push(e));
    const ev = new RecordingEvents(bus, () => 5000);
    ev.manifestChanged("cam", manifest("r1", [seg(0, false)]));
    ev.manifestChanged("cam", manifest("r1", [seg(0, false)])); // a part: nothing new
    ev.manifestChanged("cam", manifest("r1", [seg(0, true), seg(1, false)]));
    ev.manifestChanged("cam", manifest("r1", [seg(0, true), seg(1, true)], 9000));
    ev.manifestChanged("cam", manifest("r1", [seg(0, true), seg(1, true)], 9000)); // told again: nothing new
    ev.manifestChanged("cam", manifest("r2", [seg(0, true)]));
    const types = got.map((e) => [e.key, e.value.type, e.value.recordingId, e.value.seq]);
    expect(types).toEqual([
      ["cam", "recording-started", "r1", undefined],
      ["cam", "segment-completed", "r1", 0],
      ["cam", "segment-completed", "r1", 1],
      ["cam", "recording-stopped", "r1", undefined],
      ["cam", "recording-started", "r2", undefined],
      ["cam", "segment-completed", "r2", 0],
    ]);
    expect(got[1]?.value).toMatchObject({ stream: "cam", startMs: 1000, durationMs: 4000, bytes: 1000, at: 5000 });
  });

  it("tells clip-exported keyed by the clip's stream", () => {
    const bus = new InProcessEventBus();
    const got: BusEvent[] = [];
    bus.subscribe(STREAM_EVENTS_TOPIC, (e) => got.push(e));
    new RecordingEvents(bus, () => 7).clipExported({ id: "c1", stream: "dock", startMs: 10, durationMs: 2000, bytes: 99, sourceRecordingId: "r9" });
    expect(got).toEqual([{ topic: STREAM_EVENTS_TOPIC, key: "dock", value: { type: "clip-exported", stream: "dock", at: 7, recordingId: "r9", clipId: "c1", startMs: 10, durationMs: 2000, bytes: 99 } }]);
  });
});
