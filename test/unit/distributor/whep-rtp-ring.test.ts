import { describe, expect, it } from "vitest";
import type { TappedRtpPacket } from "../../../src/core/stream-hub.js";
import { RtpRing, startsKeyframe } from "../../../src/distributor/whep/rtp-ring.js";

function pkt(seq: number, timestamp: number, payload: number[], marker = false): TappedRtpPacket {
  return { header: { sequenceNumber: seq & 0xffff, timestamp, marker, ssrc: 1, payloadType: 96 }, payload: Buffer.from(payload) };
}

const IDR = [0x65, 1, 2];
const SLICE = [0x41, 1, 2];
const SPS = [0x67, 0x64, 0, 0x1f];
const FU_IDR_START = [0x7c, 0x85, 9];
const FU_IDR_MIDDLE = [0x7c, 0x05, 9];
const STAP_SPS_PPS = [0x78, 0, 4, ...SPS, 0, 2, 0x68, 1];

describe("startsKeyframe", () => {
  it("recognizes IDR and SPS alone, in STAP-A and as FU-A start only", () => {
    expect(startsKeyframe(Buffer.from(IDR))).toBe(true);
    expect(startsKeyframe(Buffer.from(SPS))).toBe(true);
    expect(startsKeyframe(Buffer.from(STAP_SPS_PPS))).toBe(true);
    expect(startsKeyframe(Buffer.from(FU_IDR_START))).toBe(true);
    expect(startsKeyframe(Buffer.from(FU_IDR_MIDDLE))).toBe(false);
    expect(startsKeyframe(Buffer.from(SLICE))).toBe(false);
    expect(startsKeyframe(Buffer.from([0x78, 0, 3, 0x41, 1, 2]))).toBe(false);
  });
});

describe("RtpRing", () => {
  it("holds the newest packets by index within its byte cap and finds them by sequence number", () => {
    const ring = new RtpRing({ minPackets: 4, maxAgeMs: 60_000, maxBytes: 4 * SLICE.length }, false);
    for (let i = 0; i < 6; i++) ring.push(pkt(65534 + i, 0, SLICE));
    expect(ring.head).toBe(6);
    expect(ring.tail).toBe(2);
    expect(ring.at(1)).toBeUndefined();
    expect(ring.at(2)?.header.sequenceNumber).toBe(0);
    expect(ring.at(6)).toBeUndefined();
    expect(ring.indexOfSeq(1)).toBe(3); // across the 16-bit wrap
    expect(ring.indexOfSeq(65534)).toBe(-1); // dropped
  });

  it("marks the first packet of the newest keyframe access unit, whatever packet of it shows the IDR", () => {
    const ring = new RtpRing({ minPackets: 64, maxAgeMs: 60_000, maxBytes: 1 << 20 }, true);
    ring.push(pkt(1, 1000, SLICE, true));
    expect(ring.lastKeyframeStart).toBe(-1);
    // SEI first, then SPS/PPS, then the IDR: the unit starts at the SEI (index 1)
    ring.push(pkt(2, 4000, [0x06, 5]));
    ring.push(pkt(3, 4000, STAP_SPS_PPS));
    expect(ring.lastKeyframeStart).toBe(1);
    expect(ring.keyframeArriving).toBe(true);
    ring.push(pkt(4, 4000, FU_IDR_START));
    ring.push(pkt(5, 4000, [0x7c, 0x45, 9], true));
    expect(ring.keyframes).toBe(1);
    ring.push(pkt(6, 7000, SLICE, true));
    expect(ring.keyframeArriving).toBe(false);
    expect(ring.lastKeyframeStart).toBe(1);
    ring.push(pkt(7, 10000, IDR, true));
    expect(ring.lastKeyframeStart).toBe(6);
    expect(ring.keyframes).toBe(2);
  });
});
