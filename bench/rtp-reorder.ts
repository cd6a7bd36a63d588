/**
 * The RTP hot path before and after the reorder layer was split out of the depacketizers:
 * ns per packet through H264Depacketizer (and OpusDepacketizer) against frozen copies of the
 * pre-split code (bench/lib/*-before-split.ts), on the same synthetic packets, in-process.
 * Packets: 720p-like H.264 (a 60 KB IDR every 30 frames, 8 KB P frames, 1200-byte FU-A), small
 * single-NAL H.264 (one packet a frame: the bookkeeping alone, no FU-A copy) and 20 ms Opus, each in order and with 1 % of neighbours swapped. Rounds alternate before/after
 * so machine noise hits both alike; the median round is reported.
 *   npx tsx bench/rtp-reorder.ts [rounds=21] [packets=200000]   (--short: 5 rounds, 50000)
 */
import { H264Depacketizer } from "../src/media/h264-depacketizer.js";
import { OpusDepacketizer } from "../src/media/opus-depacketizer.js";
import { H264Depacketizer as H264Before } from "./lib/h264-depacketizer-before-split.js";
import { OpusDepacketizer as OpusBefore } from "./lib/opus-depacketizer-before-split.js";
import { machine, numArg, writeResults } from "./lib/results.js";
import { median, round } from "./lib/stats.js";

const rounds = numArg(0, 21, 5);
const packetCount = numArg(1, 200_000, 50_000);

interface Pkt {
  seq: number;
  ts: number;
  marker: boolean;
  payload: Uint8Array;
}

const SPS = Uint8Array.from(Buffer.from("6742c01ed900a02ff97011000003000100000300320f162e48", "hex"));
const PPS = Uint8Array.from(Buffer.from("68cb83cb20", "hex"));

function fuA(type: number, size: number, mtu: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  for (let o = 0; o < size; o += mtu) {
    const n = Math.min(mtu, size - o);
    const p = new Uint8Array(n + 2);
    p[0] = 0x60 | 28;
    p[1] = (o === 0 ? 0x80 : 0) | (o + mtu >= size ? 0x40 : 0) | type;
    if (o === 0) p[2] = 0x88; // first_mb_in_slice = 0
    out.push(p);
  }
  return out;
}

function stapA(nalus: Uint8Array[]): Uint8Array {
  const out = [0x18];
  for (const n of nalus) out.push(n.length >> 8, n.length & 0xff, ...n);
  return Uint8Array.from(out);
}

function videoPackets(n: number, swapEvery: number): Pkt[] {
  const pkts: Pkt[] = [];
  let seq = 60_000;
  for (let f = 0; pkts.length < n; f++) {
    const key = f % 30 === 0;
    const payloads = key ? [stapA([SPS, PPS]), ...fuA(5, 60_000, 1200)] : fuA(1, 8_000, 1200);
    const ts = (4_000_000_000 + f * 3000) >>> 0; // wraps within the run
    payloads.forEach((payload, i) => pkts.push({ seq: seq++ & 0xffff, ts, marker: i === payloads.length - 1, payload }));
  }
  pkts.length = n;
  if (swapEvery > 0) for (let i = 1; i + 1 < n; i += swapEvery) [pkts[i], pkts[i + 1]] = [pkts[i + 1] as Pkt, pkts[i] as Pkt];
  return pkts;
}

/** One small single-NAL P slice per packet (and frame): the per-packet bookkeeping, without FU-A copies. */
function singleNalPackets(n: number, swapEvery: number): Pkt[] {
  const pkts: Pkt[] = [];
  const key = [stapA([SPS, PPS]), Uint8Array.of(0x65, 0x88, 1, 2, 3, 4, 5, 6)];
  const delta = Uint8Array.of(0x41, 0x88, 1, 2, 3, 4, 5, 6);
  let seq = 60_000;
  for (let f = 0; pkts.length < n; f++) {
    const payloads = f % 300 === 0 ? key : [delta];
    const ts = (4_294_000_000 + f * 3000) >>> 0;
    payloads.forEach((payload, i) => pkts.push({ seq: seq++ & 0xffff, ts, marker: i === payloads.length - 1, payload }));
  }
  pkts.length = n;
  if (swapEvery > 0) for (let i = 1; i + 1 < n; i += swapEvery) [pkts[i], pkts[i + 1]] = [pkts[i + 1] as Pkt, pkts[i] as Pkt];
  return pkts;
}

