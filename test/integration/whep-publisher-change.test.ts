import { writeFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { StreamHub, TappedRtpPacket } from "../../src/core/stream-hub.js";
import { startsKeyframe } from "../../src/distributor/whep/rtp-ring.js";
import { startRtpSource, type RtpSource } from "../helpers/ffmpeg-rtp-source.js";
import { whepWatch } from "../helpers/whep-client.js";
import { whipPublish, type WhipPublication } from "../helpers/whip-client.js";
import { decodeErrors } from "../support/recording-probe.js";
import { startTestServer, type TestServer } from "../support/server-harness.js";
import { waitFor, waitForValue } from "../support/wait-for.js";

/**
 * Issue 12, point 2: a WHEP viewer stays connected across a publisher change. A real werift
 * viewer watches a stream published over WHIP (ffmpeg → werift); the publisher's media stops,
 * the hub is told a new publisher session took over (`publisherChanged`), and packets of a new
 * SSRC, with sequence numbers and timestamps from elsewhere, come on the hub's RTP tap (what
 * the reconnect work's new session will deliver). The viewer must decode frames after the
 * change without reconnecting: its sequence numbers contiguous (no NACK for the jump), its
 * timestamps moved on by the break, the new session from its keyframe on.
 */
let ts: TestServer;
let pub: WhipPublication;
let source: RtpSource;
let hub: StreamHub;
/** One GOP and more of the publisher's video, from an IDR on: replayed as the "new publisher". */
const captured: TappedRtpPacket[] = [];

beforeAll(async () => {
  // the stream must outlive its publisher's silence for the length of the test
  ts = await startTestServer({ recordByDefault: false, aiEnabled: false, rtpSilenceTimeoutMs: 60_000 });
  pub = await whipPublish(`${ts.url}/whip/resume`, { video: true, audio: false });
  source = await startRtpSource({ video: { track: pub.videoTrack as NonNullable<WhipPublication["videoTrack"]>, sender: pub.videoSender } }, { width: 640, height: 360, fps: 30, gopSeconds: 1, durationSeconds: 30, audio: false });
  hub = await waitForValue(() => ts.server.registry.get("resume")?.hub, { what: "the stream live" });
  const untap = hub.tapRtp((kind, p) => {
    if (kind !== "video" || (captured.length === 0 && !startsKeyframe(p.payload))) return;
    captured.push(p);
    if (captured.filter((c) => c.header.marker).length >= 45) untap();
  });
}, 60_000);

afterAll(async () => {
  await source?.stop();
  await pub?.close();
  await ts?.stop();
});

describe("WHEP viewer across a publisher change", () => {
  it("keeps the viewer connected: contiguous sequence numbers, timestamps forward by the gap, decodable frames from the new session's keyframe", async () => {
    const received: { seq: number; ts: number; at: number }[] = [];
    const viewer = await whepWatch(`${ts.url}/whep/resume`, {
      audio: false,
      keepAnnexB: true,
      onVideoPacket: (p, at) => received.push({ seq: p.header.sequenceNumber, ts: p.header.timestamp, at }),
    });
    try {
      await viewer.waitUnits(30, 20_000);
      await waitFor(() => captured.filter((c) => c.header.marker).length >= 45, { what: "a GOP captured", timeoutMs: 20_000 });
      // the old publisher goes quiet (its session stays: the stream is not ended)
      await source.stop();
      const sent = () => ts.server.whep.snapshot().packetsSent;
      await waitFor(() => received.length >= sent(), { what: "the viewer has all the old publisher's packets" });
      const lastMediaAt = Date.now();
      const before = { units: viewer.units.length, packets: received.length, nacks: viewer.nacksSent(), lost: viewer.depacketizer.packetsLost };
      const connection = viewer.pc.connectionState;

      // a break the viewer notices: wait until at least 300 ms have passed since the last packet
      await waitFor(() => Date.now() - lastMediaAt >= 300, { what: "a 300 ms break", intervalMs: 50 });
      hub.publisherChanged({ sessionId: "new-session", reason: "re-post", lastMediaAt });
      const changedAt = Date.now();
      // the new session: another SSRC, sequence numbers and timestamps from elsewhere, one frame per tick
      const seqBase = (captured[0] as TappedRtpPacket).header.sequenceNumber;
      const tsBase = (captured[0] as TappedRtpPacket).header.timestamp;
      for (const p of captured) {
        hub.publishRtp("video", {
          header: { ...p.header, ssrc: 0x5eed, sequenceNumber: (p.header.sequenceNumber - seqBase + 40_000) & 0xffff, timestamp: (p.header.timestamp - tsBase + 3_000_000_000) >>> 0 },
          payload: p.payload,
        });
        if (p.header.marker) await new Promise((r) => setImmediate(r));
      }
      await viewer.waitUnits(before.units + 40, 20_000);

      const after = viewer.units.slice(before.units);
      expect(after[0]?.isKeyframe).toBe(true);
      expect(viewer.pc.connectionState).toBe(connection);
      expect(ts.server.whep.count).toBe(1); // the same session, no reconnect
      expect(ts.server.whep.snapshot().publisherChanges).toBe(1);
      // contiguous across the change: nothing for the viewer to NACK, nothing lost
      const last = received[before.packets - 1] as { seq: number; ts: number };
      const first = received[before.packets] as { seq: number; ts: number };
      expect(first.seq).toBe((last.seq + 1) & 0xffff);
      expect(viewer.nacksSent()).toBe(before.nacks);
      expect(viewer.depacketizer.packetsLost).toBe(before.lost);
      // timestamps moved on by at least the break (90 kHz), not backwards
      const tsGapMs = ((first.ts - last.ts) >>> 0) / 90;
      console.log(`publisher change: viewer RTP timestamp gap ${tsGapMs.toFixed(0)} ms for a break of ${changedAt - lastMediaAt}+ ms`);
      expect(tsGapMs).toBeGreaterThanOrEqual(300);
      expect(tsGapMs).toBeLessThan(60_000);
      // and what the viewer got decodes from end to end (old session, then the new one)
      const file = path.join(ts.dataDir, "resume.h264");
      await writeFile(file, viewer.annexB());
      expect(await decodeErrors(file)).toBe("");
    } finally {
      await viewer.close();
    }
  }, 90_000);
});
