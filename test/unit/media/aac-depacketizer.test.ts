import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { AacDepacketizer } from "../../../src/media/aac-depacketizer.js";
import { aacConfigFromHex } from "../../../src/media/aac-config.js";
import type { AudioFrame } from "../../../src/media/types.js";
import { aacFixture, captureAacRtp, type CapturedRtpPacket } from "../../support/aac-fixtures.js";
import { fuzzParams } from "../../support/fuzz.js";

const HBR = { sizeLength: 13, indexLength: 3, indexDeltaLength: 3 };
const CONFIG = aacConfigFromHex("1190"); // AAC-LC, 48 kHz, stereo

function receiver(opts: { reorderWindowPackets?: number; config?: Uint8Array } = {}) {
  const frames: AudioFrame[] = [];
  const d = new AacDepacketizer({ onFrame: (f) => frames.push(f), config: opts.config ?? CONFIG, ...HBR, ...(opts.reorderWindowPackets === undefined ? {} : { reorderWindowPackets: opts.reorderWindowPackets }) });
  return { d, frames };
}

/** An AAC-hbr payload: AU-headers-length, one 16-bit header per AU (13-bit size, 3-bit index 0), the AUs. */
function hbr(aus: Uint8Array[], sizes = aus.map((a) => a.length), indexes = aus.map(() => 0)): Uint8Array {
  const out = Buffer.alloc(2 + 2 * aus.length + aus.reduce((n, a) => n + a.length, 0));
  out.writeUInt16BE(16 * aus.length, 0);
  aus.forEach((_, i) => out.writeUInt16BE(((sizes[i] as number) << 3) | (indexes[i] as number), 2 + 2 * i));
  Buffer.concat(aus.map((a) => Buffer.from(a))).copy(out, 2 + 2 * aus.length);
  return out;
}

const au = (n: number, len = 20): Uint8Array => Uint8Array.from({ length: len }, (_, i) => (n * 7 + i) & 0xff);

/**
 * The encoder's AUs, in order. ffmpeg 5.1's RTP muxer never sends the AUs still waiting in its
 * last, partly filled packet when it ends (up to a packet's worth): the tail may be short.
 */
function expectSameAus(frames: readonly AudioFrame[], aus: readonly Uint8Array[]): void {
  const hex = (a: Uint8Array): string => Buffer.from(a).toString("hex");
  expect(frames.length).toBeGreaterThan(aus.length - 8);
  expect(frames.map((f) => hex(f.data))).toEqual(aus.slice(0, frames.length).map(hex));
}

function pushAll(d: AacDepacketizer, packets: readonly CapturedRtpPacket[]): void {
  for (const [i, p] of packets.entries()) d.push(p.seq, p.timestamp, p.payload, i, p.marker);
  d.flush();
}

