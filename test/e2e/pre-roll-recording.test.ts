import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { MediaFrame } from "../../src/media/types.js";
import type { RecordingManifest } from "../../src/recorder/manifest.js";
import { publishTestStream, type TestStreamPublisher } from "../helpers/publish-test-stream.js";
import { assemble, decodeErrors, probeVideoFrames, readManifests, type ProbedFrame } from "../support/recording-probe.js";
import { startTestServer, type TestServer } from "../support/server-harness.js";
import { waitFor } from "../support/wait-for.js";

/**
 * Recording on demand with pre-roll, end to end: IFC_RECORD=false, an ffmpeg → werift publisher
 * with an IDR every second, a start request with preRollMs 5000 after ~8 s of stream, a stop
 * request with a post-roll. The recording must begin at the buffered IDR at or before T − 5 s,
 * with the manifest's start at that frame's capture time as the server saw it (RTCP SR), and end
 * no earlier than the post-roll.
 */
const FPS = 30;
const FRAME_MS = 1000 / FPS;
const PRE_ROLL_MS = 5000;
const POST_ROLL_MS = 2000;

interface Seen { wallClockMs: number; arrivalMs: number; isKeyframe: boolean }

let ts: TestServer;
let pub: TestStreamPublisher | undefined;
/** Every video frame the server's hub carried, as a reader of its own saw it. */
const seen: Seen[] = [];
let requestedAt = 0;
let answeredAt = 0;
let started: { status: number; body: { recordingId: string; startedAt: number } };
let stopRequestedAt = 0;
let stopped: { status: number; body: { recording: boolean; stopsAt: number } };
let manifest: RecordingManifest;
let frames: ProbedFrame[];
let errors: string;

beforeAll(async () => {
  ts = await startTestServer({ recordByDefault: false, streamBufferMs: 8000, segmentDurationMs: 2000, partDurationMs: 500 });
  pub = await publishTestStream(`${ts.url}/whip/pre1`, { width: 320, height: 240, fps: FPS, gopSeconds: 1, durationSeconds: 30, audio: false, preset: "ultrafast" });
  const live = ts.server.registry.get("pre1");
  if (!live) throw new Error("stream not live");
  live.hub.attach("test-tap", (f: MediaFrame) => {
    if (f.kind === "video") seen.push({ wallClockMs: f.wallClockMs, arrivalMs: f.arrivalMs, isKeyframe: f.isKeyframe });
  }, 10_000);
  const span = () => (seen.length > 1 ? (seen.at(-1) as Seen).wallClockMs - (seen[0] as Seen).wallClockMs : 0);
  await waitFor(() => span() >= 8000, { timeoutMs: 30_000, what: "8 s of stream" });
  expect(ts.server.recorder.isRecording("pre1")).toBe(false);

  requestedAt = Date.now();
  const res = await fetch(`${ts.url}/api/v1/streams/pre1/recording`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ preRollMs: PRE_ROLL_MS, tags: { case: "pre-roll" } }) });
  answeredAt = Date.now();
  started = { status: res.status, body: (await res.json()) as typeof started.body };

  // ~1.5 s of live recording after the start, then a stop with a post-roll.
  await waitFor(() => (seen.at(-1)?.arrivalMs ?? 0) >= answeredAt + 1500, { timeoutMs: 15_000, what: "live frames after the start" });
  stopRequestedAt = Date.now();
  const del = await fetch(`${ts.url}/api/v1/streams/pre1/recording?postRollMs=${POST_ROLL_MS}`, { method: "DELETE" });
  stopped = { status: del.status, body: (await del.json()) as typeof stopped.body };
  await waitFor(() => !ts.server.recorder.isRecording("pre1"), { timeoutMs: 15_000, what: "the post-roll's end" });
  await ts.server.recorder.flush();
  await waitFor(async () => (await readManifests(ts.dataDir, "pre1").catch(() => []))[0]?.endedAt != null, { what: "the closed manifest" });
  manifest = (await readManifests(ts.dataDir, "pre1"))[0] as RecordingManifest;
  const file = await assemble(ts.dataDir, manifest);
  frames = await probeVideoFrames(file);
  errors = await decodeErrors(file);
}, 120_000);

/**
 * Where in the hub's order the recording begins: the IDR whose capture time is the manifest's
 * start. Matched among IDRs only: a sender report re-anchors capture times (by the publisher's
 * send lag, most of a second on a loaded machine), so a P-frame from before it can carry the same
 * rounded time as the IDR after it.
 */
function startIndex(): number {
  for (let i = seen.length - 1; i >= 0; i--) {
    const s = seen[i] as Seen;
    if (s.isKeyframe && Math.round(s.wallClockMs) === manifest.startedAt) return i;
  }
  return -1;
}

