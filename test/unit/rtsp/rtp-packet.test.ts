import fc from "fast-check";
import { RtpPacket, RtpHeader } from "werift";
import { describe, expect, it } from "vitest";
import { emptyReceiverReport, parseRtpPacket, senderReports } from "../../../src/media/rtp-packet.js";
import { fuzzParams } from "../../support/fuzz.js";

/** An RTP packet written by hand: CSRCs, a header extension and padding as asked. */
function rtp(opts: { seq: number; ts: number; ssrc: number; pt: number; marker?: boolean; csrcs?: number[]; extWords?: number; padding?: number; payload: Buffer }): Buffer {
  const csrcs = opts.csrcs ?? [];
  const head = Buffer.alloc(12 + csrcs.length * 4);
  head[0] = 0x80 | (opts.padding ? 0x20 : 0) | (opts.extWords !== undefined ? 0x10 : 0) | csrcs.length;
  head[1] = (opts.marker ? 0x80 : 0) | opts.pt;
  head.writeUInt16BE(opts.seq, 2);
  head.writeUInt32BE(opts.ts, 4);
  head.writeUInt32BE(opts.ssrc, 8);
  csrcs.forEach((c, i) => head.writeUInt32BE(c, 12 + i * 4));
  const ext = opts.extWords !== undefined ? Buffer.alloc(4 + opts.extWords * 4, 0xee) : Buffer.alloc(0);
  if (ext.length) {
    ext.writeUInt16BE(0xbede, 0);
    ext.writeUInt16BE(opts.extWords ?? 0, 2);
  }
  const pad = opts.padding ? Buffer.alloc(opts.padding, 0) : Buffer.alloc(0);
  if (pad.length) pad[pad.length - 1] = pad.length;
  return Buffer.concat([head, ext, opts.payload, pad]);
}

describe("parseRtpPacket", () => {
  it("reads the header and views the payload without copying (CSRCs, extension and padding skipped)", () => {
    const payload = Buffer.from("65888400ff", "hex");
    const buf = rtp({ seq: 65535, ts: 0xfffffff0, ssrc: 0xdeadbeef, pt: 96, marker: true, csrcs: [1, 2], extWords: 2, padding: 3, payload });
    const p = parseRtpPacket(buf);
    expect(p?.header).toEqual({ sequenceNumber: 65535, timestamp: 0xfffffff0, marker: true, ssrc: 0xdeadbeef, payloadType: 96 });
    expect(p?.payload.equals(payload)).toBe(true);
    expect(p?.payload.buffer).toBe(buf.buffer);
    expect(p?.payload.byteOffset).toBe(buf.byteOffset + 12 + 8 + 12);
  });

  it("matches werift's parser on packets werift writes", () => {
    fc.assert(
      fc.property(fc.integer({ min: 0, max: 65535 }), fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 0xffffffff }), fc.integer({ min: 0, max: 127 }).filter((pt) => pt < 72 || pt > 76), fc.boolean(), fc.uint8Array({ maxLength: 300 }), (seq, ts, ssrc, pt, marker, payload) => {
        const bytes = new RtpPacket(new RtpHeader({ sequenceNumber: seq, timestamp: ts, ssrc, payloadType: pt, marker }), Buffer.from(payload)).serialize();
        const p = parseRtpPacket(bytes);
        expect(p?.header).toEqual({ sequenceNumber: seq, timestamp: ts, ssrc, payloadType: pt, marker });
        expect(p?.payload.equals(Buffer.from(payload))).toBe(true);
      }),
      fuzzParams(300),
    );
  });

  it("is undefined for what is not RTP: short, other versions, RTCP, bad padding or extension lengths", () => {
    expect(parseRtpPacket(Buffer.alloc(11, 0x80))).toBeUndefined();
    expect(parseRtpPacket(Buffer.concat([Buffer.from([0x40, 96]), Buffer.alloc(20)]))).toBeUndefined();
    expect(parseRtpPacket(emptyReceiverReport(7))).toBeUndefined(); // 8 bytes
    const sr = Buffer.alloc(28);
    sr[0] = 0x80;
    sr[1] = 200;
    sr.writeUInt16BE(6, 2);
    expect(parseRtpPacket(sr)).toBeUndefined();
    const badPad = rtp({ seq: 1, ts: 1, ssrc: 1, pt: 96, payload: Buffer.from([1, 2]) });
    badPad[0] = (badPad[0] as number) | 0x20;
    badPad[badPad.length - 1] = 200;
    expect(parseRtpPacket(badPad)).toBeUndefined();
    const badExt = rtp({ seq: 1, ts: 1, ssrc: 1, pt: 96, extWords: 1, payload: Buffer.alloc(0) });
    badExt.writeUInt16BE(50, 14);
    expect(parseRtpPacket(badExt)).toBeUndefined();
    const badCsrc = Buffer.from([0x8f, 96, ...Buffer.alloc(20)]);
    expect(parseRtpPacket(badCsrc)).toBeUndefined();
  });

  it("random bytes never throw, and a payload always lies inside the packet", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 80 }), (raw) => {
        const buf = Buffer.from(raw);
        const p = parseRtpPacket(buf);
        if (p) {
          expect(p.payload.byteOffset).toBeGreaterThanOrEqual(buf.byteOffset + 12);
          expect(p.payload.byteOffset + p.payload.length).toBeLessThanOrEqual(buf.byteOffset + buf.length);
        }
      }),
      fuzzParams(1000),
    );
  });
});

describe("RTCP", () => {
  it("finds the sender reports in a compound packet (SR + SDES, RR + SR)", () => {
    const sr = (ssrc: number, ntp: bigint, rtpTs: number): Buffer => {
      const b = Buffer.alloc(28);
      b[0] = 0x80;
      b[1] = 200;
      b.writeUInt16BE(6, 2);
      b.writeUInt32BE(ssrc, 4);
      b.writeBigUInt64BE(ntp, 8);
      b.writeUInt32BE(rtpTs, 16);
      return b;
    };
    const sdes = Buffer.from("81ca0003" + "00000001" + "0104757365720000", "hex");
    const compound = Buffer.concat([sr(1, 0xe8a1b2c3_00000000n, 90000), sdes, emptyReceiverReport(9), sr(0xffffffff, 1n, 0xffffffff)]);
    expect(senderReports(compound)).toEqual([
      { ssrc: 1, ntpTimestamp: 0xe8a1b2c3_00000000n, rtpTimestamp: 90000 },
      { ssrc: 0xffffffff, ntpTimestamp: 1n, rtpTimestamp: 0xffffffff },
    ]);
    // A truncated tail is ignored, not read past.
    expect(senderReports(compound.subarray(0, 30))).toHaveLength(1);
    expect(senderReports(Buffer.alloc(0))).toEqual([]);
    fc.assert(fc.property(fc.uint8Array({ maxLength: 100 }), (raw) => void senderReports(Buffer.from(raw))), fuzzParams(500));
  });

  it("writes an empty receiver report", () => {
    expect(emptyReceiverReport(0x01020304).toString("hex")).toBe("80c9000101020304");
  });
});
