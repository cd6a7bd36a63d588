import { describe, expect, it } from "vitest";
import type { TappedRtpPacket } from "../../../src/core/stream-hub.js";
import { H264Depacketizer } from "../../../src/media/h264-depacketizer.js";
import { H264ParameterSetInjector } from "../../../src/media/h264-param-injector.js";
import { H264Packetizer } from "../../../src/media/rtp-packetizer.js";
import type { VideoAccessUnit } from "../../../src/media/types.js";

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, "hex"));
const SPS_720 = hex("6764001facd9405005bb0110000003001000000303c0f1831960");
const PPS_720 = hex("68ebe3cb22c0");
const SPS_360 = hex("6742c01ed900a02ff97011000003000100000300320f162e48");
const PPS_360 = hex("68cb83cb20");

function slice(idr: boolean, size: number, n: number): Uint8Array {
  const b = new Uint8Array(size);
  b[0] = idr ? 0x65 : 0x41;
  b[1] = 0x88;
  b[2] = n;
  for (let i = 3; i < size; i++) b[i] = (i * 7 + n) & 0xff || 1;
  return b;
}
const unit = (nalus: Uint8Array[], isKeyframe: boolean, n: number): VideoAccessUnit => ({ kind: "video", codec: "h264", nalus, isKeyframe, rtpTime: n * 3000, arrivalMs: 0, wallClockMs: 0 });

/** A publisher's packets as the tap sees them (ffmpeg-like: no SPS/PPS in band unless given in `nalus`). */
function packets(units: VideoAccessUnit[], mtu = 1200): TappedRtpPacket[] {
  const p = new H264Packetizer({ payloadType: 96, ssrc: 42, maxPacketBytes: mtu, initialSequence: 65_533 });
  return units.flatMap((u) =>
    p.packetize(u, 90_000 + u.rtpTime).map((b) => ({
      header: { sequenceNumber: b.readUInt16BE(2), timestamp: b.readUInt32BE(4), marker: ((b[1] as number) & 0x80) !== 0, ssrc: 42, payloadType: 96 },
      payload: b.subarray(12),
    })),
  );
}

function run(inj: H264ParameterSetInjector, input: TappedRtpPacket[]): TappedRtpPacket[] {
  const out: TappedRtpPacket[] = [];
  for (const p of input) inj.process(p, (q) => out.push(q));
  return out;
}

/** A WebRTC viewer's view: a depacketizer with no out-of-band parameter sets. */
function play(pkts: TappedRtpPacket[]): VideoAccessUnit[] {
  const got: VideoAccessUnit[] = [];
  const d = new H264Depacketizer({ onAccessUnit: (u) => got.push(u) });
  for (const p of pkts) d.push(p.header.sequenceNumber, p.header.timestamp, p.header.marker, p.payload, 0);
  d.flush();
  expect(d.packetsLost).toBe(0);
  return got;
}

describe("H264ParameterSetInjector", () => {
  it("puts the SDP's SPS/PPS in a STAP-A ahead of each IDR without them; later sequence numbers shift, leaving no gap", () => {
    const units = [unit([slice(true, 3000, 0)], true, 0), unit([slice(false, 500, 1)], false, 1), unit([slice(true, 3000, 2)], true, 2)];
    const input = packets(units);
    // Without the injector a viewer decodes nothing: no parameter sets.
    expect(play(input)).toEqual([]);
    const inj = new H264ParameterSetInjector(SPS_720, PPS_720);
    const out = run(inj, input);
    expect(inj.inserted).toBe(2);
    expect(out).toHaveLength(input.length + 2);
    expect(out.map((p) => p.header.sequenceNumber)).toEqual(out.map((_, i) => (65_533 + i) & 0xffff));
    expect((out[0]?.payload[0] as number) & 0x1f).toBe(24);
    expect(out[0]?.header).toMatchObject({ timestamp: input[0]?.header.timestamp, marker: false, ssrc: 42, payloadType: 96 });
    const got = play(out);
    expect(got.map((u) => [u.isKeyframe, u.nalus.map((n) => (n[0] as number) & 0x1f)])).toEqual([
      [true, [7, 8, 5]],
      [false, [1]],
      [true, [7, 8, 5]],
    ]);
  });

  it("leaves a stream that carries its own SPS/PPS untouched (the very packet objects), and one insertion per multi-slice IDR", () => {
    const inband = packets([unit([SPS_720, PPS_720, slice(true, 800, 0), slice(true, 800, 1)], true, 0), unit([slice(false, 300, 2)], false, 1)]);
    const inj = new H264ParameterSetInjector(SPS_720, PPS_720);
    const out = run(inj, inband);
    expect(inj.inserted).toBe(0);
    expect(out.every((p, i) => p === inband[i])).toBe(true);
    const twoSlices = packets([unit([slice(true, 800, 0), slice(true, 800, 1)], true, 0)]);
    const inj2 = new H264ParameterSetInjector(SPS_720, PPS_720);
    expect(run(inj2, twoSlices)).toHaveLength(twoSlices.length + 1);
    expect(inj2.inserted).toBe(1);
  });

  it("inserts the parameter sets last seen in band (a resolution change), and nothing before any are known", () => {
    const inj = new H264ParameterSetInjector();
    // No sprop, none in band yet: nothing to insert.
    const first = packets([unit([slice(true, 500, 0)], true, 0)]);
    expect(run(inj, first)).toHaveLength(first.length);
    // In band once (single NAL packets), then an IDR without them.
    const stream = packets([unit([SPS_360, PPS_360, slice(true, 500, 1)], true, 1), unit([slice(true, 500, 2)], true, 2)]);
    const out = run(inj, stream);
    expect(inj.inserted).toBe(1);
    const got = play(out);
    expect(got).toHaveLength(2);
    expect(Buffer.from(got[1]?.nalus[0] ?? []).toString("hex")).toBe(Buffer.from(SPS_360).toString("hex"));
  });

  it("learns SPS/PPS from a STAP-A and does not insert ahead of an IDR it leads", () => {
    const stap = (nalus: Uint8Array[]): Buffer => Buffer.from([24, ...nalus.flatMap((n) => [n.length >> 8, n.length & 0xff, ...n])]);
    const h = (seq: number, ts: number, marker: boolean) => ({ sequenceNumber: seq, timestamp: ts, marker, ssrc: 1, payloadType: 96 });
    const inj = new H264ParameterSetInjector(SPS_720, PPS_720);
    const out = run(inj, [
      { header: h(1, 100, false), payload: stap([SPS_360, PPS_360]) },
      { header: h(2, 100, true), payload: Buffer.from(slice(true, 200, 0)) },
      { header: h(3, 200, true), payload: Buffer.from(slice(true, 200, 1)) },
    ]);
    expect(inj.inserted).toBe(1);
    expect(out.map((p) => p.header.sequenceNumber)).toEqual([1, 2, 3, 4]);
    // The insertion ahead of the second IDR carries the sets learnt from the STAP-A.
    expect(out[2]?.payload.subarray(3, 3 + SPS_360.length).toString("hex")).toBe(Buffer.from(SPS_360).toString("hex"));
  });
});
