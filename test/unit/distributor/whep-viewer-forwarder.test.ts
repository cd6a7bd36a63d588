import { describe, expect, it } from "vitest";
import type { RtpHeader } from "werift";
import type { TappedRtpPacket } from "../../../src/core/stream-hub.js";
import { RtpRing } from "../../../src/distributor/whep/rtp-ring.js";
import { ViewerForwarder, type RtpOutput } from "../../../src/distributor/whep/viewer-forwarder.js";

function pkt(seq: number, timestamp: number, payload: number[], marker = false): TappedRtpPacket {
  return { header: { sequenceNumber: seq & 0xffff, timestamp, marker, ssrc: 1, payloadType: 96 }, payload: Buffer.from(payload) };
}

interface Sent { seq: number; ts: number; pt: number; ssrc: number; marker: boolean; payload: number }

/** Records what would go on the wire; `hold` keeps sends pending (a viewer whose socket does not drain). */
class FakeOutput implements RtpOutput {
  sent: Sent[] = [];
  hold = false;
  private release: (() => void)[] = [];
  sendRtp(payload: Buffer, h: RtpHeader): Promise<unknown> {
    this.sent.push({ seq: h.sequenceNumber, ts: h.timestamp, pt: h.payloadType, ssrc: h.ssrc, marker: h.marker, payload: payload[1] ?? -1 });
    return this.hold ? new Promise<void>((r) => this.release.push(r)) : Promise.resolve();
  }
  flush(): void {
    for (const r of this.release.splice(0)) r();
  }
}

const IDR = 0x65;
const SLICE = 0x41;
/** Pushes one single-packet frame; the payload's 2nd byte is its publisher sequence number's low byte. */
function frame(ring: RtpRing, seq: number, key: boolean): void {
  ring.push(pkt(seq, seq * 3000, [key ? IDR : SLICE, seq & 0xff], true));
}

function setup() {
  const clock = { now: 1000 };
  // 64 two-byte packets: the byte cap makes the ring drop what a stalled viewer has not read
  const video = new RtpRing({ minPackets: 64, maxAgeMs: 60_000, maxBytes: 128 }, true, () => clock.now);
  const audio = new RtpRing({ minPackets: 16, maxAgeMs: 60_000, maxBytes: 32 }, false, () => clock.now);
  const out = new FakeOutput();
  const audioOut = new FakeOutput();
  const requests: string[] = [];
  const fwd = new ViewerForwarder(
    { ring: video, out, ssrc: 1111, payloadType: 102 },
    { ring: audio, out: audioOut, ssrc: 2222, payloadType: 111 },
    (r) => requests.push(r),
    () => undefined,
  );
  return { video, audio, out, audioOut, requests, fwd, clock };
}

describe("ViewerForwarder", () => {
  it("asks for a keyframe on start and sends nothing before one", () => {
    const { video, out, requests, fwd } = setup();
    frame(video, 100, true); // a keyframe from before the viewer connected
    fwd.start();
    expect(requests).toEqual(["join"]);
    frame(video, 101, false);
    fwd.pump();
    expect(out.sent).toEqual([]);
    frame(video, 102, true);
    frame(video, 103, false);
    fwd.pump();
    expect(out.sent.map((s) => s.payload)).toEqual([102, 103]);
    expect(fwd.firstKeyframeAt).toBeDefined();
  });

  it("rewrites SSRC, payload type, sequence and timestamp with constant per-viewer offsets", async () => {
    const { video, audio, out, audioOut, fwd, clock } = setup();
    fwd.start();
    audio.push(pkt(7, 960, [0xfc, 1])); // before the keyframe
    clock.now += 20;
    for (let s = 65530; s < 65540; s++) frame(video, s, s === 65530);
    fwd.pump();
    expect(out.sent.length).toBe(10);
    for (const [i, s] of out.sent.entries()) {
      expect(s.ssrc).toBe(1111);
      expect(s.pt).toBe(102);
      expect(s.marker).toBe(true);
      expect(s.seq).toBe((out.sent[0]!.seq + i) & 0xffff);
      expect(s.ts).toBe((out.sent[0]!.ts + i * 3000) >>> 0);
    }
    // audio starts with video, from the packets that came at or after its keyframe
    expect(audioOut.sent).toEqual([]);
    audio.push(pkt(8, 1920, [0xfc, 2]));
    fwd.pump();
    expect(audioOut.sent.map((s) => [s.ssrc, s.pt, s.payload])).toEqual([[2222, 111, 2]]);
  });

  it("answers NACKs from the ring with the original payload and sequence number, and counts misses", () => {
    const { video, out, fwd } = setup();
    fwd.start();
    for (let s = 10; s < 20; s++) frame(video, s, s === 10);
    fwd.pump();
    const first = out.sent[0]!.seq;
    out.sent = [];
    fwd.nack([(first + 3) & 0xffff, (first + 7) & 0xffff, (first + 500) & 0xffff]);
    expect(out.sent.map((s) => [s.seq, s.payload])).toEqual([[(first + 3) & 0xffff, 13], [(first + 7) & 0xffff, 17]]);
    expect(fwd.stats).toMatchObject({ nackedPackets: 3, retransmitted: 2, retransmitMisses: 1 });
  });

  it("never holds the publisher: a viewer whose sends stall stops being fed, lags past the ring (its byte cap), drops and counts, and resumes at a keyframe without a sequence gap", async () => {
    const { video, out, requests, fwd } = setup();
    fwd.start();
    frame(video, 0, true);
    fwd.pump();
    await new Promise((r) => setImmediate(r)); // that send completed
    out.hold = true;
    // 400 more frames: pumping stops at 256 sends in flight, then the ring (64) moves past the viewer
    for (let s = 1; s <= 400; s++) {
      frame(video, s, false);
      if (s % 10 === 0) fwd.pump();
    }
    expect(out.sent.length).toBe(257);
    fwd.pump();
    expect(fwd.stats.packetsDropped).toBeGreaterThan(0);
    expect(requests).toEqual(["join", "viewer-lagged"]);
    const lastSeq = out.sent.at(-1)!.seq;
    out.hold = false;
    out.flush();
    await new Promise((r) => setImmediate(r)); // the stalled sends complete
    frame(video, 401, false);
    fwd.pump();
    expect(out.sent.length).toBe(257); // still waiting for a keyframe
    frame(video, 402, true);
    frame(video, 403, false);
    fwd.pump();
    expect(out.sent.slice(257).map((s) => [s.seq, s.payload])).toEqual([[(lastSeq + 1) & 0xffff, 402 & 0xff], [(lastSeq + 2) & 0xffff, 403 & 0xff]]);
    // a NACK from before the skip maps to nothing
    fwd.nack([(lastSeq - 1) & 0xffff]);
    expect(fwd.stats.retransmitMisses).toBe(1);
  });
});