function audioPackets(n: number, swapEvery: number): Pkt[] {
  const pkts: Pkt[] = [];
  for (let i = 0; i < n; i++) pkts.push({ seq: (65_000 + i) & 0xffff, ts: (i * 960) >>> 0, marker: false, payload: Uint8Array.of(0xfc, i & 0xff, 1, 2, 3, 4) });
  if (swapEvery > 0) for (let i = 1; i + 1 < n; i += swapEvery) [pkts[i], pkts[i + 1]] = [pkts[i + 1] as Pkt, pkts[i] as Pkt];
  return pkts;
}

type Run = (pkts: Pkt[]) => number;

let sink = 0;
const runs: Record<string, Run> = {
  h264Before: (pkts) => {
    const d = new H264Before({ onAccessUnit: (au) => (sink += au.nalus.length) });
    for (const p of pkts) d.push(p.seq, p.ts, p.marker, p.payload, 0);
    return d.unitsEmitted;
  },
  h264After: (pkts) => {
    const d = new H264Depacketizer({ onAccessUnit: (au) => (sink += au.nalus.length) });
    for (const p of pkts) d.push(p.seq, p.ts, p.marker, p.payload, 0);
    return d.unitsEmitted;
  },
  opusBefore: (pkts) => {
    const d = new OpusBefore({ onFrame: (f) => (sink += f.data.length) });
    for (const p of pkts) d.push(p.seq, p.ts, p.payload, 0);
    return d.framesEmitted;
  },
  opusAfter: (pkts) => {
    const d = new OpusDepacketizer({ onFrame: (f) => (sink += f.data.length) });
    for (const p of pkts) d.push(p.seq, p.ts, p.payload, 0);
    return d.framesEmitted;
  },
};

function nsPerPacket(run: Run, pkts: Pkt[]): { ns: number; emitted: number } {
  const t = process.hrtime.bigint();
  const emitted = run(pkts);
  return { ns: Number(process.hrtime.bigint() - t) / pkts.length, emitted };
}

const m = machine();
const cases = [
  { name: "h264InOrder", before: "h264Before", after: "h264After", pkts: videoPackets(packetCount, 0) },
  { name: "h264Reordered1pct", before: "h264Before", after: "h264After", pkts: videoPackets(packetCount, 100) },
  { name: "h264SingleNalInOrder", before: "h264Before", after: "h264After", pkts: singleNalPackets(packetCount, 0) },
  { name: "opusInOrder", before: "opusBefore", after: "opusAfter", pkts: audioPackets(packetCount, 0) },
  { name: "opusReordered1pct", before: "opusBefore", after: "opusAfter", pkts: audioPackets(packetCount, 100) },
] as const;

const out: Record<string, unknown> = {};
for (const c of cases) {
  const before: number[] = [];
  const after: number[] = [];
  const emitted = { before: 0, after: 0 };
  // Warm-up: both paths compiled by the JIT before timing.
  for (let w = 0; w < 3; w++) {
    (runs[c.before] as Run)(c.pkts);
    (runs[c.after] as Run)(c.pkts);
  }
  for (let r = 0; r < rounds; r++) {
    const first = r % 2 === 0;
    const a = nsPerPacket(runs[first ? c.before : c.after] as Run, c.pkts);
    const b = nsPerPacket(runs[first ? c.after : c.before] as Run, c.pkts);
    (first ? before : after).push(a.ns);
    (first ? after : before).push(b.ns);
    emitted.before = first ? a.emitted : b.emitted;
    emitted.after = first ? b.emitted : a.emitted;
  }
  const mb = median(before) as number;
  const ma = median(after) as number;
  out[c.name] = {
    packets: c.pkts.length,
    medianNsPerPacketBefore: round(mb, 1),
    medianNsPerPacketAfter: round(ma, 1),
    afterOverBefore: round(ma / mb, 3),
    unitsEmitted: emitted,
  };
  console.log(`${c.name}: before ${round(mb, 1)} ns/pkt, after ${round(ma, 1)} ns/pkt (x${round(ma / mb, 3)}), units ${emitted.before}/${emitted.after}`);
}
const file = await writeResults("rtp-reorder", m, { rounds, note: "ns per packet, in-process, synthetic packets; Opus 'before' had no reorder buffer (it dropped reordered packets)", results: out, sink: sink > 0 });
console.log(file);
