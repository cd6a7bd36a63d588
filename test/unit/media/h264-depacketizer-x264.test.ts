/**
 * End to end through real encoders: libx264 Annex-B streams, packetized by werift's
 * H264Packetizer (single NAL, STAP-A, FU-A at a 1200-byte payload limit) and serialized to RTP,
 * must come out of the depacketizer as the very same access units.
 */
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { H264Packetizer, RtpPacket } from "werift";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { H264Depacketizer, type KeyframeNeededReason } from "../../../src/media/h264-depacketizer.js";
import { nalType, splitAnnexB, toAnnexB } from "../../../src/media/h264-nal.js";
import type { H264SpsInfo, VideoAccessUnit } from "../../../src/media/types.js";

const execFileAsync = promisify(execFile);

interface Unit {
  nalus: Uint8Array[];
  isKeyframe: boolean;
}

interface Pkt {
  seq: number;
  ts: number;
  marker: boolean;
  payload: Buffer;
}

/** Splits NAL units into access units (7.4.1.2.3): a new one at an AUD/SPS/PPS/SEI after a slice, or at a slice with first_mb_in_slice 0. */
function accessUnits(nalus: Uint8Array[]): Unit[] {
  const units: Unit[] = [];
  let current: Uint8Array[] = [];
  let hasSlice = false;
  const flush = (): void => {
    if (current.length) units.push({ nalus: current, isKeyframe: current.some((n) => nalType(n) === 5) });
    current = [];
    hasSlice = false;
  };
  for (const n of nalus) {
    const t = nalType(n);
    const isSlice = t === 1 || t === 5;
    if (hasSlice && ((t >= 6 && t <= 9) || (isSlice && ((n[1] as number) & 0x80) !== 0))) flush();
    current.push(n);
    if (isSlice) hasSlice = true;
  }
  flush();
  return units;
}

async function encode(dir: string, name: string, args: string[]): Promise<Unit[]> {
  const file = path.join(dir, name);
  await execFileAsync("ffmpeg", ["-v", "error", "-y", ...args, "-f", "h264", file]);
  return accessUnits(splitAnnexB(await readFile(file)));
}

/** Packetizes like a publisher, through a real RTP serialize/parse round trip. */
function packetize(units: Unit[], seq0: number, ts0: number): Pkt[] {
  const packetizer = new H264Packetizer({ maxPayloadSize: 1200, sequenceNumber: seq0 });
  const out: Pkt[] = [];
  units.forEach((u, i) => {
    for (const p of packetizer.packetize(toAnnexB(u.nalus), (ts0 + i * 3000) >>> 0)) {
      const rtp = RtpPacket.deSerialize(p.serialize());
      out.push({ seq: rtp.header.sequenceNumber, ts: rtp.header.timestamp, marker: rtp.header.marker, payload: rtp.payload });
    }
  });
  return out;
}

function depacketize(pkts: Pkt[], reorderWindowPackets = 64) {
  const aus: VideoAccessUnit[] = [];
  const reasons: KeyframeNeededReason[] = [];
  const sps: H264SpsInfo[] = [];
  const d = new H264Depacketizer({
    reorderWindowPackets,
    onAccessUnit: (au) => aus.push(au),
    onKeyframeNeeded: (r) => reasons.push(r),
    onParameterSetsChanged: (i) => sps.push(i),
  });
  let now = 0;
  for (const p of pkts) d.push(p.seq, p.ts, p.marker, p.payload, (now += 2));
  return { d, aus, reasons, sps };
}

const hexList = (nalus: Uint8Array[]): string[] => nalus.map((n) => Buffer.from(n).toString("hex"));

/** Deterministic PRNG (mulberry32), so a failing shuffle can be replayed. */
function rng(seed: number): () => number {
  let a = seed;
  return () => {
    a = (a + 0x6d2b79f5) | 0;
    let t = Math.imul(a ^ (a >>> 15), 1 | a);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 2 ** 32;
  };
}

let dir = "";
let baseline: Unit[] = [];
let slicedHigh: Unit[] = [];

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "ifc-x264-"));
  [baseline, slicedHigh] = await Promise.all([
    encode(dir, "360p.h264", [
      "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30", "-t", "2",
      "-c:v", "libx264", "-profile:v", "baseline", "-bf", "0", "-g", "30", "-sc_threshold", "0", "-pix_fmt", "yuv420p",
    ]),
    // High profile, 4 slices per picture and AUDs: several slices per unit, big FU-A runs.
    encode(dir, "720p.h264", [
      "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30", "-t", "1",
      "-c:v", "libx264", "-profile:v", "high", "-bf", "0", "-g", "15", "-sc_threshold", "0", "-pix_fmt", "yuv420p",
      "-x264-params", "slices=4:aud=1",
    ]),
  ]);
});

