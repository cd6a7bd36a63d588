import { describe, expect, it } from "vitest";
import { H264Depacketizer, type H264DepacketizerOptions, type KeyframeNeededReason } from "../../../src/media/h264-depacketizer.js";
import type { H264SpsInfo, VideoAccessUnit } from "../../../src/media/types.js";

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, "hex"));
const toHex = (b: Uint8Array | undefined): string | undefined => (b ? Buffer.from(b).toString("hex") : undefined);

// libx264 parameter sets (see h264-sps.test.ts): 640x360 baseline and 1280x720 high.
const SPS_360 = hex("6742c01ed900a02ff97011000003000100000300320f162e48");
const PPS_360 = hex("68cb83cb20");
const SPS_720 = hex("6764001facd9405005bb0110000003001000000303c0f1831960");
const PPS_720 = hex("68ebe3cb22c0");

/** A slice NAL of `size` bytes; the byte after the header has its top bit set (first_mb_in_slice = 0). */
function slice(type: 1 | 5, size: number, seed: number): Uint8Array {
  const b = new Uint8Array(size);
  b[0] = type === 5 ? 0x65 : 0x41;
  b[1] = 0x88;
  for (let i = 2; i < size; i++) b[i] = (seed * 31 + i * 7) & 0xff || 1;
  return b;
}
const idr = (size = 50, seed = 1): Uint8Array => slice(5, size, seed);
const pSlice = (size = 30, seed = 2): Uint8Array => slice(1, size, seed);

function stapA(nalus: Uint8Array[]): Uint8Array {
  const out = [0x18];
  for (const n of nalus) out.push(n.length >> 8, n.length & 0xff, ...n);
  return Uint8Array.from(out);
}

function fuA(nal: Uint8Array, chunk: number): Uint8Array[] {
  const out: Uint8Array[] = [];
  const body = nal.subarray(1);
  for (let o = 0; o < body.length; o += chunk) {
    const part = body.subarray(o, o + chunk);
    const s = o === 0 ? 0x80 : 0;
    const e = o + chunk >= body.length ? 0x40 : 0;
    out.push(Uint8Array.from([((nal[0] as number) & 0xe0) | 28, s | e | ((nal[0] as number) & 0x1f), ...part]));
  }
  return out;
}

interface Pkt {
  seq: number;
  ts: number;
  marker: boolean;
  payload: Uint8Array;
}

/** Numbers packets and timestamps like a publisher: one timestamp per unit, marker on its last packet. */
class Sender {
  constructor(
    public seq = 1000,
    public ts = 90_000,
  ) {}
  unit(payloads: Uint8Array[], opts: { marker?: boolean } = {}): Pkt[] {
    const pkts = payloads.map((payload, i) => ({
      seq: this.seq++ & 0xffff,
      ts: this.ts >>> 0,
      marker: (opts.marker ?? true) && i === payloads.length - 1,
      payload,
    }));
    this.ts += 3000;
    return pkts;
  }
  /** A keyframe unit: STAP-A(SPS, PPS) then the IDR, fragmented when large. */
  keyframe(idrNal = idr(), sps = SPS_360, pps = PPS_360): Pkt[] {
    return this.unit([stapA([sps, pps]), ...(idrNal.length > 1000 ? fuA(idrNal, 900) : [idrNal])]);
  }
  delta(nal = pSlice()): Pkt[] {
    return this.unit(nal.length > 1000 ? fuA(nal, 900) : [nal]);
  }
}

function receiver(opts: Partial<H264DepacketizerOptions> = {}) {
  const aus: VideoAccessUnit[] = [];
  const reasons: KeyframeNeededReason[] = [];
  const spsChanges: H264SpsInfo[] = [];
  const d = new H264Depacketizer({
    onAccessUnit: (au) => aus.push(au),
    onKeyframeNeeded: (r) => reasons.push(r),
    onParameterSetsChanged: (i) => spsChanges.push(i),
    ...opts,
  });
  let now = 1_000;
  const push = (pkts: Pkt[], arrivalMs?: number): void => {
    for (const p of pkts) d.push(p.seq, p.ts, p.marker, p.payload, arrivalMs ?? (now += 1));
  };
  return { d, aus, reasons, spsChanges, push };
}