afterAll(async () => {
  await pub?.stop();
  await ts?.stop();
});

describe("recording on demand with pre-roll (IFC_RECORD=false)", () => {
  it("answers 201 with the start of the recording, before the request by about the pre-roll", () => {
    expect(started.status).toBe(201);
    expect(started.body.startedAt).toBe(manifest.startedAt);
    expect(manifest.recordingId).toBe(started.body.recordingId);
    expect(manifest.tags).toEqual({ case: "pre-roll" });
  });

  it("begins at the IDR at or before T − 5 s: the latest such IDR the server saw", () => {
    const start = manifest.startedAt;
    expect(start).toBeLessThanOrEqual(answeredAt - PRE_ROLL_MS);
    const at = startIndex();
    expect(at).toBeGreaterThanOrEqual(0);
    // The latest such IDR: every later one (in the order the hub carried them; capture times
    // from sender reports need not be monotonic) was captured after T − 5 s.
    const later = seen.slice(at + 1).filter((s) => s.isKeyframe);
    expect(later.length).toBeGreaterThan(0);
    for (const k of later) expect(k.wallClockMs).toBeGreaterThan(requestedAt - PRE_ROLL_MS);
  });

  it("its first frame is that IDR, with its capture time in the manifest within one frame interval", () => {
    expect(frames[0]?.keyFrame).toBe(true);
    const seg0 = manifest.segments[0];
    expect(Math.abs((seg0?.startMs ?? 0) - manifest.startedAt)).toBeLessThanOrEqual(FRAME_MS);
  });

  it("holds every frame from the pre-roll's IDR up to the post-roll's end, decoding cleanly", () => {
    expect(errors).toBe("");
    // Exactly the frames the hub carried from that IDR to the first one captured after the
    // post-roll's end (counted in capture time, like the pre-roll): none lost, none twice.
    const first = startIndex();
    const end = seen.findIndex((f, i) => i > first && f.wallClockMs >= stopped.body.stopsAt);
    expect(first).toBeGreaterThanOrEqual(0);
    expect(end).toBeGreaterThan(first);
    expect(frames.length).toBe(end - first);
    // no frame twice: the backlog and the live frames meet without overlap
    const pts = frames.map((f) => f.ptsTime);
    expect(new Set(pts).size).toBe(pts.length);
  });

  it("DELETE with postRollMs answers 202 and the recording ends no earlier than the post-roll", () => {
    expect(stopped.status).toBe(202);
    expect(stopped.body.recording).toBe(true);
    expect(stopped.body.stopsAt).toBeGreaterThanOrEqual(stopRequestedAt + POST_ROLL_MS);
    expect(manifest.endedAt).toBeGreaterThanOrEqual(stopRequestedAt + POST_ROLL_MS);
  });

  it("exports the stream buffer's size as ifc_stream_buffer_bytes", async () => {
    const text = await (await fetch(`${ts.url}/metrics`)).text();
    const bytes = Number(/ifc_stream_buffer_bytes\{stream="pre1"\} (\d+)/.exec(text)?.[1]);
    expect(bytes).toBeGreaterThan(0);
    expect(bytes).toBeLessThanOrEqual(32 * 1024 * 1024); // IFC_STREAM_BUFFER_BYTES (default)
  });

  it("refuses a pre-roll beyond IFC_STREAM_BUFFER_MS with a problem naming the limit; the limit itself is accepted", async () => {
    const over = await fetch(`${ts.url}/api/v1/streams/pre1/recording`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ preRollMs: 8001 }) });
    expect(over.status).toBe(400);
    expect(over.headers.get("content-type")).toContain("application/problem+json");
    const problem = (await over.json()) as { detail: string; type: string };
    expect(problem.detail).toContain("IFC_STREAM_BUFFER_MS");
    expect(problem.type).toContain("pre-roll-too-long");
    const at = await fetch(`${ts.url}/api/v1/streams/pre1/recording`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ preRollMs: 8000 }) });
    expect(at.status).toBe(201);
    const again = await fetch(`${ts.url}/api/v1/streams/pre1/recording`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ preRollMs: 1000 }) });
    expect(again.status).toBe(200); // already recording: the current recording
    expect((await fetch(`${ts.url}/api/v1/streams/pre1/recording?postRollMs=3600001`, { method: "DELETE" })).status).toBe(400);
    expect((await fetch(`${ts.url}/api/v1/streams/pre1/recording?postRollMs=3600000`, { method: "DELETE" })).status).toBe(202); // MAX_POST_ROLL_MS
    // a plain DELETE stops at once, pending post-roll or not
    expect((await fetch(`${ts.url}/api/v1/streams/pre1/recording`, { method: "DELETE" })).status).toBe(200);
    expect(ts.server.recorder.isRecording("pre1")).toBe(false);
  });
});
