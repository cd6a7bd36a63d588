import { OpusPacketizer, RtpPacket } from "werift";
import { describe, expect, it } from "vitest";
import { OpusDepacketizer } from "../../../src/media/opus-depacketizer.js";
import type { AudioFrame } from "../../../src/media/types.js";

function receiver() {
  const frames: AudioFrame[] = [];
  const d = new OpusDepacketizer({ onFrame: (f) => frames.push(f) });
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

  it("emits in arrival order: counts gaps as lost and drops older packets and duplicates", () => {
    const r = receiver();
    r.d.push(10, 0, opus(0), 0);
    r.d.push(13, 2880, opus(3), 60); // 11 and 12 missing
    r.d.push(11, 960, opus(1), 61); // late: behind 13, dropped
    r.d.push(13, 2880, opus(3), 62); // duplicate
    r.d.push(14, 3840, opus(4), 80);
    expect(r.frames.map((f) => f.rtpTime)).toEqual([0, 2880, 3840]);
    expect(r.d.packetsLost).toBe(2);
    expect(r.d.packetsLate).toBe(2);
    expect(r.d.framesEmitted).toBe(3);
  });

  it("extends sequence numbers and timestamps across wrap-around", () => {
    const r = receiver();
    const packetizer = new OpusPacketizer({ sequenceNumber: 65_530 });
    let ts = 2 ** 32 - 5 * 960;
    for (let i = 0; i < 12; i++) {
      for (const p of packetizer.packetize(Buffer.from(opus(i)), ts >>> 0)) {
        const rtp = RtpPacket.deSerialize(p.serialize());
        r.d.push(rtp.header.sequenceNumber, rtp.header.timestamp, rtp.payload, i * 20);
      }
      ts += 960;
    }
    expect(r.frames.map((f) => f.rtpTime)).toEqual(Array.from({ length: 12 }, (_, i) => i * 960));
    expect(r.frames.map((f) => f.data[1])).toEqual(Array.from({ length: 12 }, (_, i) => i));
    expect(r.d.packetsLost).toBe(0);
  });

  it("drops an empty payload as malformed without counting it lost", () => {
    const r = receiver();
    r.d.push(1, 0, opus(0), 0);
    r.d.push(2, 960, new Uint8Array(0), 20);
    r.d.push(3, 1920, opus(2), 40);
    expect(r.frames).toHaveLength(2);
    expect(r.d.malformedPackets).toBe(1);
    expect(r.d.packetsLost).toBe(0);
  });
});