/** The counters, as a plain object (they are getters, which make poor diffs). */
function stats(d: H264Depacketizer): Record<string, number> {
  const { packetsReceived, packetsLost, packetsDuplicate, packetsLate, malformedPackets, unitsEmitted, unitsDropped, keyframesEmitted, bytesReceived } = d;
  return { packetsReceived, packetsLost, packetsDuplicate, packetsLate, malformedPackets, unitsEmitted, unitsDropped, keyframesEmitted, bytesReceived };
}

const nalHexes = (au: VideoAccessUnit | undefined): string[] => (au ? au.nalus.map((n) => toHex(n) as string) : []);

describe("H264Depacketizer: payload structures", () => {
  it("assembles single NAL unit packets, with parameter sets on the keyframe", () => {
    const s = new Sender();
    const r = receiver();
    const i0 = idr(80, 1);
    const p1 = pSlice(40, 2);
    r.push([...s.unit([SPS_360, PPS_360, i0]), ...s.unit([p1])]);
    expect(r.aus).toHaveLength(2);
    const [k, p] = r.aus;
    expect(nalHexes(k)).toEqual([toHex(SPS_360), toHex(PPS_360), toHex(i0)]);
    expect(k).toMatchObject({ kind: "video", codec: "h264", isKeyframe: true, rtpTime: 0, arrivalMs: 1003, wallClockMs: 1003 });
    expect(toHex(k?.sps)).toBe(toHex(SPS_360));
    expect(toHex(k?.pps)).toBe(toHex(PPS_360));
    expect(nalHexes(p)).toEqual([toHex(p1)]);
    expect(p).toMatchObject({ isKeyframe: false, rtpTime: 3000, arrivalMs: 1004 });
    expect(p?.sps).toBeUndefined();
    expect(r.spsChanges).toEqual([expect.objectContaining({ width: 640, height: 360 })]);
    expect(r.reasons).toEqual([]);
    expect(stats(r.d)).toMatchObject({ packetsReceived: 4, unitsEmitted: 2, keyframesEmitted: 1, unitsDropped: 0, packetsLost: 0, malformedPackets: 0 });
    expect(r.d.bytesReceived).toBe(SPS_360.length + PPS_360.length + 80 + 40);
    expect(r.d.spsInfo).toMatchObject({ width: 640, height: 360 });
  });

  it("unpacks STAP-A and reassembles FU-A", () => {
    const s = new Sender();
    const r = receiver();
    const bigIdr = idr(5000, 3);
    const bigP = pSlice(2500, 4);
    const sei = Uint8Array.from([0x06, 0x05, 0x01, 0xaa, 0x80]);
    r.push([...s.unit([stapA([SPS_360, PPS_360, sei]), ...fuA(bigIdr, 1100)]), ...s.unit(fuA(bigP, 1000)), ...s.unit([stapA([pSlice(20, 5), pSlice(25, 6)])])]);
    expect(r.aus.map(nalHexes)).toEqual([
      [toHex(SPS_360), toHex(PPS_360), toHex(sei), toHex(bigIdr)],
      [toHex(bigP)],
      [toHex(pSlice(20, 5)), toHex(pSlice(25, 6))],
    ]);
    expect(r.aus.map((a) => a.isKeyframe)).toEqual([true, false, false]);
    expect(r.aus.map((a) => a.rtpTime)).toEqual([0, 3000, 6000]);
    expect(r.d.malformedPackets).toBe(0);
  });

  it("ends a unit at a new timestamp when its marker is missing", () => {
    const s = new Sender();
    const r = receiver();
    const p1 = pSlice(30, 9);
    r.push([...s.keyframe(), ...s.unit([p1], { marker: false })]);
    expect(r.aus).toHaveLength(1); // the unit without marker is still open
    r.push(s.delta(), 5000);
    expect(r.aus).toHaveLength(3);
    expect(nalHexes(r.aus[1])).toEqual([toHex(p1)]);
    expect(r.aus[1]?.rtpTime).toBe(3000);
    // The unit's arrival is that of its last packet, not of the packet that revealed its end.
    expect(r.aus[1]?.arrivalMs).toBeLessThan(5000);
    // flush() ends a final unit whose marker never comes.
    r.push(s.unit([pSlice(10, 1)], { marker: false }));
    expect(r.aus).toHaveLength(3);
    r.d.flush();
    expect(r.aus).toHaveLength(4);
    expect(r.d.unitsDropped).toBe(0);
  });

  it("puts the latest SPS/PPS on a keyframe that came without them, and reports a new SPS", () => {
    const s = new Sender();
    const r = receiver();
    r.push([...s.keyframe(), ...s.delta()]);
    const bare = idr(60, 8);
    r.push(s.unit([bare]));
    const k2 = r.aus[2];
    expect(k2?.isKeyframe).toBe(true);
    expect(nalHexes(k2)).toEqual([toHex(bare)]);
    expect(toHex(k2?.sps)).toBe(toHex(SPS_360));
    expect(toHex(k2?.pps)).toBe(toHex(PPS_360));
    expect(r.spsChanges).toHaveLength(1); // same SPS again: no change reported

    // Mid-stream resolution change (Chromium steps 360p → 720p).
    r.push(s.keyframe(idr(70, 9), SPS_720, PPS_720));
    expect(r.spsChanges.map((i) => [i.width, i.height])).toEqual([[640, 360], [1280, 720]]);
    expect(toHex(r.aus[3]?.sps)).toBe(toHex(SPS_720));
    expect(toHex(r.aus[3]?.pps)).toBe(toHex(PPS_720));
    expect(r.d.spsInfo).toMatchObject({ width: 1280 });
    expect(r.d.keyframesEmitted).toBe(3);
  });

  it("keeps private copies of parameter sets (they outlive their packet)", () => {
    const s = new Sender();
    const r = receiver();
    const pkts = s.keyframe();
    r.push(pkts);
    (pkts[0] as Pkt).payload.fill(0);
    expect(toHex(r.aus[0]?.sps)).toBe(toHex(SPS_360));
  });
});

