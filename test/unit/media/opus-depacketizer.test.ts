import { OpusPacketizer, RtpPacket } from "werift";
import { describe, expect, it } from "vitest";
import { OpusDepacketizer } from "../../../src/media/opus-depacketizer.js";
import type { AudioFrame } from "../../../src/media/types.js";

function receiver(reorderWindowPackets?: number) {
  const frames: AudioFrame[] = [];
  const d = new OpusDepacketizer({ onFrame: (f) => frames.push(f), ...(reorderWindowPackets === undefined ? {} : { reorderWindowPackets }) });
  return { d, frames };
}

const opus = (n: number): Uint8Array => Uint8Array.from([0xfc, n & 0xff, 0x01, 0x02]);

describe("OpusDepacketizer", () => {
  it("turns each packet into a frame with rtpTime counted from the first packet", () => {
    const r = receiver();
    r.d.push(500, 48_000, opus(0), 10);
    r.d.push(501, 48_960, opus(1), 30);
    expect(r.frames).toEqual([
      { kind: "audio", codec: "opus", data: opus(0), rtpTime: 0, arrivalMs: 10, wallClockMs: 10 },
      { kind: "audio", codec: "opus", data: opus(1), rtpTime: 960, arrivalMs: 30, wallClockMs: 30 },
    ]);
    expect(r.d).toMatchObject({ packetsReceived: 2, packetsLost: 0, packetsLate: 0, framesEmitted: 2, bytesReceived: 8 });
  });

  it("puts reordered packets back in order; counts gaps given up on, duplicates and late packets", () => {
    const r = receiver(4);
    r.d.push(10, 0, opus(0), 0);
    r.d.push(13, 2880, opus(3), 60); // 11 and 12 missing: 13 waits
    r.d.push(11, 960, opus(1), 61); // overtaken, still within the window
    expect(r.frames.map((f) => f.rtpTime)).toEqual([0, 960]);
    r.d.push(13, 2880, opus(3), 62); // duplicate of a held packet
    for (let s = 14; s <= 17; s++) r.d.push(s, (s - 10) * 960, opus(s), (s - 10) * 20);
    // 17 is 4 past 12's turn: 12 is given up and reported on 13 as the samples it would have held.
    expect(r.frames.map((f) => f.rtpTime / 960)).toEqual([0, 1, 3, 4, 5, 6, 7]);
    expect(r.frames.map((f) => f.samplesLostBefore)).toEqual([undefined, undefined, 960, undefined, undefined, undefined, undefined]);
    r.d.push(12, 1920, opus(2), 200); // too late now
    expect(r.d.packetsLost).toBe(1);
    expect(r.d.packetsLate).toBe(2);
    expect(r.d.samplesLost).toBe(960);
    expect(r.d.framesEmitted).toBe(7);
  });

  it("reports a hole of several packets as their samples, not as a timestamp shift", () => {
    const r = receiver(0);
    // 20 ms frames, then 3 lost, then a 60 ms frame (TOC config 3: SILK 60 ms), then one lost.
    r.d.push(1, 0, opus(0), 0);
    r.d.push(5, 4 * 960, Uint8Array.from([0x18, 1]), 80);
    r.d.push(7, 4 * 960 + 2880 + 960, opus(6), 120);
    expect(r.frames.map((f) => [f.rtpTime, f.samplesLostBefore])).toEqual([[0, undefined], [3840, 2880], [7680, 960]]);
  });

  it("takes a timestamp step without lost packets (DTX) as no loss", () => {
    const r = receiver(4);
    r.d.push(1, 0, opus(0), 0);
    r.d.push(2, 960 * 50, opus(1), 1000);
    expect(r.frames[1]).toMatchObject({ rtpTime: 48_000 });
    expect(r.frames[1]?.samplesLostBefore).toBeUndefined();
  });

  it("is not wedged by a publisher that restarts its sequence behind the old one", () => {
    const r = receiver(8);
    for (let i = 0; i < 20; i++) r.d.push(30_000 + i, i * 960, opus(i), i * 20);
    // New sequence 20000 numbers behind: held until 8 in a row prove the restart, then all kept.
    for (let i = 0; i < 30; i++) r.d.push(10_000 + i, (20 + i) * 960, opus(100 + i), 400 + i * 20);
    expect(r.frames).toHaveLength(50);
    expect(r.frames.slice(20).map((f) => f.data[1])).toEqual(Array.from({ length: 30 }, (_, i) => 100 + i));
    expect(r.d.sequenceResets).toBe(1);
    expect(r.d).toMatchObject({ packetsLost: 0, packetsLate: 0 });
  });

  it("extends sequence numbers and timestamps across wrap-around", () => {
    const r = receiver();
    const packetizer = new OpusPacketizer({ sequenceNumber: 65_530 });
    let ts = 2 ** 32 - 5 * 960;
    const pkts: RtpPacket[] = [];
    for (let i = 0; i < 12; i++) {
      for (const p of packetizer.packetize(Buffer.from(opus(i)), ts >>> 0)) pkts.push(RtpPacket.deSerialize(p.serialize()));
      ts += 960;
    }
    expect(pkts.map((p) => p.header.sequenceNumber)).toContain(0);
    // Neighbours swapped across both wraps: still in order, nothing lost.
    for (let i = 1; i + 1 < pkts.length; i += 3) [pkts[i], pkts[i + 1]] = [pkts[i + 1] as RtpPacket, pkts[i] as RtpPacket];
    pkts.forEach((rtp, i) => r.d.push(rtp.header.sequenceNumber, rtp.header.timestamp, rtp.payload, i * 20));
    expect(r.frames.map((f) => f.rtpTime)).toEqual(Array.from({ length: 12 }, (_, i) => i * 960));
    expect(r.frames.map((f) => f.data[1])).toEqual(Array.from({ length: 12 }, (_, i) => i));
    expect(r.frames.every((f) => f.samplesLostBefore === undefined)).toBe(true);
    expect(r.d).toMatchObject({ packetsLost: 0, packetsLate: 0, framesEmitted: 12 });
  });

  it("drops an empty payload as malformed without counting it lost", () => {
    const r = receiver();
    r.d.push(1, 0, opus(0), 0);
    r.d.push(2, 960, new Uint8Array(0), 20);
    r.d.push(3, 1920, opus(2), 40);
    expect(r.frames).toHaveLength(2);
    expect(r.d.malformedPackets).toBe(1);
    expect(r.d.packetsLost).toBe(0);
    expect(r.frames[1]?.samplesLostBefore).toBe(960); // its samples are a hole for the decoder
  });
});
