import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { H264Depacketizer } from "../../../src/media/h264-depacketizer.js";
import { OpusDepacketizer } from "../../../src/media/opus-depacketizer.js";
import { AudioPacketizer, H264Packetizer } from "../../../src/media/rtp-packetizer.js";
import type { AudioFrame, VideoAccessUnit } from "../../../src/media/types.js";

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, "hex"));
// libx264 1280x720 high (as in h264-depacketizer.test.ts): the depacketizer parses the SPS.
const SPS = hex("6764001facd9405005bb0110000003001000000303c0f1831960");
const PPS = hex("68ebe3cb22c0");

interface Rtp {
  seq: number;
  ts: number;
  marker: boolean;
  pt: number;
  ssrc: number;
  payload: Buffer;
}
function parse(p: Buffer): Rtp {
  expect(p[0]).toBe(0x80);
  return { seq: p.readUInt16BE(2), ts: p.readUInt32BE(4), marker: ((p[1] as number) & 0x80) !== 0, pt: (p[1] as number) & 0x7f, ssrc: p.readUInt32BE(8), payload: p.subarray(12) };
}

/** A slice NAL: header byte, then first_mb_in_slice = 0 (top bit set), then filler that never starts a start code. */
function slice(idr: boolean, size: number, seed: number): Uint8Array {
  const b = new Uint8Array(Math.max(2, size));
  b[0] = idr ? 0x65 : 0x41;
  b[1] = 0x88;
  for (let i = 2; i < b.length; i++) b[i] = ((seed * 31 + i * 7) & 0xff) || 1;
  return b;
}

function au(nalus: Uint8Array[], isKeyframe: boolean, rtpTime: number, withSets = isKeyframe): VideoAccessUnit {
  return { kind: "video", codec: "h264", nalus, isKeyframe, rtpTime, arrivalMs: 0, wallClockMs: 0, ...(withSets ? { sps: SPS, pps: PPS } : {}) };
}

const opts = (maxPacketBytes: number, initialSequence = 65_530) => ({ payloadType: 96, ssrc: 0xdeadbeef, maxPacketBytes, initialSequence });

describe("H264Packetizer", () => {
  it("sends small NALs as single NAL unit packets, the marker on the unit's last, sequence wrapping at 16 bits", () => {
    const p = new H264Packetizer(opts(1200, 65_535));
    const a = slice(false, 100, 1);
    const b = slice(false, 50, 2);
    const pkts = p.packetize(au([a, b], false, 0), 2 ** 32 + 5).map(parse);
    expect(pkts.map((x) => [x.seq, x.ts, x.marker, x.pt, x.ssrc])).toEqual([
      [65_535, 5, false, 96, 0xdeadbeef],
      [0, 5, true, 96, 0xdeadbeef],
    ]);
    expect(Buffer.compare(pkts[0]?.payload as Buffer, Buffer.from(a))).toBe(0);
    expect(p.nextSequence).toBe(1);
    expect(p.packetsWritten).toBe(2);
    expect(p.payloadBytesWritten).toBe(150);
  });

  it("splits a NAL larger than the packet into FU-A fragments within maxPacketBytes", () => {
    const p = new H264Packetizer(opts(200));
    const nal = slice(true, 1000, 3);
    const pkts = p.packetize(au([SPS, PPS, nal], true, 0), 0);
    expect(pkts.every((b) => b.length <= 200)).toBe(true);
    const parsed = pkts.map(parse);
    // SPS and PPS are in-band already: nothing added ahead of them.
    expect(parsed[0]?.payload[0]).toBe(0x67);
    expect(parsed[1]?.payload[0]).toBe(0x68);
    const fus = parsed.slice(2);
    expect(fus.length).toBe(Math.ceil(999 / (200 - 14)));
    expect(fus.map((f) => (f.payload[0] as number) & 0x1f)).toEqual(fus.map(() => 28));
    expect((fus[0]?.payload[1] as number) & 0xc0).toBe(0x80);
    expect((fus.at(-1)?.payload[1] as number) & 0xc0).toBe(0x40);
    expect(fus.map((f) => f.marker)).toEqual(fus.map((_, i) => i === fus.length - 1));
  });

  it("sends the unit's SPS/PPS ahead of an IDR that lacks them, not ahead of other units", () => {
    const p = new H264Packetizer(opts(1400));
    const key = p.packetize(au([slice(true, 300, 1)], true, 0), 0).map(parse);
    expect(key.map((x) => (x.payload[0] as number) & 0x1f)).toEqual([7, 8, 5]);
    expect(key.map((x) => x.marker)).toEqual([false, false, true]);
    const delta = p.packetize(au([slice(false, 300, 1)], false, 3000, true), 3000).map(parse);
    expect(delta.map((x) => (x.payload[0] as number) & 0x1f)).toEqual([1]);
  });

  it("round-trips through H264Depacketizer: the same units at any NAL and packet size (property)", () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 40, max: 1500 }),
        fc.integer({ min: 0, max: 0xffff }),
        fc.array(fc.record({ key: fc.boolean(), sizes: fc.array(fc.integer({ min: 2, max: 6000 }), { minLength: 1, maxLength: 4 }), inband: fc.boolean() }), { minLength: 1, maxLength: 12 }),
        (maxPacketBytes, seq0, spec) => {
          const units = spec.map((s, i) => {
            const key = i === 0 || s.key;
            const slices = s.sizes.map((n, j) => slice(key, n, i * 7 + j));
            return au(key && s.inband ? [SPS, PPS, ...slices] : slices, key, i * 3000);
          });
          const got: VideoAccessUnit[] = [];
          const d = new H264Depacketizer({ onAccessUnit: (u) => got.push(u) });
          const p = new H264Packetizer(opts(maxPacketBytes, seq0));
          for (const u of units) {
            for (const pkt of p.packetize(u, 1_000_000 + u.rtpTime)) {
              expect(pkt.length).toBeLessThanOrEqual(maxPacketBytes);
              const r = parse(pkt);
              d.push(r.seq, r.ts, r.marker, r.payload, 0);
            }
          }
          d.flush();
          expect(d.packetsLost).toBe(0);
          expect(got.map((u) => u.rtpTime)).toEqual(units.map((u) => u.rtpTime));
          expect(got.map((u) => u.isKeyframe)).toEqual(units.map((u) => u.isKeyframe));
          // Keyframes sent without in-band sets come out with them in front.
          const expected = units.map((u) => (u.isKeyframe && u.nalus[0]?.[0] !== 0x67 ? [SPS, PPS, ...u.nalus] : u.nalus));
          expect(got.map((u) => u.nalus.map((n) => Buffer.from(n).toString("hex")))).toEqual(expected.map((ns) => ns.map((n) => Buffer.from(n).toString("hex"))));
        },
      ),
      { numRuns: 200 },
    );
  });

  it("refuses a packet size with no room for a payload", () => {
    expect(() => new H264Packetizer(opts(16))).toThrow(RangeError);
  });
});

