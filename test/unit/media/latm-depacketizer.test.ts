import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { AacConfigError, aacConfigFromHex, parseLatmConfig } from "../../../src/media/aac-config.js";
import { LatmDepacketizer } from "../../../src/media/latm-depacketizer.js";
import type { AudioFrame } from "../../../src/media/types.js";
import { aacFixture, captureAacRtp, type CapturedRtpPacket } from "../../support/aac-fixtures.js";
import { fuzzParams } from "../../support/fuzz.js";

const GST_CONFIG = aacConfigFromHex("40002420adca00"); // GStreamer's rtpmp4apay: AAC-LC 44.1 kHz stereo

function receiver(config = GST_CONFIG, reorderWindowPackets?: number) {
  const frames: AudioFrame[] = [];
  const d = new LatmDepacketizer({ onFrame: (f) => frames.push(f), config, ...(reorderWindowPackets === undefined ? {} : { reorderWindowPackets }) });
  return { d, frames };
}

function pushAll(d: LatmDepacketizer, packets: readonly CapturedRtpPacket[], marker = true): void {
  for (const [i, p] of packets.entries()) d.push(p.seq, p.timestamp, p.payload, i, marker && p.marker);
  d.flush();
}

/** An AudioMuxElement of one sub-frame: PayloadLengthInfo (255s, then the rest) and the AU. */
function element(au: Uint8Array): Uint8Array {
  const len: number[] = [];
  let n = au.length;
  for (; n >= 255; n -= 255) len.push(255);
  len.push(n);
  return Uint8Array.from([...len, ...au]);
}

const au = (n: number, len = 20): Uint8Array => Uint8Array.from({ length: len }, (_, i) => (n * 13 + i) & 0xff);
const hex = (a: Uint8Array): string => Buffer.from(a).toString("hex");

describe("parseLatmConfig", () => {
  it("takes the AudioSpecificConfig out of GStreamer's and ffmpeg's StreamMuxConfig", () => {
    expect(parseLatmConfig(GST_CONFIG)).toMatchObject({ subFrames: 1, aac: { objectType: 2, sampleRate: 44100, channels: 2 } });
    // GStreamer's holds a sync extension (0x2b7, SBR absent), which belongs to the ASC; ffmpeg's does not.
    expect(hex(parseLatmConfig(GST_CONFIG).audioSpecificConfig)).toBe("121056e500");
    expect(hex(parseLatmConfig(aacConfigFromHex("400024203fc0")).audioSpecificConfig)).toBe("1210");
    expect(parseLatmConfig(aacConfigFromHex("40002310adca00")).aac).toMatchObject({ sampleRate: 48000, channels: 1, sbr: false }); // 48 kHz mono
  });

  it("refuses the forms it does not read", () => {
    expect(() => parseLatmConfig(Uint8Array.of(0x80, 0, 0, 0))).toThrow(/audioMuxVersion 1/);
    expect(() => parseLatmConfig(Uint8Array.of(0x00, 0, 0, 0))).toThrow(/allStreamsSameTimeFraming/);
    expect(() => parseLatmConfig(Uint8Array.of(0x40, 0x10, 0x24, 0x20, 0xad))).toThrow(/2 programs and 1 layers/);
    expect(() => parseLatmConfig(Uint8Array.of(0x40, 0x00, 0x24, 0x20, 0xa0))).toThrow(/frameLengthType 2/);
    expect(() => parseLatmConfig(Uint8Array.of(0x40))).toThrow(AacConfigError);
    expect(() => new LatmDepacketizer({ onFrame: () => undefined, config: Uint8Array.of(0x80) })).toThrow(RangeError);
  });
});

