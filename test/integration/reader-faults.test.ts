import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { StreamStats } from "../../src/core/stream-registry.js";
import type { AudioFrame } from "../../src/media/types.js";
import { startTestServer, type TestServer } from "../support/server-harness.js";

const frame = (n: number): AudioFrame => ({ kind: "audio", codec: "opus", data: new Uint8Array([n]), rtpTime: n * 960, arrivalMs: n, wallClockMs: n });

const stats = (): StreamStats => ({
  protocol: "whip", sessionId: "sess-1", since: 0, state: "live", reconnects: 0, bitrateBps: 1000,
  packetsReceived: 1234, packetsLost: 5, framesReceived: 77, framesDropped: 0, keyframeRequests: 0,
});

describe("a stream reader whose callback keeps failing (the real server's hub, REST and /metrics)", () => {
  let ts: TestServer;
  beforeAll(async () => {
    ts = await startTestServer({ readerMaxConsecutiveErrors: 3, readerQueueFrames: 512 });
  });
  afterAll(async () => {
    await ts?.stop();
  });

  it("is detached at IFC_READER_MAX_CONSECUTIVE_ERRORS, its reason shown by GET /api/v1/streams, and counted in /metrics", async () => {
    // A live stream claimed directly (no media stack), with one reader that always throws.
    const live = ts.server.registry.claim("faulty", "sess-1", {}, stats);
    try {
      let calls = 0;
      live.hub.attach("broken", () => {
        calls++;
        throw new Error("cannot parse frame");
      });
      for (let i = 0; i < 10; i++) live.hub.publish(frame(i));
      await live.hub.drain();
      expect(calls).toBe(3);

      const one = (await (await fetch(`${ts.url}/api/v1/streams/faulty`)).json()) as { readers: Record<string, unknown>[] };
      expect(one.readers).toEqual([{
        name: "broken", delivered: 3, dropped: 0, queued: 0, capacity: 512, failed: 3,
        detachedReason: "callback threw 3 times in a row (limit IFC_READER_MAX_CONSECUTIVE_ERRORS); last error: cannot parse frame",
      }]);
      const all = (await (await fetch(`${ts.url}/api/v1/streams`)).json()) as { streams: { name: string; readers: { detachedReason?: string }[] }[] };
      expect(all.streams.find((s) => s.name === "faulty")?.readers[0]?.detachedReason).toMatch(/^callback threw 3 times/);

      const metrics = await (await fetch(`${ts.url}/metrics`)).text();
      expect(metrics).toMatch(/^ifc_reader_detached\{stream="faulty",reader="broken"\} 1$/m);
      expect(metrics).toMatch(/^# TYPE ifc_reader_frames_failed_total counter$/m);
      expect(metrics).toMatch(/^ifc_reader_frames_failed_total\{stream="faulty",reader="broken"\} 3$/m);
      expect(metrics).toMatch(/^# TYPE ifc_reader_frames_dropped_total counter$/m);
      // The stream's cumulative figures are counters named _total.
      expect(metrics).toMatch(/^# TYPE ifc_stream_packets_received_total counter$/m);
      expect(metrics).toMatch(/^ifc_stream_packets_received_total\{stream="faulty"\} 1234$/m);
      expect(metrics).toMatch(/^ifc_stream_packets_lost_total\{stream="faulty"\} 5$/m);
      expect(metrics).toMatch(/^ifc_stream_frames_received_total\{stream="faulty"\} 77$/m);
      expect(metrics).toMatch(/^# TYPE ifc_stream_bitrate_bps gauge$/m);
    } finally {
      ts.server.registry.release(live);
    }
  });
});
