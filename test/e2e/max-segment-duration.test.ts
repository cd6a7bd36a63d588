import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { StreamStats } from "../../src/core/stream-registry.js";
import type { RecordingManifest } from "../../src/recorder/manifest.js";
import { publishTestStream } from "../helpers/publish-test-stream.js";
import { assemble, probeVideoFrames, readManifests } from "../support/recording-probe.js";
import { startTestServer, type TestServer } from "../support/server-harness.js";
import { waitFor } from "../support/wait-for.js";

/**
 * IFC_MAX_SEGMENT_DURATION_MS end to end: a publisher whose encoder ignores keyframe requests
 * (ffmpeg behind werift: a PLI never reaches it) sends an IDR every 3 s against a 1 s cap. Each
 * segment grows past the cap to the next IDR and is cut there; nothing is lost.
 */
let ts: TestServer;
let manifest: RecordingManifest;
let sent: { videoFrames: number; keyframes: number; notSent: number; inputGaps: number };
let keyframeRequests: number;

beforeAll(async () => {
  ts = await startTestServer({ segmentDurationMs: 1000, partDurationMs: 500, maxSegmentDurationMs: 1000, keyframeRequestLeadMs: 300 });
  const pub = await publishTestStream(`${ts.url}/whip/longgop`, { width: 320, height: 240, fps: 30, gopSeconds: 3, durationSeconds: 7, audio: false, preset: "ultrafast", connectTimeoutMs: 30_000 });
  try {
    await pub.done;
    sent = { ...pub.stats };
    const live = (): StreamStats | undefined => ts.server.registry.get("longgop")?.stats();
    // Every frame sent has arrived (a UDP loss would show as packetsLost, asserted below).
    await waitFor(() => (live()?.framesReceived ?? 0) >= sent.videoFrames || (live()?.packetsLost ?? 0) > 0, { timeoutMs: 15_000, what: "every sent frame to arrive" });
    expect(live()?.packetsLost).toBe(0);
    keyframeRequests = live()?.keyframeRequests ?? 0;
  } finally {
    await pub.stop();
  }
  await ts.server.recorder.flush();
  const manifests = await readManifests(ts.dataDir, "longgop");
  expect(manifests.length).toBe(1);
  manifest = manifests[0] as RecordingManifest;
}, 120_000);

afterAll(async () => {
  await ts?.stop();
});

describe("maximum segment duration (IFC_MAX_SEGMENT_DURATION_MS), end to end", () => {
  it("the publisher sent a 3 s GOP without loss, and the server asked for keyframes in vain", () => {
    expect(sent.notSent).toBe(0);
    expect(sent.inputGaps).toBe(0);
    expect(sent.keyframes).toBe(3); // 0 s, 3 s, 6 s
    expect(keyframeRequests).toBeGreaterThan(0);
  });

  it("grows each segment past the cap to the next IDR and cuts it there", () => {
    const segs = manifest.segments;
    expect(segs.length).toBe(3);
    for (const s of segs) {
      expect(s.keyframe).toBe(true);
      expect(s.parts[0]?.independent).toBe(true);
    }
    // the first two run from IDR to IDR (3 s, within a frame), far past the 1 s cap
    for (const s of segs.slice(0, 2)) expect(Math.abs(s.durationMs - 3000)).toBeLessThanOrEqual(34);
    // and were recorded in 500 ms parts as they grew (not held back until the IDR)
    for (const s of segs.slice(0, 2)) expect(s.parts.length).toBeGreaterThanOrEqual(5);
  });

  it("records every frame sent", async () => {
    const frames = await probeVideoFrames(await assemble(ts.dataDir, manifest));
    expect(frames.length).toBe(sent.videoFrames);
    expect(frames.filter((f) => f.keyFrame).length).toBe(3);
  });
});