afterAll(async () => {
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("H264Depacketizer with libx264 + werift H264Packetizer", () => {
  it("the fixtures are what they claim", () => {
    expect(baseline).toHaveLength(60);
    expect(baseline.flatMap((u, i) => (u.isKeyframe ? [i] : []))).toEqual([0, 30]);
    expect(slicedHigh).toHaveLength(30);
    expect(slicedHigh.flatMap((u, i) => (u.isKeyframe ? [i] : []))).toEqual([0, 15]);
    expect(slicedHigh[1]?.nalus.filter((n) => nalType(n) === 1)).toHaveLength(4);
  });

  it("returns exactly the encoded access units, across sequence and timestamp wrap-around", () => {
    for (const [units, width, height] of [[baseline, 640, 360], [slicedHigh, 1280, 720]] as const) {
      const pkts = packetize(units, 65_400, 2 ** 32 - 10 * 3000);
      expect(pkts.some((p) => p.payload[0] !== undefined && (p.payload[0] & 0x1f) === 28)).toBe(true); // FU-A used
      expect(pkts.some((p) => p.seq < 1000)).toBe(true); // sequence wrapped
      const r = depacketize(pkts);
      expect(r.aus).toHaveLength(units.length);
      r.aus.forEach((au, i) => {
        const u = units[i] as Unit;
        expect(hexList(au.nalus)).toEqual(hexList(u.nalus));
        expect(au.isKeyframe).toBe(u.isKeyframe);
        expect(au.rtpTime).toBe(i * 3000);
        if (au.isKeyframe) {
          expect(au.sps).toEqual(u.nalus.find((n) => nalType(n) === 7));
          expect(au.pps).toEqual(u.nalus.find((n) => nalType(n) === 8));
        }
      });
      expect(r.sps.map((i) => [i.width, i.height])).toEqual([[width, height]]);
      expect(r.reasons).toEqual([]);
      expect(r.d.packetsReceived).toBe(pkts.length);
      expect(r.d.bytesReceived).toBe(pkts.reduce((n, p) => n + p.payload.length, 0));
      expect(r.d.keyframesEmitted).toBe(2);
      expect(r.d.packetsLost + r.d.unitsDropped + r.d.malformedPackets + r.d.packetsDuplicate).toBe(0);
    }
  });

  it("returns the same units when packets come reordered and duplicated within the window", () => {
    const pkts = packetize(slicedHigh, 40_000, 1234);
    const random = rng(42);
    const shuffled: Pkt[] = [];
    // Move each packet up to 20 places later, and send ~5% twice (NACK retransmissions). The
    // stream's first packet stays first: reordering at the very start has its own test.
    const keyed = pkts.map((p, i) => ({ p, at: i === 0 ? -1 : i + random() * 20 }));
    keyed.sort((a, b) => a.at - b.at);
    let dups = 0;
    for (const { p } of keyed) {
      shuffled.push(p);
      if (random() < 0.05) {
        shuffled.push(p);
        dups++;
      }
    }
    expect(shuffled.map((p) => p.seq)).not.toEqual(pkts.map((p) => p.seq));
    const r = depacketize(shuffled, 32);
    expect(r.aus.map((a) => hexList(a.nalus))).toEqual(slicedHigh.map((u) => hexList(u.nalus)));
    expect(dups).toBeGreaterThan(0);
    expect(r.d.packetsDuplicate).toBe(dups);
    expect(r.d.packetsLost + r.d.packetsLate + r.d.unitsDropped).toBe(0);
    expect(r.reasons).toEqual([]);
  });

  it("after a lost packet drops up to the next IDR, asks for one, and resumes with it", () => {
    const pkts = packetize(baseline, 100, 0);
    // A packet of unit 10 (a P frame) never arrives.
    const victim = pkts.findIndex((p) => p.ts === 10 * 3000);
    const r = depacketize(pkts.filter((_, i) => i !== victim), 16);
    const expected = baseline.filter((_, i) => i < 10 || i >= 30);
    expect(r.aus.map((a) => hexList(a.nalus))).toEqual(expected.map((u) => hexList(u.nalus)));
    expect(r.aus.map((a) => a.rtpTime)).toEqual([...Array.from({ length: 10 }, (_, i) => i * 3000), ...Array.from({ length: 30 }, (_, i) => (30 + i) * 3000)]);
    expect(r.reasons).toEqual(["loss"]);
    expect(r.d.packetsLost).toBe(1);
    expect(r.d.unitsDropped).toBe(20);
    expect(r.d.keyframesEmitted).toBe(2);
  });
});