describe("AudioPacketizer", () => {
  const frame = (data: Uint8Array, rtpTime: number, codec: "opus" | "aac" = "opus"): AudioFrame => ({ kind: "audio", codec, data, rtpTime, arrivalMs: 0, wallClockMs: 0 });

  it("Opus round-trips through OpusDepacketizer, one packet per frame, marker clear (property)", () => {
    fc.assert(
      fc.property(fc.array(fc.uint8Array({ minLength: 1, maxLength: 1275 }), { minLength: 1, maxLength: 20 }), fc.integer({ min: 0, max: 0xffff }), (datas, seq0) => {
        const frames = datas.map((d, i) => frame(Uint8Array.from([0xfc, ...d.subarray(1)]), i * 960));
        const got: AudioFrame[] = [];
        const d = new OpusDepacketizer({ onFrame: (f) => got.push(f) });
        const p = new AudioPacketizer("opus", { payloadType: 111, ssrc: 7, maxPacketBytes: 1472, initialSequence: seq0 });
        for (const f of frames) {
          const pkts = p.packetize(f, 0xffff_f000 + f.rtpTime);
          expect(pkts).toHaveLength(1);
          const r = parse(pkts[0] as Buffer);
          expect(r.marker).toBe(false);
          expect(r.pt).toBe(111);
          d.push(r.seq, r.ts, r.payload, 0);
        }
        d.flush();
        expect(got.map((f) => f.rtpTime)).toEqual(frames.map((f) => f.rtpTime));
        expect(got.map((f) => Buffer.from(f.data).toString("hex"))).toEqual(frames.map((f) => Buffer.from(f.data).toString("hex")));
      }),
      { numRuns: 100 },
    );
  });

  it("AAC-hbr: AU-headers-length 16, one AU-header of 13-bit size and 3-bit index 0, marker set", () => {
    const p = new AudioPacketizer("aac", { payloadType: 97, ssrc: 9, maxPacketBytes: 1472, initialSequence: 10 });
    const data = Uint8Array.from({ length: 371 }, (_, i) => i & 0xff);
    const [pkt, ...more] = p.packetize(frame(data, 1024, "aac"), 1024);
    expect(more).toHaveLength(0);
    const r = parse(pkt as Buffer);
    expect([r.seq, r.ts, r.marker, r.pt]).toEqual([10, 1024, true, 97]);
    expect(r.payload.readUInt16BE(0)).toBe(16);
    expect(r.payload.readUInt16BE(2) >> 3).toBe(371);
    expect(r.payload.readUInt16BE(2) & 7).toBe(0);
    expect(Buffer.compare(r.payload.subarray(4), Buffer.from(data))).toBe(0);
  });

  it("AAC: an AU larger than a packet goes in fragments, each with the whole AU's size, the marker on the last", () => {
    const p = new AudioPacketizer("aac", { payloadType: 97, ssrc: 9, maxPacketBytes: 500, initialSequence: 0 });
    const data = Uint8Array.from({ length: 1200 }, (_, i) => (i * 3) & 0xff);
    const pkts = p.packetize(frame(data, 0, "aac"), 0).map(parse);
    expect(pkts).toHaveLength(Math.ceil(1200 / (500 - 16)));
    expect(pkts.map((x) => x.marker)).toEqual(pkts.map((_, i) => i === pkts.length - 1));
    expect(pkts.map((x) => x.payload.readUInt16BE(2) >> 3)).toEqual(pkts.map(() => 1200));
    expect(Buffer.compare(Buffer.concat(pkts.map((x) => x.payload.subarray(4))), Buffer.from(data))).toBe(0);
  });

  it("rejects and counts what cannot be sent: an empty frame, an AAC AU over 8191 bytes", () => {
    const p = new AudioPacketizer("aac", { payloadType: 97, ssrc: 9, maxPacketBytes: 1472, initialSequence: 0 });
    expect(p.packetize(frame(new Uint8Array(0), 0, "aac"), 0)).toHaveLength(0);
    expect(p.packetize(frame(new Uint8Array(8192), 0, "aac"), 0)).toHaveLength(0);
    expect(p.packetize(frame(new Uint8Array(8191), 0, "aac"), 0).length).toBeGreaterThan(0);
    expect(p.framesRejected).toBe(2);
    expect(p.nextSequence).toBe(6); // 8191 bytes in 1456-byte fragments
  });
});