describe("AacDepacketizer with ffmpeg's RTP (RFC 3640 AAC-hbr)", () => {
  it("splits packets holding several AUs into the encoder's AUs, 1024 ticks apart", async () => {
    const opts = { sampleRate: 48000, channels: 2, seconds: 2, bitrate: "64k" };
    const [rtp, adts] = await Promise.all([captureAacRtp(opts), aacFixture(opts)]);
    expect(rtp.fmtp).toMatchObject({ mode: "AAC-hbr", sizelength: "13", indexlength: "3", indexdeltalength: "3" });
    expect(rtp.clockRate).toBe(48000);
    // 64 kbit/s stereo AUs are ~170 bytes: ffmpeg packs several into each 1400-byte packet.
    expect(rtp.packets.length).toBeLessThan(adts.aus.length / 2);
    const r = receiver({ config: aacConfigFromHex(rtp.fmtp.config as string) });
    pushAll(r.d, rtp.packets);
    expectSameAus(r.frames, adts.aus);
    expect(r.frames.map((f) => f.rtpTime)).toEqual(r.frames.map((_, i) => i * 1024));
    expect(r.frames.every((f) => f.codec === "aac" && f.samplesLostBefore === undefined)).toBe(true);
    expect(r.d).toMatchObject({ packetsReceived: rtp.packets.length, packetsLost: 0, malformedPackets: 0, framesEmitted: r.frames.length });
  });

  it("reassembles AUs fragmented across packets, and drops one whose fragment is lost", async () => {
    const opts = { sampleRate: 44100, channels: 2, seconds: 1, bitrate: "256k" };
    const [rtp, adts] = await Promise.all([captureAacRtp({ ...opts, pktSize: 200 }), aacFixture(opts)]);
    expect(rtp.packets.some((p) => !p.marker)).toBe(true); // fragments: the marker only on each AU's last
    const r = receiver({ config: aacConfigFromHex(rtp.fmtp.config as string) });
    pushAll(r.d, rtp.packets);
    expectSameAus(r.frames, adts.aus);
    expect(r.d.fragmentsDropped).toBe(0);

    // Lose the first fragment of a middle AU's tail: that AU goes, the next reports its samples lost.
    const cut = rtp.packets.findIndex((p, i) => i > rtp.packets.length / 2 && !p.marker);
    const lossy = receiver({ config: aacConfigFromHex(rtp.fmtp.config as string), reorderWindowPackets: 4 });
    pushAll(lossy.d, [...rtp.packets.slice(0, cut + 1), ...rtp.packets.slice(cut + 2)]);
    expect(lossy.frames.length).toBe(r.frames.length - 1);
    expect(lossy.d).toMatchObject({ packetsLost: 1, fragmentsDropped: 1, samplesLost: 1024 });
    const after = lossy.frames.find((f) => f.samplesLostBefore !== undefined) as AudioFrame;
    expect(after.samplesLostBefore).toBe(1024);
    expect(lossy.frames.map((f) => f.rtpTime).filter((t) => t < after.rtpTime).length).toBe(after.rtpTime / 1024 - 1);
  });

  it("puts reordered packets back in order", async () => {
    const opts = { sampleRate: 48000, channels: 1, seconds: 1 };
    const rtp = await captureAacRtp({ ...opts, pktSize: 300 });
    const inOrder = receiver();
    pushAll(inOrder.d, rtp.packets);
    const swapped = [...rtp.packets];
    for (let i = 2; i + 1 < swapped.length; i += 5) [swapped[i], swapped[i + 1]] = [swapped[i + 1] as CapturedRtpPacket, swapped[i] as CapturedRtpPacket];
    const r = receiver();
    pushAll(r.d, swapped);
    expect(r.frames).toEqual(inOrder.frames.map((f, i) => ({ ...f, arrivalMs: r.frames[i]?.arrivalMs, wallClockMs: r.frames[i]?.wallClockMs })));
    expect(r.d.packetsLost).toBe(0);
  });
});

