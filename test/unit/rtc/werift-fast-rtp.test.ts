import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { RtpHeader, RtpPacket } from "werift";
import { fastRtpHeaderDeSerialize, installFastRtpHeaderParsing, sameParse, weriftRtpHeaderParse } from "../../../src/rtc/werift-fast-rtp.js";

// werift's own parse, whether or not the fast one is installed in this process already.
const original = weriftRtpHeaderParse();

/** A header's fields as data, payload views by position and content. */
function fields(h: RtpHeader): unknown {
  const { extensions, ...rest } = h as RtpHeader & { extensions: { id: number; payload: Buffer }[] };
  return { ...rest, extensions: extensions.map((e) => ({ id: e.id, at: e.payload.byteOffset, bytes: [...e.payload] })) };
}

/** RTP-like packets: a valid-looking first byte most of the time, extension blocks of every profile, any length. */
const packets = fc.oneof(
  fc.uint8Array({ minLength: 0, maxLength: 96 }),
  fc
    .record({
      v: fc.constantFrom(2, 2, 2, 0, 1, 3),
      p: fc.boolean(),
      x: fc.boolean(),
      cc: fc.integer({ min: 0, max: 15 }),
      m: fc.boolean(),
      pt: fc.integer({ min: 0, max: 127 }),
      fixed: fc.uint8Array({ minLength: 10, maxLength: 10 }),
      csrc: fc.uint8Array({ minLength: 0, maxLength: 64 }),
      profile: fc.constantFrom(0xbede, 0x1000, 0xabcd, 0x1001),
      words: fc.integer({ min: 0, max: 8 }),
      ext: fc.uint8Array({ minLength: 0, maxLength: 40 }),
      tail: fc.uint8Array({ minLength: 0, maxLength: 24 }),
    })
    .map((r) => {
      const head = Buffer.from([(r.v << 6) | (r.p ? 0x20 : 0) | (r.x ? 0x10 : 0) | r.cc, (r.m ? 0x80 : 0) | r.pt, ...r.fixed]);
      const ext = r.x ? Buffer.concat([Buffer.from([r.profile >> 8, r.profile & 0xff, 0, r.words]), Buffer.from(r.ext)]) : Buffer.alloc(0);
      return new Uint8Array(Buffer.concat([head, Buffer.from(r.csrc), ext, Buffer.from(r.tail)]));
    }),
);

describe("fast RTP header parse (werift's RtpHeader.deSerialize without its string bit helper)", () => {
  it("returns the same header as werift's, or throws where werift's throws, on any input", () => {
    fc.assert(
      fc.property(packets, (bytes) => {
        // A view into a larger buffer, as packets are after SRTP: offsets must be respected.
        const backing = Buffer.concat([Buffer.from([9, 9, 9]), Buffer.from(bytes)]);
        const raw = backing.subarray(3);
        let want: unknown;
        let wantThrew = false;
        try {
          want = fields(original(raw));
        } catch {
          wantThrew = true;
        }
        if (wantThrew) {
          expect(() => fastRtpHeaderDeSerialize(raw)).toThrow();
        } else {
          const got = fastRtpHeaderDeSerialize(raw);
          expect(got).toBeInstanceOf(RtpHeader);
          expect(fields(got)).toEqual(want);
        }
      }),
      { numRuns: 5000 },
    );
  });

  it("parses a real packet's fields", () => {
    const pkt = new RtpPacket(new RtpHeader({ marker: true, payloadType: 96, sequenceNumber: 65535, timestamp: 0xfffffffe, ssrc: 0x12345678, csrc: [7, 8] }), Buffer.from("payload"));
    const h = fastRtpHeaderDeSerialize(pkt.serialize());
    expect([h.version, h.marker, h.payloadType, h.sequenceNumber, h.timestamp, h.ssrc, h.csrc, h.payloadOffset]).toEqual([2, true, 96, 65535, 0xfffffffe, 0x12345678, [7, 8], 20]);
  });

  it("is installed in place of werift's after agreeing with it, once; RtpPacket.deSerialize then uses it", () => {
    expect(sameParse(original, Buffer.from("80e0123400000001deadbeefaabbcc", "hex"))).toBe(true);
    // a parse that disagrees is detected
    expect(sameParse(() => new RtpHeader(), Buffer.from("80e0123400000001deadbeefaabbcc", "hex"))).toBe(false);
    // "already" when an earlier test file in this process installed it
    expect(["installed", "already"]).toContain(installFastRtpHeaderParsing());
    expect(installFastRtpHeaderParsing()).toBe("already");
    expect(RtpHeader.deSerialize).not.toBe(original);
    expect(weriftRtpHeaderParse()).not.toBe(RtpHeader.deSerialize);
    const p = RtpPacket.deSerialize(Buffer.from("a0601234000000010000000a6162630002", "hex"));
    expect(p.payload.toString()).toBe("abc"); // the two padding bytes are not payload
    expect(p.header.paddingSize).toBe(2);
  });
});