describe("H264Depacketizer: start of stream", () => {
  it("waits for the head of the first unit when the first packet overtook it", () => {
    const s = new Sender();
    const r = receiver();
    const k = s.keyframe(idr(2000, 1)); // STAP-A(SPS, PPS), FU-A × 3
    const p = s.delta();
    r.push([k[1], k[2], k[0], k[3], ...p] as Pkt[]);
    expect(r.aus.map(nalHexes)).toEqual([[toHex(SPS_360), toHex(PPS_360), toHex(idr(2000, 1))], nalHexes({ nalus: [p[0]?.payload] } as VideoAccessUnit)]);
    expect(r.aus[0]?.rtpTime).toBe(0);
    expect(stats(r.d)).toMatchObject({ packetsLost: 0, packetsLate: 0, unitsDropped: 0 });
    expect(r.reasons).toEqual([]);
  });

  it("joined mid-stream, starts at the first SPS without counting the packets before as lost", () => {
    const s = new Sender();
    const r = receiver({ reorderWindowPackets: 8 });
    const before = [...s.delta(pSlice(2000, 1)), ...s.delta()];
    const k = s.keyframe();
    r.push([...before.slice(1), ...k, ...s.delta()]);
    expect(r.aus.map((a) => a.isKeyframe)).toEqual([true, false]);
    expect(r.aus[0]?.rtpTime).toBe(2 * 3000); // counted from the first packet to arrive (before[1], two units earlier)
    expect(stats(r.d)).toMatchObject({ packetsLost: 0, unitsDropped: 0 });
  });

  it("emits nothing before the first IDR, asks for a keyframe once, and again after the retry period", () => {
    const s = new Sender();
    const r = receiver({ keyframeRetryMs: 1000 });
    // The first packet is a P slice: packets from before it may still come (reordered) while
    // fewer than 17 have come after it.
    for (let i = 0; i < 17; i++) r.push(s.delta(), 100);
    expect(r.reasons).toEqual([]);
    r.push(s.delta(), 100);
    expect(r.aus).toEqual([]);
    expect(r.reasons).toEqual(["start"]);
    r.push(s.delta(), 600);
    expect(r.reasons).toEqual(["start"]);
    r.push(s.delta(), 1100);
    expect(r.reasons).toEqual(["start", "start"]);
    expect(r.d.waitingForKeyframe).toBe(true);
    r.push([...s.keyframe(), ...s.delta()], 1200);
    expect(r.aus.map((a) => a.isKeyframe)).toEqual([true, false]);
    // rtpTime counts from the stream's first packet, not from the first emitted unit.
    expect(r.aus[0]?.rtpTime).toBe(20 * 3000);
    expect(r.d.unitsDropped).toBe(20);
    expect(r.d.waitingForKeyframe).toBe(false);
  });

  it("does not trust a first unit that starts mid-way (its head was never seen)", () => {
    const s = new Sender();
    const r = receiver();
    const pkts = s.keyframe(idr(3000, 1));
    r.push(pkts.slice(2)); // joined at the second FU-A fragment
    r.push([...s.delta(), ...s.delta()]);
    expect(r.aus).toEqual([]);
    expect(r.reasons).toEqual([]); // still priming: the head might yet come
    r.d.flush();
    expect(r.reasons).toEqual(["start"]);
    expect(r.d.unitsDropped).toBe(3);
    r.push([...s.keyframe(), ...s.delta()]);
    expect(r.aus).toHaveLength(2);
    expect(r.d.packetsLost).toBe(0);
  });

  it("with parameter sets out of band, starts at once on a first slice", () => {
    const s = new Sender();
    const r = receiver();
    r.d.setParameterSets(SPS_360, PPS_360);
    r.push(s.unit([idr()]));
    expect(r.aus).toHaveLength(1);
    expect(toHex(r.aus[0]?.pps)).toBe(toHex(PPS_360));
  });

  it("drops an IDR when no parameter sets are known, until they are set out of band", () => {
    const s = new Sender();
    const r = receiver({ reorderWindowPackets: 0 });
    r.push(s.unit([idr()]));
    expect(r.aus).toEqual([]);
    expect(r.reasons).toEqual(["no-parameter-sets"]);
    r.d.setParameterSets(SPS_720, PPS_720);
    expect(r.spsChanges).toEqual([expect.objectContaining({ width: 1280, height: 720 })]);
    r.push(s.unit([idr()]));
    expect(r.aus).toHaveLength(1);
    expect(toHex(r.aus[0]?.sps)).toBe(toHex(SPS_720));
    expect(() => r.d.setParameterSets(hex("6742"), PPS_720)).toThrow(/SPS/);
  });
});

