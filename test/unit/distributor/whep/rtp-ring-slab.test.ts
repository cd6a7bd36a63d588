import fc from "fast-check";
import { describe, expect, it } from "vitest";
import type { TappedRtpPacket } from "../../../../src/core/stream-hub.js";
import { RtpRing } from "../../../../src/distributor/whep/rtp-ring.js";

/** A packet whose payload says which packet it is: its first byte the NAL type, then `seq` repeated. */
function pkt(seq: number, bytes: number, key: boolean): TappedRtpPacket {
  const payload = Buffer.alloc(bytes, seq & 0xff);
  if (bytes > 0) payload[0] = key ? 0x65 : 0x41;
  return { header: { sequenceNumber: seq & 0xffff, timestamp: (seq * 3000) >>> 0, marker: seq % 3 === 0, ssrc: 7, payloadType: 96 + (seq % 2) }, payload };
}

describe("RtpRing payload slab (packets copied in, not held by reference)", () => {
  it("every held packet reads back as pushed across wraps and doublings, and bytes are accounted", () => {
    fc.assert(
      fc.property(
        // Payloads large next to the 64 KiB first slab, so that wraps, tight gaps and doublings are common.
        fc.array(fc.tuple(fc.integer({ min: 0, max: 24_000 }), fc.boolean()), { minLength: 1, maxLength: 200, size: "max" }),
        fc.integer({ min: 1, max: 40 }),
        // Byte caps near the first slab's size make its gaps tight (wraps into a nearly full slab).
        fc.oneof(fc.integer({ min: 20_000, max: 70_000 }), fc.integer({ min: 2000, max: 300_000 })),
        fc.boolean(),
        (sizes, minPackets, maxBytes, keepByAge) => {
          let now = 0;
          const ring = new RtpRing({ minPackets, maxAgeMs: 500, maxBytes }, true, () => now);
          ring.keepByAge = keepByAge;
          const pushed: TappedRtpPacket[] = [];
          for (const [bytes, key] of sizes) {
            const p = pkt(pushed.length, bytes, key);
            pushed.push(p);
            ring.push(p);
            now += 7;
            let sum = 0;
            for (let i = ring.tail; i < ring.head; i++) {
              const want = pushed[i] as TappedRtpPacket;
              const got = ring.at(i);
              expect(got?.header).toEqual(want.header);
              expect(Buffer.compare(got?.payload ?? Buffer.alloc(0), want.payload)).toBe(0);
              expect([ring.seqAt(i), ring.timestampAt(i), ring.markerAt(i), ring.lengthAt(i)]).toEqual([want.header.sequenceNumber, want.header.timestamp, want.header.marker, want.payload.length]);
              sum += want.payload.length;
            }
            expect(ring.bytes).toBe(sum);
            expect(ring.has(ring.tail - 1)).toBe(false);
            expect(ring.payloadAt(ring.head)).toBeUndefined();
          }
        },
      ),
      { numRuns: 150 },
    );
  });

  it("grows (copying what it holds) when the held packets fill the slab from its start", () => {
    // minPackets 50: a 64 KiB first slab; all 200 kept, by age (the clock stands still)
    const ring = new RtpRing({ minPackets: 50, maxAgeMs: 500, maxBytes: 1e7 }, true, () => 0);
    for (let i = 0; i < 200; i++) ring.push(pkt(i, 1000, i % 10 === 0)); // 200 kB through it
    expect([ring.tail, ring.size, ring.bytes]).toEqual([0, 200, 200_000]);
    for (let i = 0; i < 200; i++) expect(Buffer.compare(ring.payloadAt(i) as Buffer, pkt(i, 1000, i % 10 === 0).payload)).toBe(0);
  });

  it("holds no reference to the pushed packet or its payload buffer", () => {
    const ring = new RtpRing({ minPackets: 8, maxAgeMs: 1000, maxBytes: 1 << 20 }, true, () => 0);
    const p = pkt(1, 100, true);
    ring.push(p);
    p.payload.fill(0xee); // the publisher's buffer reused or changed: the ring's copy is not
    expect(ring.payloadAt(0)?.[1]).toBe(1);
  });
});
