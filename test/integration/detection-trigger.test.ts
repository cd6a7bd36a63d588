import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { InProcessEventBus } from "../../src/adapters/events/in-process-event-bus.js";
import { FsObjectStore } from "../../src/adapters/storage/fs-object-store.js";
import { StreamRegistry, type LiveStream, type StreamStats } from "../../src/core/stream-registry.js";
import { nalType } from "../../src/media/h264-nal.js";
import type { VideoAccessUnit } from "../../src/media/types.js";
import { VIDEO_ANALYSIS_TOPIC } from "../../src/ports/event-bus.js";
import { DetectionTrigger } from "../../src/recorder/detection-trigger.js";
import { Recorder } from "../../src/recorder/recorder.js";
import { h264Fixture, type EncodedUnit } from "../support/h264-fixtures.js";
import { assemble, decodeErrors, probeVideoFrames, readManifests } from "../support/recording-probe.js";
import { waitFor } from "../support/wait-for.js";

/**
 * Detection-triggered recording over the real parts (stream hub and buffer, recorder, fs store,
 * in-process bus), with the analysis events the AI feed publishes. Time is the subject: frames
 * carry capture times the test chooses, and the recorder's clock is the test's.
 */
const T0 = 1_800_000_000_000;
const FPS = 30;
const PRE_ROLL_MS = 2000;
const POST_ROLL_MS = 3000;
const log = pino({ level: process.env.IFC_TEST_LOG_LEVEL ?? "warn" });

let dir: string;
let units: EncodedUnit[];
const clock = { now: T0 };
let registry: StreamRegistry;
let recorder: Recorder;
let bus: InProcessEventBus;
let trigger: DetectionTrigger;

const stats = (): StreamStats => ({ protocol: "whip", sessionId: "s", since: T0, state: "live", reconnects: 0, bitrateBps: 0, packetsReceived: 0, packetsLost: 0, framesReceived: 0, framesDropped: 0, keyframeRequests: 0 });

/** Frame i of the fixture (an IDR every 30), captured at `startMs` + i/30 s. */
function unitAt(i: number, startMs: number): VideoAccessUnit {
  const u = units[i % units.length] as EncodedUnit;
  const sps = u.nalus.find((n) => nalType(n) === 7);
  const pps = u.nalus.find((n) => nalType(n) === 8);
  const ms = startMs + Math.round((i * 1000) / FPS);
  return { kind: "video", codec: "h264", nalus: u.nalus, isKeyframe: u.isKeyframe, rtpTime: i * 3000, arrivalMs: ms, wallClockMs: ms, ...(sps ? { sps } : {}), ...(pps ? { pps } : {}) };
}

/** Publishes frames [from, to) of a stream whose frame 0 was captured at `startMs`. */
function publish(live: LiveStream, from: number, to: number, startMs: number): void {
  for (let i = from; i < to; i++) live.hub.publish(unitAt(i, startMs));
}

function detection(stream: string, className: string): void {
  bus.publish({ topic: VIDEO_ANALYSIS_TOPIC, key: stream, value: { event_type: "analysis_completed", stream_id: stream, analysis_results: { detection_count: 1, detections: [{ class_name: className, confidence: 1, attributes: {} }] } } });
}

function claim(name: string): LiveStream {
  const live = registry.claim(name, `session-${name}`, { video: { codec: "h264" } }, stats);
  registry.announce(live);
  return live;
}

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "ifc-detect-"));
  units = await h264Fixture({ width: 320, height: 240, fps: FPS, seconds: 10, gop: 30, profile: "baseline" });
  registry = new StreamRegistry({ maxStreams: 10, readerQueueFrames: 512, streamBuffer: { maxMs: 5000, maxBytes: 16 << 20 } });
  bus = new InProcessEventBus(log);
  const store = new FsObjectStore(dir);
  await store.init();
  recorder = new Recorder(registry, store, {
    recordByDefault: false, segmentDurationMs: 2000, partDurationMs: 500, keyframeRequestLeadMs: 0, maxSegmentDurationMs: 10_000, alignToWallClock: false,
    quietStreamGraceMs: 300, now: () => clock.now,
  }, log);
  trigger = new DetectionTrigger(bus, registry, recorder, { types: ["qr_code", "motion"], preRollMs: PRE_ROLL_MS, postRollMs: POST_ROLL_MS }, log);
}, 60_000);