describe("LatmDepacketizer on real senders (RFC 6416, cpresent=0)", () => {
  it("ffmpeg's -rtpflags latm: the encoder's AUs, 1024 ticks apart", async () => {
    const opts = { sampleRate: 44100, channels: 2, seconds: 2, bitrate: "96k" };
    const [rtp, adts] = await Promise.all([captureAacRtp({ ...opts, via: "ffmpeg-latm" }), aacFixture(opts)]);
    expect(rtp.encoding).toBe("MP4A-LATM");
    const r = receiver(aacConfigFromHex(rtp.fmtp.config as string));
    pushAll(r.d, rtp.packets);
    expect(r.frames.length).toBeGreaterThan(adts.aus.length - 8); // ffmpeg's RTP muxer may not send its last AUs
    expect(r.frames.map((f) => hex(f.data))).toEqual(adts.aus.slice(0, r.frames.length).map(hex));
    expect(r.frames.map((f) => f.rtpTime)).toEqual(r.frames.map((_, i) => i * 1024));
    expect(r.d).toMatchObject({ malformedPackets: 0, packetsLost: 0 });
  });

  it("GStreamer's rtpmp4apay, with elements fragmented over small packets, with and without the marker", async () => {
    const rtp = await captureAacRtp({ sampleRate: 44100, channels: 2, seconds: 1, via: "gstreamer" });
    expect(rtp.encoding).toBe("MP4A-LATM");
    const whole = receiver(aacConfigFromHex(rtp.fmtp.config as string));
    pushAll(whole.d, rtp.packets);
    expect(whole.frames.length).toBe(rtp.packets.length); // one element of one AU per packet
    // GStreamer rounds its timestamps (1023 or 1024 apart): the frames keep the packets' RTP times.
    const t0 = rtp.packets[0]?.timestamp ?? 0;
    expect(whole.frames.map((f) => f.rtpTime)).toEqual(rtp.packets.map((p) => (p.timestamp - t0) >>> 0));
    // Each packet: PayloadLengthInfo (floor(n / 255) + 1 bytes), then the n-byte AU.
    expect(whole.frames.map((f) => f.data.length + Math.floor(f.data.length / 255) + 1)).toEqual(rtp.packets.map((p) => p.payload.length));

    const small = await captureAacRtp({ sampleRate: 44100, channels: 2, seconds: 1, via: "gstreamer", pktSize: 120 });
    expect(small.packets.some((p) => !p.marker)).toBe(true);
    for (const marker of [true, false]) {
      const r = receiver(aacConfigFromHex(small.fmtp.config as string));
      pushAll(r.d, small.packets, marker);
      expect(r.frames.map((f) => hex(f.data))).toEqual(whole.frames.map((f) => hex(f.data)));
      expect(r.d).toMatchObject({ malformedPackets: 0, fragmentsDropped: 0 });
    }
  });
});

describe("LatmDepacketizer", () => {
  it("reads several elements per packet and long PayloadLengthInfo (255 + n)", () => {
    const r = receiver();
    r.d.push(1, 1000, Uint8Array.from([...element(au(0)), ...element(au(1, 300)), ...element(au(2))]), 5, true);
    expect(r.frames.map((f) => [f.rtpTime, f.data.length])).toEqual([[0, 20], [1024, 300], [2048, 20]]);
    expect(hex(r.frames[1]?.data as Uint8Array)).toBe(hex(au(1, 300)));
  });

  it("drops an element whose fragment is lost and reports the hole; counts malformed packets", () => {
    const r = receiver(GST_CONFIG, 2);
    const big = element(au(1, 200));
    r.d.push(1, 0, element(au(0)), 0, true);
    r.d.push(2, 1024, big.subarray(0, 100), 1); // fragment; its tail (3) is lost
    r.d.push(4, 2048, element(au(2)), 2, true);
    r.d.push(5, 3072, element(au(3)), 3, true);
    r.d.push(6, 4096, element(au(4)), 4, true);
    r.d.flush();
    expect(r.frames.map((f) => f.rtpTime)).toEqual([0, 2048, 3072, 4096]);
    expect(r.frames[1]?.samplesLostBefore).toBe(1024);
    expect(r.d).toMatchObject({ packetsLost: 1, fragmentsDropped: 1 });

    const m = receiver();
    m.d.push(1, 0, new Uint8Array(0), 0, true); // empty
    m.d.push(2, 1024, Uint8Array.of(0, 1, 2), 1, true); // a zero-length AU
    m.d.push(3, 2048, Uint8Array.of(20, 1, 2), 2, true); // marker, yet 18 bytes short
    m.d.push(4, 3072, Uint8Array.from([...element(au(3)), 9]), 3, true); // a second element cut short
    m.d.push(5, 4096, element(au(4)), 4, true);
    expect(m.frames.map((f) => f.rtpTime)).toEqual([4096]);
    expect(m.d).toMatchObject({ malformedPackets: 4, packetsReceived: 5 });
  });

  it("never throws on arbitrary packets; every push is counted", () => {
    const packet = fc.record({
      seq: fc.integer({ min: 0, max: 0xffff }),
      ts: fc.integer({ min: 0, max: 2 ** 32 - 1 }),
      marker: fc.boolean(),
      payload: fc.uint8Array({ maxLength: 300 }),
    });
    fc.assert(
      fc.property(fc.array(packet, { maxLength: 40 }), fc.integer({ min: 0, max: 16 }), (packets, window) => {
        const r = receiver(GST_CONFIG, window);
        for (const [i, p] of packets.entries()) r.d.push(p.seq, p.ts, p.payload, i, p.marker);
        r.d.flush();
        expect(r.d.packetsReceived).toBe(packets.length);
        expect(r.d.framesEmitted).toBe(r.frames.length);
      }),
      fuzzParams(1500),
    );
  });
});
