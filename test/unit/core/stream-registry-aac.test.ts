import { describe, expect, it } from "vitest";
import type { StreamTracks } from "../../../src/core/stream-hub.js";
import { StreamRegistry, type StreamStats } from "../../../src/core/stream-registry.js";

const stats = (): StreamStats => ({ protocol: "rtsp", sessionId: "s", since: 0, state: "live", reconnects: 0, bitrateBps: 0, packetsReceived: 0, packetsLost: 0, framesReceived: 0, framesDropped: 0, keyframeRequests: 0 });

describe("StreamRegistry: the audio timeline's clock", () => {
  it.each<[string, StreamTracks, number]>([
    ["AAC at 44.1 kHz", { video: { codec: "h264" }, audio: { codec: "aac", channels: 2, sampleRate: 44_100, config: Uint8Array.of(0x12, 0x10) } }, 44_100],
    ["AAC at 16 kHz", { audio: { codec: "aac", channels: 1, sampleRate: 16_000, config: Uint8Array.of(0x14, 0x08) } }, 16_000],
    ["Opus", { video: { codec: "h264" }, audio: { codec: "opus", channels: 2, sampleRate: 48_000 } }, 48_000],
    ["no audio", { video: { codec: "h264" } }, 48_000],
  ])("%s: ticks at %i Hz, so a re-based break spans the real time on it", (_, tracks, hz) => {
    const registry = new StreamRegistry({ maxStreams: 4, readerQueueFrames: 8, rtpMaxJumpMs: 2000 });
    const live = registry.claim("s", "session", tracks, stats);
    expect(live.timelines.audio.clockHz).toBe(hz);
    expect(live.timelines.video.clockHz).toBe(90_000);
    // A publisher clock that jumps 10 min ahead while 3 s passed: the timeline re-bases onto 3 s of its ticks.
    const t0 = live.timelines.audio.map(1000, 0);
    const t1 = live.timelines.audio.map(1000 + hz * 600, 3000);
    expect(live.timelines.audio.discontinuity).toBe(true);
    expect(t1 - t0).toBe(3 * hz);
    registry.release(live);
  });
});
