/**
 * The H.264 depacketizer through the RTP reorder layer at the edges of RTP's number spaces:
 * a stream starting just below 2^16 (sequence) and 2^32 (timestamp), and a publisher that
 * restarts its sequence and clock.
 */
import { describe, expect, it } from "vitest";
import { H264Depacketizer } from "../../../src/media/h264-depacketizer.js";
import type { VideoAccessUnit } from "../../../src/media/types.js";

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, "hex"));
const SPS = hex("6742c01ed900a02ff97011000003000100000300320f162e48");
const PPS = hex("68cb83cb20");

function slice(type: 1 | 5, size: number, seed: number): Uint8Array {
  const b = new Uint8Array(size);
  b[0] = type === 5 ? 0x65 : 0x41;
  b[1] = 0x88;
  for (let i = 2; i < size; i++) b[i] = (seed * 31 + i * 7) & 0xff || 1;
  return b;
}
function stapA(nalus: Uint8Array[]): Uint8Array {
  const out = [0x18];
  for (const n of nalus) out.push(n.length >> 8, n.length & 0xff, ...n);
  return Uint8Array.from(out);
}
function fuA(nal: Uint8Array, chunk: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  const body = nal.subarray(1);
  for (let o = 0; o < body.length; o += chunk) {
    const s = o === 0 ? 0x80 : 0;
    const e = o + chunk >= body.length ? 0x40 : 0;
    out.push(Uint8Array.from([((nal[0] as number) & 0xe0) | 28, s | e | ((nal[0] as number) & 0x1f), ...body.subarray(o, o + chunk)]));
  }
  return out;
}

interface Pkt { seq: number; ts: number; marker: boolean; payload: Uint8Array }

/** 30 fps (3000 ticks a frame), an IDR every `gop` frames, each frame in `perFrame` FU-A packets. */
function stream(firstSeq: number, firstTs: number, frames: number, gop = 30, perFrame = 3): Pkt[] {
  const pkts: Pkt[] = [];
  let seq = firstSeq;
  for (let f = 0; f < frames; f++) {
    const ts = (firstTs + f * 3000) >>> 0;
    const key = f % gop === 0;
    const payloads = [...(key ? [stapA([SPS, PPS])] : []), ...fuA(slice(key ? 5 : 1, perFrame * 100, f), 100)];
    payloads.forEach((payload, i) => pkts.push({ seq: seq++ & 0xffff, ts, marker: i === payloads.length - 1, payload }));
  }
  return pkts;
}

function run(pkts: Pkt[], reorderWindowPackets = 16) {
  const aus: VideoAccessUnit[] = [];
  const d = new H264Depacketizer({ onAccessUnit: (au) => aus.push(au), reorderWindowPackets });
  pkts.forEach((p, i) => d.push(p.seq, p.ts, p.marker, p.payload, 1000 + i));
  return { d, aus };
}

describe("H264Depacketizer across RTP wrap-around", () => {
  it("a stream starting just below 2^16 and 2^32: continuous rtpTime, no false losses, no unit dropped", () => {
    const pkts = stream(65_536 - 40, 2 ** 32 - 20 * 3000, 60);
    expect(pkts.filter((p) => p.seq < 1000).length).toBeGreaterThan(100);
    expect(pkts.filter((p) => p.ts < 3000 * 60).length).toBeGreaterThan(100);
    // Reordered by a packet or two all through, the wraps included.
    for (let i = 3; i + 2 < pkts.length; i += 5) [pkts[i], pkts[i + 2]] = [pkts[i + 2] as Pkt, pkts[i] as Pkt];
    const { d, aus } = run(pkts);
    expect(aus.map((a) => a.rtpTime)).toEqual(Array.from({ length: 60 }, (_, i) => i * 3000));
    expect(aus.filter((a) => a.isKeyframe)).toHaveLength(2);
    expect(d).toMatchObject({ packetsLost: 0, packetsLate: 0, unitsDropped: 0, sequenceJumps: 0, sequenceResets: 0 });
  });

  it("a sequence wrap exactly on a unit's fragments keeps the unit whole", () => {
    // Frame 3's FU-A fragments straddle 65535 → 0.
    const pkts = stream(65_536 - 3 * 4 - 2, 5, 8, 30, 4);
    const { d, aus } = run(pkts, 0);
    expect(aus).toHaveLength(8);
    expect(d.packetsLost).toBe(0);
  });

  it("a publisher restarting its sequence and clock far behind: not wedged, resumes at its IDR, rtpTime steps once", () => {
    const before = stream(40_000, 1_000_000_000, 30);
    const after = stream(10_000, 5_000, 60); // a restarted encoder: new numbers, new clock, an IDR first
    const { d, aus } = run([...before, ...after]);
    expect(d.sequenceResets).toBe(1);
    expect(d.packetsLost).toBe(0);
    expect(aus).toHaveLength(90);
    const steps = aus.slice(1).map((a, i) => a.rtpTime - (aus[i] as VideoAccessUnit).rtpTime);
    // One backward step (left to TrackTimeline as a discontinuity), every other one a frame.
    expect(steps.filter((s) => s !== 3000)).toHaveLength(1);
    expect(steps[29]).toBe(5_000 - (1_000_000_000 + 29 * 3000));
  });
});
