import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { LiveStream, StreamStats } from "../../src/core/stream-registry.js";
import { NAL_TYPE, nalType } from "../../src/media/h264-nal.js";
import type { VideoAccessUnit } from "../../src/media/types.js";
import type { RecordingManifest } from "../../src/recorder/manifest.js";
import { h264Fixture, type EncodedUnit } from "../support/h264-fixtures.js";
import { assemble, decodeErrors, probeVideoFrames, readManifests } from "../support/recording-probe.js";
import { startTestServer, type TestServer } from "../support/server-harness.js";
import { waitFor } from "../support/wait-for.js";

/**
 * A real server's Recorder on a live stream's hub, fed a real x264 stream with a 3 s break in it
 * (the publisher's network dropped; the stream's timeline carries the real gap and flags the
 * first unit after it). One recording, decoded end to end by ffmpeg, the gap at its real length
 * in the timeline, in the manifest, in the REST listing and in the live HLS playlist.
 */
const T0 = Date.UTC(2026, 10, 29, 5, 0, 0);
const FRAME_MS = 1000 / 30;
const BREAK_MS = 3000;
let ts: TestServer;

beforeAll(async () => {
  ts = await startTestServer({});
});
afterAll(async () => {
  await ts?.stop();
});

/** Units as the depacketizer makes them: parameter sets out of band on keyframes; times on the stream's timeline. */
function unit(u: EncodedUnit, ms: number, discontinuity: boolean): VideoAccessUnit {
  const sps = u.nalus.find((n) => nalType(n) === NAL_TYPE.SPS);
  const pps = u.nalus.find((n) => nalType(n) === NAL_TYPE.PPS);
  return {
    kind: "video", codec: "h264", isKeyframe: u.isKeyframe, rtpTime: Math.round(ms * 90), arrivalMs: T0 + ms, wallClockMs: T0 + ms,
    nalus: u.nalus.filter((n) => nalType(n) !== NAL_TYPE.SPS && nalType(n) !== NAL_TYPE.PPS),
    ...(sps && pps ? { sps, pps } : {}),
    ...(discontinuity ? { discontinuity: true as const } : {}),
  };
}

/** Publishes in batches, each drained by every reader before the next (faster than real time, nothing dropped). */
async function publish(live: LiveStream, units: VideoAccessUnit[]): Promise<void> {
  for (let i = 0; i < units.length; i++) {
    live.hub.publish(units[i] as VideoAccessUnit);
    if (i % 10 === 9) await live.hub.drain();
  }
  await live.hub.drain();
}

async function getJson(url: string): Promise<{ status: number; body: Record<string, unknown> }> {
  const res = await fetch(`${ts.url}${url}`);
  return { status: res.status, body: (await res.json()) as Record<string, unknown> };
}

describe("one recording across a network break (real Recorder, fs store, ffprobe)", () => {
  it("a 3 s break: two segments in one recording, the gap at its real length, decodable end to end", async () => {
    const before = await h264Fixture({ width: 640, height: 360, fps: 30, seconds: 3, gop: 30 });
    const after = await h264Fixture({ width: 640, height: 360, fps: 30, seconds: 4, gop: 30 });
    const stats = (): StreamStats => ({ protocol: "whip", sessionId: "s1", since: T0, state: "live", reconnects: 0, bitrateBps: 0, packetsReceived: 0, packetsLost: 0, framesReceived: 0, framesDropped: 0, keyframeRequests: 0 });
    const live = ts.server.registry.claim("gap1", "s1", { video: { codec: "h264" } }, stats);
    let released = false;
    try {
      ts.server.registry.announce(live);
      if (!ts.server.recorder.isRecording("gap1")) expect((await fetch(`${ts.url}/api/v1/streams/gap1/recording`, { method: "POST" })).status).toBe(201);

      await publish(live, before.map((u, i) => unit(u, i * FRAME_MS, false)));
      // the publisher resumes mid-GOP: 20 units before its next IDR cannot be recorded
      const resumeMs = before.length * FRAME_MS + BREAK_MS;
      const rest = after.slice(10);
      await publish(live, rest.map((u, i) => unit(u, resumeMs + i * FRAME_MS, i === 0)));
      const idrMs = resumeMs + 20 * FRAME_MS;

      // while live: the HLS playlist marks the break and dates the segment after it
      const live1 = ts.server.recorder.liveManifest("gap1") as RecordingManifest;
      await waitFor(() => live1.segments.length === 2 && live1.segments[1]!.parts.length > 0, { what: "the segment after the break" });
      const playlist = await (await fetch(`${ts.url}/hls/gap1/index.m3u8`)).text();
      const lines = playlist.split("\n");
      const disc = lines.indexOf("#EXT-X-DISCONTINUITY");
      expect(disc).toBeGreaterThan(0);
      expect(lines[disc + 1]).toBe(`#EXT-X-PROGRAM-DATE-TIME:${new Date(Math.round(T0 + idrMs)).toISOString()}`);

      ts.server.registry.release(live);
      released = true;
      await ts.server.recorder.flush();

      const [m] = await readManifests(ts.dataDir, "gap1");
      if (!m) throw new Error("no recording");
      expect(m.segments.map((s) => s.seq)).toEqual([0, 1]);
      expect(m.segments[0]?.durationMs).toBeCloseTo(3000, 3);
      expect(m.segments[1]?.startMs).toBe(Math.round(T0 + idrMs));
      expect(m.gaps?.length).toBe(1);
      const gap = m.gaps![0]!;
      expect(gap.reason).toBe("discontinuity");
      // from the last frame before to the first recorded after: the cut, one frame, and the 20 frames up to the IDR
      expect(Math.abs(gap.durationMs - (BREAK_MS + FRAME_MS + 20 * FRAME_MS))).toBeLessThanOrEqual(FRAME_MS);

      const file = await assemble(ts.dataDir, m);
      const frames = await probeVideoFrames(file);
      expect(frames.length).toBe(before.length + rest.length - 20);
      const firstAfter = frames[before.length]!;
      expect(firstAfter.keyFrame).toBe(true);
      // the decode timeline keeps the gap: the last frame before + its duration + the gap
      expect(firstAfter.ptsTime - frames[before.length - 1]!.ptsTime).toBeCloseTo(gap.durationMs / 1000, 2);
      expect(await decodeErrors(file)).toBe("");

      // listed with its gaps by REST: the listing and the one recording
      const listing = await getJson("/api/v1/recordings?stream=gap1");
      expect(listing.status).toBe(200);
      const [span] = listing.body.recordings as { recordingId: string; gaps: unknown[] }[];
      expect(span?.gaps).toEqual([gap]);
      const one = await getJson(`/api/v1/recordings/gap1/${m.recordingId}`);
      expect(one.status).toBe(200);
      expect(one.body.gaps).toEqual([gap]);
      expect((await getJson(`/api/v1/recordings/gap1/nope`)).status).toBe(404);
    } finally {
      if (!released) ts.server.registry.release(live);
      await ts.server.recorder.flush();
    }
  });
});
