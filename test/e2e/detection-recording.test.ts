import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { VIDEO_ANALYSIS_TOPIC } from "../../src/ports/event-bus.js";
import type { RecordingManifest } from "../../src/recorder/manifest.js";
import { publishTestStream } from "../helpers/publish-test-stream.js";
import { assemble, decodeErrors, probeVideoFrames, readManifests } from "../support/recording-probe.js";
import QRCode from "qrcode";
import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { startTestServer, type TestServer } from "../support/server-harness.js";
import { waitFor } from "../support/wait-for.js";

/**
 * IFC_RECORD_ON_DETECTION end to end: IFC_RECORD=false, a published video with a QR code, the
 * one decoder → the bundled reference worker's qr_code detector → the analysis event on the bus
 * → a recording that starts with the buffered pre-roll, tagged with its trigger.
 */
const PRE_ROLL_MS = 2000;
const POST_ROLL_MS = 1000;
/** The QR code shows from this second of the video on: the stream buffer holds more than the pre-roll by then. */
const QR_FROM_S = 4;

/** The moving test pattern, with a QR code overlaid from QR_FROM_S to its end (8 s, an IDR each second). */
async function lateQrVideo(dir: string): Promise<string> {
  const png = path.join(dir, "qr.png");
  await QRCode.toFile(png, "DETECT-ME", { errorCorrectionLevel: "M", scale: 6, margin: 4 });
  const file = path.join(dir, "late-qr.mp4");
  await promisify(execFile)("ffmpeg", [
    "-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30", "-i", png,
    "-filter_complex", `[0:v][1:v]overlay=200:60:enable='gte(t,${QR_FROM_S})'`,
    "-t", "8", "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-g", "30", "-bf", "0", file,
  ]);
  return file;
}

let ts: TestServer;
let dir: string;
let firstDetectionAt = 0;
let lastDetectionAt = 0;
let stillLiveAtStop = false;
let detectionsSeen = 0;
let manifest: RecordingManifest;
/** Capture times of the IDRs the stream's hub carried, from its start. */
const keyframes: number[] = [];

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "ifc-detrec-"));
  const video = await lateQrVideo(dir);
  ts = await startTestServer({
    aiEnabled: true, recordByDefault: false, recordOnDetection: ["qr_code"], recordOnDetectionPreRollMs: PRE_ROLL_MS, recordOnDetectionPostRollMs: POST_ROLL_MS,
    streamBufferMs: 5000, segmentDurationMs: 1000, partDurationMs: 500,
  });
  ts.server.bus.subscribe(VIDEO_ANALYSIS_TOPIC, (e) => {
    const results = e.value.analysis_results as { detections: { class_name: string }[] };
    if (!results.detections.some((d) => d.class_name === "qr_code")) return;
    detectionsSeen++;
    lastDetectionAt = Date.now();
    if (firstDetectionAt === 0) firstDetectionAt = Date.now();
  });
  ts.server.registry.onStarted((live) => {
    live.hub.attach("test-tap", (f) => {
      if (f.kind === "video" && f.isKeyframe) keyframes.push(Math.round(f.wallClockMs));
    }, 10_000);
  });
  // 10 s of the looped 8 s file: the code shows from 4 s to 8 s, then not again before the end.
  const pub = await publishTestStream(`${ts.url}/whip/det1`, { width: 640, height: 360, fps: 30, gopSeconds: 1, durationSeconds: 10, audio: false, input: video });
  await waitFor(() => ts.server.recorder.isRecording("det1"), { timeoutMs: 30_000, what: "a recording started by a detection" });
  // the post-roll after the last detection ends it while the stream is still live
  await waitFor(() => !ts.server.recorder.isRecording("det1"), { timeoutMs: 30_000, what: "the post-roll's end" });
  stillLiveAtStop = ts.server.registry.get("det1") !== undefined;
  await ts.server.recorder.flush();
  await pub.done;
  await pub.stop();
  await waitFor(async () => (await readManifests(ts.dataDir, "det1").catch(() => [])).some((m) => m.endedAt !== null), { what: "the closed recording" });
  manifest = (await readManifests(ts.dataDir, "det1"))[0] as RecordingManifest;
}, 120_000);

afterAll(async () => {
  await ts?.stop();
  await rm(dir, { recursive: true, force: true });
});

describe("a qr_code detection starts a recording with pre-roll (IFC_RECORD=false)", () => {
  it("records, tagged with its trigger, beginning before the first detection by about the pre-roll", () => {
    expect(detectionsSeen).toBeGreaterThan(0);
    expect(manifest.tags).toMatchObject({ trigger: "detection", detection: "qr_code" });
    // It begins at the IDR at or before the detection − pre-roll (1 s GOPs; capture times from
    // sender reports are noisy by a few hundred ms), a frame the stream carried.
    expect(keyframes).toContain(manifest.startedAt);
    expect(manifest.startedAt).toBeGreaterThan(keyframes[0] as number); // the buffer held more than the pre-roll
    expect(manifest.startedAt).toBeLessThanOrEqual(firstDetectionAt - PRE_ROLL_MS);
    expect(manifest.startedAt).toBeGreaterThan(firstDetectionAt - PRE_ROLL_MS - 2000);
  });

  it("stops the post-roll after the last detection, while the stream is still live", () => {
    expect(stillLiveAtStop).toBe(true);
    expect(manifest.endedAt).toBeGreaterThanOrEqual(lastDetectionAt + POST_ROLL_MS - 500);
  });

  it("decodes from its first frame, an IDR", async () => {
    const file = await assemble(ts.dataDir, manifest);
    const frames = await probeVideoFrames(file);
    expect(frames[0]?.keyFrame).toBe(true);
    expect(frames.length).toBeGreaterThan(60);
    expect(await decodeErrors(file)).toBe("");
  });
});
