import { describe, expect, it } from "vitest";
import type { TappedRtpPacket } from "../../../../src/core/stream-hub.js";
import { RtpRing } from "../../../../src/distributor/whep/rtp-ring.js";

const IDR = 0x65;
const SLICE = 0x41;

function pkt(seq: number, timestamp: number, type: number, bytes = 100, ssrc = 1): TappedRtpPacket {
  const payload = Buffer.alloc(bytes);
  payload[0] = type;
  return { header: { sequenceNumber: seq & 0xffff, timestamp: timestamp >>> 0, marker: true, ssrc, payloadType: 96 }, payload };
}

/** A 30 fps single-packet-per-frame video feed with an injected clock (one frame every 33 ms). */
function feed(ring: RtpRing, clock: { now: number }, from: number, frames: number, gop: number, opts: { bytes?: number; ssrc?: number } = {}): void {
  for (let i = from; i < from + frames; i++) {
    ring.push(pkt(i, i * 3000, i % gop === 0 ? IDR : SLICE, opts.bytes ?? 100, opts.ssrc ?? 1));
    clock.now += 33;
  }
}

describe("RtpRing limits (IFC_STREAM_BUFFER_MS / _BYTES, IFC_WHEP_PACKET_CACHE_PACKETS floor)", () => {
  it("drops packets older than maxAgeMs, but keeps the newest GOP whole however old its IDR", () => {
    const clock = { now: 0 };
    const ring = new RtpRing({ minPackets: 8, maxAgeMs: 1000, maxBytes: 1 << 30 }, true, () => clock.now);
    feed(ring, clock, 0, 300, 120); // 4 s GOPs: IDRs at 0, 120, 240
    expect(ring.lastKeyframeStart).toBe(240);
    // 59 frames (~2 s) since the IDR at 240, more than maxAgeMs: the GOP stays from its IDR
    expect(ring.tail).toBe(240);
    expect(ring.size).toBe(60);
    expect(ring.bytes).toBe(60 * 100);
    feed(ring, clock, 300, 61, 120); // the IDR at 360 arrives: the older GOP may go now, by age
    expect(ring.lastKeyframeStart).toBe(360);
    // kept: the newest GOP (1 frame) and everything younger than 1000 ms (at most 31 frames)
    expect(ring.head - ring.tail).toBeLessThanOrEqual(Math.max(8, 31));
    expect(ring.head - ring.tail).toBeGreaterThanOrEqual(30);
  });

  it("keeps maxAgeMs of packets when GOPs are short, and at least minPackets", () => {
    const clock = { now: 0 };
    const ring = new RtpRing({ minPackets: 8, maxAgeMs: 990, maxBytes: 1 << 30 }, true, () => clock.now);
    feed(ring, clock, 0, 300, 30); // 1 s GOPs
    // the packet at the tail is within 990 ms of the newest (its age is measured at the newest's arrival)
    const age = ring.arrivalAt(ring.head - 1) - ring.arrivalAt(ring.tail);
    expect(age).toBeLessThanOrEqual(990);
    expect(age + 33).toBeGreaterThan(990); // and the one before it was older
    expect(ring.at(ring.tail - 1)).toBeUndefined();
    const clock2 = { now: 0 };
    const tiny = new RtpRing({ minPackets: 50, maxAgeMs: 0, maxBytes: 1 << 30 }, true, () => clock2.now);
    feed(tiny, clock2, 0, 300, 30);
    expect(tiny.size).toBe(50); // the floor, beyond the GOP (30) and the age (0)
  });

  it("with keepByAge off (nobody reads the ring), only the newest GOP and the minPackets floor stay", () => {
    const clock = { now: 0 };
    const ring = new RtpRing({ minPackets: 20, maxAgeMs: 10_000, maxBytes: 1 << 30 }, true, () => clock.now);
    ring.keepByAge = false;
    feed(ring, clock, 0, 300, 30); // 1 s GOPs, 10 s of them: the age limit alone would keep them all
    expect(ring.lastKeyframeStart).toBe(270);
    expect(ring.size).toBe(30); // the newest GOP (270..299), which is more than the floor
    feed(ring, clock, 300, 5, 30); // a new IDR at 300: its GOP is 5 packets, the floor keeps 20
    expect([ring.tail, ring.size]).toEqual([285, 20]);
    ring.keepByAge = true; // a viewer came: packets are kept by age again from here
    feed(ring, clock, 305, 100, 30);
    expect(ring.tail).toBe(285);
    expect(ring.size).toBe(120);
  });

  it("the byte cap is hard: the oldest go first, even the newest GOP's IDR (then no cached join is possible)", () => {
    const clock = { now: 0 };
    const ring = new RtpRing({ minPackets: 8, maxAgeMs: 60_000, maxBytes: 10_000 }, true, () => clock.now);
    feed(ring, clock, 0, 100, 120);
    expect(ring.bytes).toBeLessThanOrEqual(10_000);
    expect(ring.bytes).toBe(100 * 100); // exactly at the cap: nothing dropped yet
    expect(ring.tail).toBe(0);
    feed(ring, clock, 100, 1, 120); // one byte over... one packet over: the oldest (the IDR) goes
    expect(ring.bytes).toBe(10_000);
    expect(ring.tail).toBe(1);
    expect(ring.lastKeyframeStart).toBe(0);
    expect(ring.lastKeyframeStart < ring.tail).toBe(true);
  });

  it("grows past its initial slots and keeps indexes, arrivals and sequence lookups right", () => {
    const clock = { now: 0 };
    const ring = new RtpRing({ minPackets: 16, maxAgeMs: 1e9, maxBytes: 1 << 30 }, true, () => clock.now);
    feed(ring, clock, 65000, 3000, 3000); // one GOP of 3000 packets, across the 16-bit wrap
    expect(ring.size).toBe(3000);
    expect(ring.at(0)?.header.sequenceNumber).toBe(65000);
    expect(ring.at(2999)?.header.sequenceNumber).toBe((65000 + 2999) & 0xffff);
    expect(ring.arrivalAt(10)).toBe(330);
    expect(ring.indexOfSeq(3)).toBe(65536 + 3 - 65000);
    expect(ring.indexOfSeq(3, 600)).toBe(-1); // before `from`
    expect(ring.indexArrivedFrom(331)).toBe(11);
    expect(ring.indexArrivedFrom(1e12)).toBe(ring.head);
  });

  it("marks a publisher change from the hub once, and one found by SSRC alone once", () => {
    const clock = { now: 0 };
    const ring = new RtpRing({ minPackets: 8, maxAgeMs: 60_000, maxBytes: 1 << 30 }, true, () => clock.now);
    feed(ring, clock, 0, 10, 5);
    expect(ring.lastKeyframeStart).toBe(5);
    ring.markPublisherChange(123);
    expect(ring.publisher).toEqual({ index: 10, lastMediaAt: 123 });
    expect(ring.lastKeyframeStart).toBe(-1); // the old GOP is no start for anyone now
    feed(ring, clock, 500, 3, 100, { ssrc: 2 }); // the new SSRC after the signal: no second mark
    expect([ring.publisherChanges, ring.publisher.index, ring.lastKeyframeStart]).toEqual([1, 10, 10]);
    // an SSRC change with no signal
    feed(ring, clock, 900, 2, 1000, { ssrc: 3 });
    expect([ring.publisherChanges, ring.publisher.index]).toEqual([2, 13]);
    expect(ring.lastKeyframeStart).toBe(-1);
    // the hub's late signal for that change adds when the old media stopped, and marks nothing new
    ring.markPublisherChange(456);
    expect([ring.publisherChanges, ring.publisher.index, ring.publisher.lastMediaAt]).toEqual([2, 13, 456]);
  });
});