describe("AacDepacketizer", () => {
  it("times each AU of a packet at the packet's timestamp plus 1024 per AU, past the 32-bit wrap", () => {
    const r = receiver();
    const start = 2 ** 32 - 2048;
    r.d.push(65535, start, hbr([au(0), au(1)]), 5);
    r.d.push(0, (start + 2048) >>> 0, hbr([au(2), au(3), au(4)]), 6);
    expect(r.frames.map((f) => f.rtpTime)).toEqual([0, 1024, 2048, 3072, 4096]);
    expect({ ...r.frames[3], data: Uint8Array.from(r.frames[3]?.data ?? []) }).toEqual({ kind: "audio", codec: "aac", data: au(3), rtpTime: 3072, arrivalMs: 6, wallClockMs: 6 });
  });

  it("takes the frame length from the config: 960-sample AUs, HE-AAC's 2048 at the output clock", () => {
    const r960 = new AacDepacketizer({ onFrame: () => undefined, config: Uint8Array.of(0x11, 0x94), ...HBR }); // frameLengthFlag
    expect(r960.frameTicks).toBe(960);
    const he = Uint8Array.of(0x2b, 0x11, 0x88, 0x00); // SBR, 24 kHz core → 48 kHz, AAC-LC core
    expect(new AacDepacketizer({ onFrame: () => undefined, config: he, ...HBR }).frameTicks).toBe(2048);
    expect(new AacDepacketizer({ onFrame: () => undefined, config: he, clockRate: 24000, ...HBR }).frameTicks).toBe(1024);
  });

  it("counts malformed packets, keeps going, and reports their samples on the next frame", () => {
    const r = receiver();
    r.d.push(1, 0, hbr([au(0)]), 0);
    r.d.push(2, 1024, Uint8Array.of(0x00), 1); // too short for AU-headers-length
    r.d.push(3, 2048, hbr([au(2)], [21]), 2); // size says 21, one byte short: no fragment without a following one… see below
    r.d.push(4, 3072, hbr([au(3), au(4)], [20, 20], [0, 1]), 3); // AU-index-delta 1: interleaving
    r.d.push(5, 5120, Uint8Array.of(0x00, 0x05, 0xff), 4); // 5 header bits: not a whole AU-header
    r.d.push(6, 6144, Uint8Array.of(0x00, 0x40, 0x00), 5); // headers beyond the packet
    r.d.push(7, 7168, hbr([au(7), au(8)], [20, 25]), 6); // sizes add up to more than the data
    r.d.push(8, 8192, hbr([au(8)], [0]), 7); // empty AU
    r.d.push(9, 9216, hbr([au(9)]), 8);
    // Packet 3 looked like the first fragment of a 21-byte AU; packet 4 was no continuation of it.
    expect(r.frames.map((f) => f.rtpTime)).toEqual([0, 9216]);
    expect(r.frames[1]?.samplesLostBefore).toBe(9216 - 1024);
    expect(r.d).toMatchObject({ packetsReceived: 9, malformedPackets: 6, fragmentsDropped: 1, framesEmitted: 2 });
  });

  it("rejects a last fragment that ends short of its AU, and a fragment whose timestamp changes", () => {
    const r = receiver();
    const big = au(1, 100);
    const frag = (data: Uint8Array) => {
      const p = Buffer.alloc(4 + data.length);
      p.writeUInt16BE(16, 0);
      p.writeUInt16BE(100 << 3, 2);
      Buffer.from(data).copy(p, 4);
      return p;
    };
    r.d.push(1, 0, frag(big.subarray(0, 40)), 0);
    r.d.push(2, 0, frag(big.subarray(40, 80)), 1, true); // marker, yet 20 bytes are missing
    r.d.push(3, 1024, frag(big.subarray(0, 50)), 2);
    r.d.push(4, 2048, frag(big.subarray(50)), 3, true); // another timestamp: not this AU's tail
    r.d.push(5, 3072, frag(big.subarray(0, 60)), 4);
    r.d.push(6, 3072, frag(big.subarray(60)), 5, true);
    expect(r.frames).toHaveLength(1);
    expect(r.frames[0]).toMatchObject({ rtpTime: 3072, data: big });
    expect(r.d).toMatchObject({ malformedPackets: 2, fragmentsDropped: 2 });
  });

  it("refuses header sizes and configs it cannot use", () => {
    const onFrame = (): void => undefined;
    expect(() => new AacDepacketizer({ onFrame, config: CONFIG, sizeLength: 0, indexLength: 3, indexDeltaLength: 3 })).toThrow(RangeError);
    expect(() => new AacDepacketizer({ onFrame, config: CONFIG, sizeLength: 13, indexLength: 9, indexDeltaLength: 3 })).toThrow(/indexlength=9/);
    expect(() => new AacDepacketizer({ onFrame, config: CONFIG, sizeLength: 13.5, indexLength: 3, indexDeltaLength: 3 })).toThrow(RangeError);
    expect(() => new AacDepacketizer({ onFrame, config: Uint8Array.of(0x11), ...HBR })).toThrow(/AAC config not usable/);
  });

  it("reads AAC-lbr headers (6-bit size, 2-bit index)", () => {
    const frames: AudioFrame[] = [];
    const d = new AacDepacketizer({ onFrame: (f) => frames.push(f), config: CONFIG, sizeLength: 6, indexLength: 2, indexDeltaLength: 2 });
    // Two 8-bit headers: size 20 index 0, size 30 delta 0.
    d.push(1, 0, Uint8Array.from([0x00, 16, 20 << 2, 30 << 2, ...au(0, 20), ...au(1, 30)]), 0);
    expect(frames.map((f) => [f.rtpTime, f.data.length])).toEqual([[0, 20], [1024, 30]]);
  });

  it("never throws on arbitrary packets; every push is counted", () => {
    const packet = fc.record({
      seq: fc.integer({ min: 0, max: 0xffff }),
      ts: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
      marker: fc.boolean(),
      payload: fc.oneof(
        fc.uint8Array({ maxLength: 64 }),
        // Near valid: a real header section with random sizes and data.
        fc.tuple(fc.integer({ min: 1, max: 4 }), fc.uint8Array({ maxLength: 80 })).map(([n, rest]) => Uint8Array.from([0, 16 * n, ...rest])),
      ),
    });
    fc.assert(
      fc.property(fc.array(packet, { maxLength: 40 }), fc.integer({ min: 0, max: 16 }), (packets, window) => {
        const r = receiver({ reorderWindowPackets: window });
        for (const [i, p] of packets.entries()) r.d.push(p.seq, p.ts, p.payload, i, p.marker);
        r.d.flush();
        expect(r.d.packetsReceived).toBe(packets.length);
        expect(r.d.framesEmitted).toBe(r.frames.length);
        for (const f of r.frames) expect(f.data.length).toBeGreaterThan(0);
      }),
      fuzzParams(1500),
    );
  });
});