describe("H264Depacketizer: reordering, loss, duplicates", () => {
  it("absorbs reordering within the window, holding a complete unit behind an incomplete one", () => {
    const s = new Sender();
    const r = receiver({ reorderWindowPackets: 8 });
    const k = s.keyframe(idr(4000, 1)); // STAP-A + 5 FU-A
    const p1 = s.delta(pSlice(2000, 2)); // 3 FU-A
    const p2 = s.delta();
    // The keyframe's 3rd packet is late (as a NACK retransmission would be).
    const late = k[2] as Pkt;
    r.push([...k.filter((p) => p !== late), ...p1.reverse(), ...p2]);
    expect(r.aus).toEqual([]); // p1 and p2 are complete but wait behind the keyframe
    r.push([late]);
    expect(r.aus.map((a) => a.rtpTime)).toEqual([0, 3000, 6000]);
    expect(r.aus.map((a) => a.isKeyframe)).toEqual([true, false, false]);
    expect(stats(r.d)).toMatchObject({ packetsLost: 0, unitsDropped: 0, packetsDuplicate: 0 });
    expect(r.reasons).toEqual([]);
  });

  it("declares a gap lost after the window, drops until the next IDR and asks for one", () => {
    const s = new Sender();
    const r = receiver({ reorderWindowPackets: 4 });
    r.push([...s.keyframe(), ...s.delta()]);
    const broken = s.delta(pSlice(3000, 3)); // 4 FU-A packets
    const lost = broken[1] as Pkt;
    r.push(broken.filter((p) => p !== lost));
    const after = [...s.delta(), ...s.delta(), ...s.delta()];
    r.push(after.slice(0, 1));
    expect(r.reasons).toEqual([]); // 3 later packets: still within the window
    r.push(after.slice(1));
    expect(r.reasons).toEqual(["loss"]); // the 5th later packet gave the gap up
    expect(r.aus).toHaveLength(2);
    expect(r.d.packetsLost).toBe(1);
    r.push([...s.delta(), ...s.delta()]);
    expect(r.aus).toHaveLength(2); // complete, but their references are gone
    r.push([lost]); // far too late now
    expect(r.d.packetsLate).toBe(1);
    r.push([...s.keyframe(), ...s.delta()]);
    expect(r.aus.map((a) => a.isKeyframe)).toEqual([true, false, true, false]);
    expect(r.d.unitsDropped).toBe(1 + 3 + 2);
    expect(r.d.packetsLost).toBe(1);
    expect(r.d.waitingForKeyframe).toBe(false);
  });

  it("drops a unit whose marker packet was lost, and the unit after the gap", () => {
    const s = new Sender();
    const r = receiver({ reorderWindowPackets: 0 });
    r.push(s.keyframe());
    const p1 = s.delta(pSlice(2000, 1)); // 3 packets, last one lost
    const p2 = s.delta(pSlice(2000, 2)); // its first packet lost too
    r.push([p1[0], p1[1], p2[1], p2[2]] as Pkt[]);
    expect(r.aus).toHaveLength(1);
    expect(r.d.packetsLost).toBe(2);
    expect(r.d.unitsDropped).toBe(2);
    expect(r.reasons).toEqual(["loss"]);
  });

  it("keeps an IDR right after a gap when its first packet provably opens the picture", () => {
    const s = new Sender();
    const r = receiver({ reorderWindowPackets: 0 });
    r.push([...s.keyframe(), ...s.delta()]);
    s.delta(); // a whole unit lost
    r.push(s.keyframe(idr(3000, 2)));
    expect(r.aus.map((a) => a.isKeyframe)).toEqual([true, false, true]);
    expect(r.reasons).toEqual(["loss"]);
    // An IDR whose STAP-A and first FU-A fragment were lost starts with a continuation: dropped.
    const k = s.keyframe(idr(3000, 3));
    r.push(k.slice(2));
    expect(r.aus).toHaveLength(3);
    // An IDR whose own packet opens the picture (first_mb_in_slice = 0) is kept after a gap,
    // with the parameter sets known from before.
    s.unit([SPS_360]); // lost
    const single = idr(500, 4);
    r.push(s.unit([single]));
    expect(r.aus).toHaveLength(4);
    expect(nalHexes(r.aus[3])).toEqual([toHex(single)]);
    expect(toHex(r.aus[3]?.sps)).toBe(toHex(SPS_360));
  });

  it("ignores duplicates, whether already consumed or still held", () => {
    const s = new Sender();
    const r = receiver();
    const k = s.keyframe(idr(2000, 1));
    expect(k).toHaveLength(4);
    const p = s.delta();
    r.push([k[0], k[0], k[1], k[3], k[3], k[2], k[1], ...p, ...p] as Pkt[]);
    expect(r.aus).toHaveLength(2);
    expect(nalHexes(r.aus[0])).toEqual([toHex(SPS_360), toHex(PPS_360), toHex(idr(2000, 1))]);
    expect(stats(r.d)).toMatchObject({ packetsDuplicate: 4, packetsLost: 0, unitsDropped: 0, packetsReceived: 9 });
  });

  it("extends sequence numbers and timestamps across their wrap-around", () => {
    const s = new Sender(65530, 2 ** 32 - 4 * 3000);
    const r = receiver({ reorderWindowPackets: 4 });
    const pkts = [...s.keyframe(idr(2000, 1)), ...s.delta(pSlice(2000, 2))];
    for (let i = 0; i < 8; i++) pkts.push(...s.delta());
    expect(pkts.some((p) => p.seq < 100)).toBe(true);
    expect(pkts.some((p) => p.ts < 90_000)).toBe(true);
    // Swap neighbours around the wrap to exercise the reorder path there too.
    for (let i = 0; i + 1 < pkts.length; i += 3) [pkts[i], pkts[i + 1]] = [pkts[i + 1] as Pkt, pkts[i] as Pkt];
    r.push(pkts);
    expect(r.aus.map((a) => a.rtpTime)).toEqual(Array.from({ length: 10 }, (_, i) => i * 3000));
    expect(stats(r.d)).toMatchObject({ packetsLost: 0, unitsDropped: 0, unitsEmitted: 10 });
  });

  it("survives a sequence jump larger than the reorder ring", () => {
    const s = new Sender();
    const r = receiver({ reorderWindowPackets: 16 });
    r.push([...s.keyframe(), ...s.delta()]);
    s.seq += 5000;
    r.push([...s.keyframe(), ...s.delta()]);
    // A jump past everything held is a cut: the new units go out at once, the numbers skipped lost.
    expect(r.d.packetsLost).toBe(5000);
    expect(r.aus.map((a) => a.isKeyframe)).toEqual([true, false, true, false]);
    for (let i = 0; i < 16; i++) r.push(s.delta());
    expect(r.d.packetsLost).toBe(5000);
    expect(r.aus.map((a) => a.isKeyframe)).toEqual([true, false, true, ...new Array<boolean>(17).fill(false)]);
    expect(r.reasons).toEqual(["loss"]);
  });
});

