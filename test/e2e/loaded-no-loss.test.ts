import { execFile, spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RecordingManifest } from "../../src/recorder/manifest.js";
import type { SentStats } from "../helpers/ffmpeg-rtp-source.js";
import { publishTestStream, type TestStreamPublisher } from "../helpers/publish-test-stream.js";
import { assemble, decodeErrors, probeVideoFrames, readManifests, type ProbedFrame } from "../support/recording-probe.js";
import { startTestServer, type TestServer } from "../support/server-harness.js";
import { waitFor } from "../support/wait-for.js";

/**
 * Issue 12, point 3: with one core kept busy by an unrelated process, a 3 Mbit/s 1280x720@30
 * publisher for 60 s loses no frame from its recording, and the recording's largest gap between
 * two frames is one frame interval. Packets lost here are lost at the server's own UDP socket
 * (the kernel's default receive buffer holds ~0.6 s at 3 Mbit/s) or not recovered by NACK:
 * IFC_RTC_RECV_BUFFER_BYTES and NACK are what make this hold.
 *
 * The video is encoded before the run (10 s of x264 at 3 Mbit/s, 1 s GOP, looped by the source
 * with continuous timestamps) and sent as it is, so the publisher's own encoder does not compete
 * for the CPU: only the busy process and the server do.
 */
const PUBLISH_S = 60;
const FPS = 30;

const execFileAsync = promisify(execFile);

let scratch: string;
let hog: ChildProcess | undefined;
let ts: TestServer;
let pub: TestStreamPublisher | undefined;
let sent: SentStats;
let streamStats: { packetsReceived: number; packetsLost: number; framesReceived: number; framesDropped: number; bitrateBps: number };
let manifest: RecordingManifest;
let frames: ProbedFrame[];
let file: string;

beforeAll(async () => {
  scratch = await mkdtemp(path.join(tmpdir(), "ifc-loaded-"));
  // MPEG-TS: SPS/PPS in-band before every IDR, which the copied RTP stream must carry.
  const clip = path.join(scratch, "clip-720p-3M.ts");
  await execFileAsync("ffmpeg", ["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", `testsrc2=size=1280x720:rate=${FPS}`, "-t", "10",
    "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-bf", "0", "-g", String(FPS), "-keyint_min", String(FPS), "-sc_threshold", "0", "-pix_fmt", "yuv420p",
    "-b:v", "3M", "-maxrate", "3M", "-bufsize", "1M", clip]);
  // the unrelated load: one core spinning for the whole run
  hog = spawn(process.execPath, ["-e", "for(;;){}"], { stdio: "ignore" });
  ts = await startTestServer();
  pub = await publishTestStream(`${ts.url}/whip/cam1`, { width: 1280, height: 720, fps: FPS, gopSeconds: 1, durationSeconds: PUBLISH_S, audio: false, input: clip, videoCopy: true, connectTimeoutMs: 30_000 });
  await pub.done;
  // Barrier: the server has accounted for every packet sent (received, or given up on).
  const expected = pub.stats.videoPackets;
  await waitFor(
    async () => {
      const res = await fetch(`${ts.url}/api/v1/streams/cam1`);
      streamStats = (await res.json()) as typeof streamStats;
      return streamStats.packetsReceived + streamStats.packetsLost >= expected;
    },
    { timeoutMs: 20_000, intervalMs: 100, what: `the server accounting for the ${expected} packets sent` },
  ).catch(() => undefined); // a packet lost at the tail is never counted: the frame count below says so
  sent = { ...pub.stats };
  await pub.stop();
  pub = undefined;
  hog.kill("SIGKILL");
  hog = undefined;
  await ts.server.recorder.flush();
  const manifests = await readManifests(ts.dataDir, "cam1");
  expect(manifests.length).toBe(1);
  manifest = manifests[0] as RecordingManifest;
  file = await assemble(ts.dataDir, manifest);
  frames = await probeVideoFrames(file);
}, 240_000);

afterAll(async () => {
  hog?.kill("SIGKILL");
  await pub?.stop();
  await ts?.stop();
  if (scratch) await rm(scratch, { recursive: true, force: true });
});

/** Largest gap between consecutive frames, in seconds, and where it is. */
function largestGap(fs: ProbedFrame[]): { gap: number; at: number } {
  const pts = fs.map((f) => f.ptsTime).sort((a, b) => a - b);
  let gap = 0;
  let at = 0;
  for (let i = 1; i < pts.length; i++) {
    const d = (pts[i] ?? 0) - (pts[i - 1] ?? 0);
    if (d > gap) {
      gap = d;
      at = pts[i - 1] ?? 0;
    }
  }
  return { gap, at };
}

describe("a 3 Mbit/s publisher on a machine with a busy core", () => {
  it("sent 60 s of 720p30 at about 3 Mbit/s", () => {
    const mbps = (sent.videoBytes * 8) / PUBLISH_S / 1e6;
    console.log(`sent ${sent.videoFrames} frames, ${sent.videoPackets} packets, ${mbps.toFixed(2)} Mbit/s; server: ${JSON.stringify(streamStats)}`);
    expect(sent.videoFrames).toBeGreaterThanOrEqual(PUBLISH_S * FPS - FPS);
    expect(mbps).toBeGreaterThan(2.5);
    expect(mbps).toBeLessThan(3.5);
  });

  it("records every frame sent, decodable", async () => {
    const { gap, at } = largestGap(frames);
    console.log(`recorded ${frames.length} of ${sent.videoFrames} frames (${sent.videoFrames - frames.length} lost); server lost ${streamStats.packetsLost} packets, dropped ${streamStats.framesDropped} frames; largest gap ${(gap * 1000).toFixed(1)} ms at ${at.toFixed(2)} s`);
    expect(streamStats.packetsLost).toBe(0);
    expect(frames.length).toBe(sent.videoFrames);
    expect(await decodeErrors(file)).toBe("");
  });

  it("has no gap longer than one frame interval", () => {
    const { gap, at } = largestGap(frames);
    // one frame interval, with the 90 kHz clock's rounding
    expect(gap, `gap at ${at.toFixed(2)} s`).toBeLessThanOrEqual(1 / FPS + 0.001);
  });
});