afterAll(async () => {
  trigger.close();
  for (const s of registry.list()) registry.release(s);
  await recorder.flush();
  await rm(dir, { recursive: true, force: true });
});

describe("IFC_RECORD_ON_DETECTION", () => {
  it("a listed detection starts a recording with the pre-roll; each further one extends it; it stops POST_ROLL after the last", async () => {
    const live = claim("det1");
    const start = T0 - 4000; // 4 s of stream before the first detection, IDRs at T0-4000, -3000, -2000, -1000
    publish(live, 0, 120, start);
    detection("det1", "person"); // not listed
    expect(recorder.isRecording("det1")).toBe(false);

    detection("det1", "qr_code");
    expect(recorder.isRecording("det1")).toBe(true);
    const m = recorder.liveManifest("det1");
    expect(m?.startedAt).toBe(T0 - PRE_ROLL_MS); // the IDR at T0 − 2 s exactly
    expect(m?.tags).toEqual({ trigger: "detection", detection: "qr_code" });
    expect(recorder.pendingStopAt("det1")).toBe(T0 + POST_ROLL_MS);

    // one second on, another detection pushes the stop to T0 + 1 s + POST_ROLL
    publish(live, 120, 150, start);
    clock.now = T0 + 1000;
    detection("det1", "motion");
    expect(recorder.pendingStopAt("det1")).toBe(T0 + 1000 + POST_ROLL_MS);
    clock.now = T0 + 2500;
    detection("det1", "person"); // not listed: no extension
    expect(recorder.pendingStopAt("det1")).toBe(T0 + 1000 + POST_ROLL_MS);

    // frames captured up to just before T0 + 4 s: still recording (the first stop time has passed)
    const lastBefore = Math.ceil(((T0 + 1000 + POST_ROLL_MS - start) * FPS) / 1000) - 1; // captured < T0 + 4000
    publish(live, 150, lastBefore + 1, start);
    await live.hub.drain();
    expect(recorder.isRecording("det1")).toBe(true);
    // the first frame captured at or after the stop time ends it
    publish(live, lastBefore + 1, lastBefore + 10, start);
    await waitFor(() => !recorder.isRecording("det1"), { what: "the post-roll's end" });
    await recorder.flush();

    const [stored] = await readManifests(dir, "det1");
    expect(stored?.startedAt).toBe(T0 - PRE_ROLL_MS);
    expect(stored?.endedAt).not.toBeNull();
    const file = await assemble(dir, stored as NonNullable<typeof stored>);
    const frames = await probeVideoFrames(file);
    expect(await decodeErrors(file)).toBe("");
    expect(frames[0]?.keyFrame).toBe(true);
    // from the IDR at T0 − 2 s (frame 60) to the last frame captured before T0 + 4 s: every one
    expect(frames.length).toBe(lastBefore + 1 - 60);
  });

  it("a detection while an operator's recording runs leaves it alone (no stop scheduled)", async () => {
    const live = claim("det2");
    publish(live, 0, 60, clock.now - 2000);
    const id = recorder.start(live, { by: "operator" });
    detection("det2", "qr_code");
    expect(recorder.liveManifest("det2")?.recordingId).toBe(id);
    expect(recorder.pendingStopAt("det2")).toBeUndefined();
    expect(await recorder.stop("det2")).toBe(true);
  });

  it("a stream that goes quiet during the post-roll still ends its recording (after the grace)", async () => {
    const live = claim("det3");
    publish(live, 0, 45, clock.now - 1500);
    detection("det3", "qr_code");
    expect(recorder.isRecording("det3")).toBe(true);
    // no more frames: the timer (post-roll + grace, real time) ends it
    await waitFor(() => !recorder.isRecording("det3"), { timeoutMs: POST_ROLL_MS + 5000, what: "the quiet stream's recording to end" });
    await recorder.flush();
    const [stored] = await readManifests(dir, "det3");
    expect(stored?.endedAt).not.toBeNull();
    expect(stored?.segments.length).toBeGreaterThan(0);
  });

  it("a detection on a stream that is not live, or an event without detections, does nothing", () => {
    detection("nobody", "qr_code");
    bus.publish({ topic: VIDEO_ANALYSIS_TOPIC, key: "det1", value: { stream_id: "det1" } });
    expect(recorder.isRecording("nobody")).toBe(false);
  });
});