describe("H264Depacketizer: bad input", () => {
  const cases: [string, (s: Sender) => Pkt[]][] = [
    ["an empty payload", (s) => s.unit([new Uint8Array(0)])],
    ["the forbidden bit", (s) => s.unit([Uint8Array.from([0xc1, 0x88, 1, 2])])],
    ["FU-A without its start", (s) => s.unit(fuA(pSlice(3000, 1), 1000).slice(1))],
    ["FU-A start inside an unfinished FU-A", (s) => { const f = fuA(pSlice(3000, 1), 1000); return s.unit([f[0], f[0], f[2]] as Uint8Array[]); }],
    ["FU-A never ended", (s) => s.unit(fuA(pSlice(3000, 1), 1000).slice(0, 2))],
    ["a single NAL inside an FU-A", (s) => { const f = fuA(pSlice(3000, 1), 1000); return s.unit([f[0], pSlice(), f[1], f[2]] as Uint8Array[]); }],
    ["FU-A carrying an aggregate type", (s) => s.unit([Uint8Array.from([0x7c, 0xd8, 1, 2, 3])])],
    ["STAP-A with a length past the end", (s) => { const p = stapA([pSlice(20, 1), pSlice(20, 2)]); p[23] = 0x40; return s.unit([p]); }],
    ["STAP-A with a zero length", (s) => s.unit([Uint8Array.from([0x18, 0, 0, 0, 2, 0x41, 0x88])])],
    ["STAP-A member with the forbidden bit", (s) => s.unit([stapA([Uint8Array.from([0xc1, 0x88]), pSlice()])])],
    ["STAP-B (interleaved mode)", (s) => s.unit([Uint8Array.from([0x19, 0, 0, 0, 2, 0x41, 0x88])])],
    ["an unreadable SPS", (s) => s.unit([stapA([hex("6742c0"), PPS_360]), idr()])],
  ];

  for (const [name, build] of cases) {
    it(`drops the unit with ${name}, counts it, and recovers at the next IDR`, () => {
      const s = new Sender();
      const r = receiver();
      r.push([...s.keyframe(), ...s.delta()]);
      expect(() => r.push(build(s))).not.toThrow();
      r.push(s.delta());
      expect(r.aus).toHaveLength(2);
      expect(r.d.malformedPackets).toBeGreaterThanOrEqual(1);
      expect(r.d.unitsDropped).toBe(2);
      expect(r.reasons).toEqual(["malformed"]);
      r.push([...s.keyframe(), ...s.delta()]);
      expect(r.aus.map((a) => a.isKeyframe)).toEqual([true, false, true, false]);
      // Nothing malformed was emitted.
      for (const au of r.aus) for (const n of au.nalus) expect((n[0] as number) & 0x80).toBe(0);
    });
  }

  it("drops a unit over maxAccessUnitBytes and keeps going", () => {
    const s = new Sender();
    const r = receiver({ maxAccessUnitBytes: 4000 });
    r.push([...s.keyframe(idr(3900, 1)), ...s.delta()]);
    expect(r.aus).toHaveLength(2);
    r.push(s.delta(pSlice(6000, 2)));
    r.push(s.delta());
    expect(r.aus).toHaveLength(2);
    expect(r.reasons).toEqual(["oversize"]);
    expect(r.d.unitsDropped).toBe(2);
    expect(r.d.malformedPackets).toBe(0);
    r.push(s.keyframe(idr(2000, 3)));
    expect(r.aus).toHaveLength(3);
  });

  it("with a zero window, any gap is a loss at once", () => {
    const s = new Sender();
    const r = receiver({ reorderWindowPackets: 0 });
    r.push(s.keyframe());
    const p = s.delta(pSlice(2000, 1));
    r.push([p[1], p[0], p[2]] as Pkt[]);
    expect(r.d.packetsLost).toBe(1);
    expect(r.d.packetsLate).toBe(1);
    expect(r.aus).toHaveLength(1);
  });
});
