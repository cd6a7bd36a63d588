import { afterEach, describe, expect, it } from "vitest";
import type { RtcpPacket, RtpHeader } from "werift";
import { dtlsTransports } from "../../src/rtc/werift-internals.js";
import { publishTestStream, type TestStreamPublisher } from "../helpers/publish-test-stream.js";
import { startTestServer, type TestServer } from "../support/server-harness.js";
import { waitFor } from "../support/wait-for.js";

/**
 * Losses on the way in are repaired by NACK (issue 12, point 3): a werift publisher whose path
 * drops every 50th video packet once. The server must NACK each (RTPFB FMT 1, RFC 4585 §6.2.1),
 * the publisher retransmit it (plain, on the media SSRC: the answer carries no rtx, which
 * Chromium, werift and aiortc all handle by resending the original packet), and the server use
 * the retransmission: nothing counted lost.
 */
let ts: TestServer | undefined;
let pub: TestStreamPublisher | undefined;
afterEach(async () => {
  await pub?.stop().catch(() => undefined);
  await ts?.stop();
  pub = undefined;
  ts = undefined;
});

const RTPFB = 205;
const GENERIC_NACK = 1;

describe("WHIP NACK", () => {
  it("every packet dropped on the publisher's path is NACKed, retransmitted and used: no loss, no frame missing", async () => {
    ts = await startTestServer({ recordByDefault: false });
    pub = await publishTestStream(`${ts.url}/whip/nk`, { width: 640, height: 360, fps: 30, gopSeconds: 1, durationSeconds: 6, audio: false });
    const [transport] = dtlsTransports(pub.publication.pc);
    if (!transport) throw new Error("no publisher transport");
    let nacks = 0;
    transport.onRtcp.subscribe((p: RtcpPacket) => {
      if (p.type === RTPFB && (p as { header?: { count?: number } }).header?.count === GENERIC_NACK) nacks++;
    });
    // Drop the first sending of every 50th video packet; a retransmission (same sequence number) passes.
    const videoSsrc = pub.publication.videoSender?.ssrc;
    const dropped = new Set<number>();
    const retransmitted = new Set<number>();
    let n = 0;
    const sendRtp = transport.sendRtp.bind(transport);
    transport.sendRtp = async (payload: Buffer, header: RtpHeader): Promise<number> => {
      if (header.ssrc === videoSsrc) {
        if (dropped.has(header.sequenceNumber)) retransmitted.add(header.sequenceNumber);
        else if (++n % 50 === 0) {
          dropped.add(header.sequenceNumber);
          return payload.length;
        }
      }
      return sendRtp(payload, header);
    };
    await pub.done;
    const stats = () => ts?.server.registry.get("nk")?.stats();
    await waitFor(() => (stats()?.packetsReceived ?? 0) + (stats()?.packetsLost ?? 0) >= pub!.stats.videoPackets, { what: "the server accounting for every packet sent", timeoutMs: 15_000 });
    expect(dropped.size).toBeGreaterThan(10);
    expect(nacks).toBeGreaterThan(0);
    expect([...dropped].filter((s) => !retransmitted.has(s))).toEqual([]);
    expect(stats()?.packetsLost).toBe(0);
    expect(stats()?.framesReceived).toBe(pub.stats.videoFrames);
  });
});
