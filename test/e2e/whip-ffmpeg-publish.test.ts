import { writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RecordingManifest } from "../../src/recorder/manifest.js";
import { publishTestStream } from "../helpers/publish-test-stream.js";
import { assemble, decodeErrors, probeStreams, probeVideoFrames, readManifests } from "../support/recording-probe.js";
import { expectNoIngestLoss } from "../support/ingest-accounting.js";
import { startTestServer, type TestServer } from "../support/server-harness.js";

/**
 * The foundation's main path: a werift WHIP client fed by ffmpeg (testsrc2, libx264 720p30,
 * 1 s GOP, Opus tone) publishes 10 s; the recording must hold exactly what was sent.
 */
let ts: TestServer;
let manifest: RecordingManifest;
let sent: { videoFrames: number; keyframes: number; audioPackets: number };
let connectMs: number;

beforeAll(async () => {
  ts = await startTestServer();
  const pub = await publishTestStream(`${ts.url}/whip/cam1`, { width: 1280, height: 720, fps: 30, gopSeconds: 1, durationSeconds: 10, audio: true });
  connectMs = pub.timings.connectedAt - pub.timings.postSentAt;
  await pub.done;
  // the last packets crossed loopback, none lost (or this names the loss), before the session is deleted
  await expectNoIngestLoss(ts.url, "cam1", pub.stats);
  sent = { ...pub.stats };
  await pub.stop();
  await ts.server.recorder.flush();
  const manifests = await readManifests(ts.dataDir, "cam1");
  expect(manifests.length).toBe(1);
  manifest = manifests[0] as RecordingManifest;
}, 120_000);

afterAll(async () => {
  await ts?.stop();
});

describe("WHIP publish (werift + ffmpeg) → fMP4 recording", () => {
  it("connects quickly and sent what it should", () => {
    console.log(`POST→connected: ${connectMs} ms; sent ${sent.videoFrames} video frames (${sent.keyframes} IDR), ${sent.audioPackets} audio packets`);
    expect(sent.videoFrames).toBeGreaterThanOrEqual(290);
    expect(sent.keyframes).toBeGreaterThanOrEqual(10);
    expect(sent.audioPackets).toBeGreaterThan(400);
  });

  it("records exactly the frames sent, decodable, with audio", async () => {
    expect(manifest.endedAt).not.toBeNull();
    expect(manifest.inits.length).toBe(1);
    expect(manifest.inits[0]).toMatchObject({ width: 1280, height: 720 });
    const file = await assemble(ts.dataDir, manifest);
    const frames = await probeVideoFrames(file);
    expect(frames.length).toBe(sent.videoFrames);
    expect(await decodeErrors(file)).toBe("");
    const streams = await probeStreams(file);
    expect(streams.map((s) => s.codec_name).sort()).toEqual(["h264", "opus"]);
    const audio = streams.find((s) => s.codec_type === "audio");
    expect(Number(audio?.nb_read_packets)).toBeGreaterThan(sent.audioPackets - 10);
    expect(Number(audio?.nb_read_packets)).toBeLessThanOrEqual(sent.audioPackets);
  });

  it("starts every segment with an IDR and cuts them within one frame of 4 s", async () => {
    const segs = manifest.segments;
    expect(segs.length).toBeGreaterThanOrEqual(3);
    for (const seg of segs) {
      expect(seg.keyframe).toBe(true);
      expect(seg.parts[0]?.independent).toBe(true);
      const frames = await probeVideoFrames(await assemble(ts.dataDir, manifest, [seg]));
      expect(frames[0]?.keyFrame).toBe(true);
    }
    for (const seg of segs.slice(0, -1)) expect(Math.abs(seg.durationMs - 4000)).toBeLessThanOrEqual(1000 / 30 + 0.5);
    // parts of about a second: the most a crash can lose
    for (const seg of segs) for (const p of seg.parts.slice(0, -1)) expect(p.durationMs).toBeLessThanOrEqual(1000 + 1000 / 30 + 0.5);
  });

  it("lists the recording and plays a span back as fMP4 with a monotonic timeline", async () => {
    const list = (await (await fetch(`${ts.url}/api/v1/recordings?stream=cam1`)).json()) as { recordings: { startMs: number; durationMs: number; bytes: number; live: boolean }[] };
    expect(list.recordings.length).toBe(1);
    const span = list.recordings[0] as { startMs: number; durationMs: number; bytes: number; live: boolean };
    expect(span.live).toBe(false);
    expect(span.durationMs).toBeGreaterThan(9000);
    expect(span.bytes).toBeGreaterThan(100_000);

    const res = await fetch(`${ts.url}/api/v1/recordings/cam1/play?start=${new Date(span.startMs).toISOString()}&duration=${Math.ceil(span.durationMs / 1000)}`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("video/mp4");
    const body = Buffer.from(await res.arrayBuffer());
    expect(body.length).toBe(Number(res.headers.get("content-length")));
    const file = path.join(ts.dataDir, "played.mp4");
    await writeFile(file, body);
    const frames = await probeVideoFrames(file);
    expect(frames.length).toBe(sent.videoFrames);
    for (let i = 1; i < frames.length; i++) expect((frames[i]?.ptsTime ?? 0) > (frames[i - 1]?.ptsTime ?? 0)).toBe(true);
    expect(await decodeErrors(file)).toBe("");

    // a span in the middle starts at the keyframe at or before its start
    const mid = await fetch(`${ts.url}/api/v1/recordings/cam1/play?start=${span.startMs + 5000}&duration=2`);
    const midFile = path.join(ts.dataDir, "mid.mp4");
    await writeFile(midFile, Buffer.from(await mid.arrayBuffer()));
    const midFrames = await probeVideoFrames(midFile);
    expect(midFrames[0]?.keyFrame).toBe(true);
    expect(midFrames.length).toBe(120);
  });

  it("refuses playback requests it cannot serve", async () => {
    const bad = await fetch(`${ts.url}/api/v1/recordings/cam1/play?start=yesterday&duration=5`);
    expect(bad.status).toBe(400);
    const none = await fetch(`${ts.url}/api/v1/recordings/cam1/play?start=2000-01-01T00:00:00Z&duration=5`);
    expect(none.status).toBe(404);
    const missing = await fetch(`${ts.url}/api/v1/recordings/cam1/play?start=2000-01-01T00:00:00Z`);
    expect(missing.status).toBe(400);
    const tooLong = await fetch(`${ts.url}/api/v1/recordings/cam1/play?start=${Date.now()}&duration=999999`);
    expect(tooLong.status).toBe(400);
    expect(((await tooLong.json()) as { type: string }).type).toMatch(/duration-too-long/);
  });
});
