import { describe, expect, it } from "vitest";
import { ProtectionProfileAeadAes128Gcm, RtpHeader, RtpPacket, SrtpSession } from "werift";
import { H264Depacketizer } from "../../src/media/h264-depacketizer.js";
import { H264Packetizer } from "../../src/media/rtp-packetizer.js";
import type { VideoAccessUnit } from "../../src/media/types.js";
import { installFastRtpHeaderParsing } from "../../src/rtc/werift-fast-rtp.js";
import { installReceivePathFastPaths, weriftGcmCipher, weriftReceivePathOriginals } from "../../src/rtc/werift-receive-path.js";
import { unpatched } from "../../src/rtc/werift-patch.js";
import { h264Fixture } from "../support/h264-fixtures.js";
import { collectSegmenter } from "../support/segmenter-outputs.js";

/**
 * The recording is byte for byte what it was before werift's receive path was replaced: the same
 * SRTP packets of a real x264 stream go through werift's decryption and RTP parse into the
 * project's depacketizer and fMP4 segmenter, once with werift's own code and once with the
 * replacements (werift-fast-rtp.ts, werift-receive-path.ts), and every init and part must match.
 */
const KEY_A = Buffer.alloc(16, 0x11);
const SALT_A = Buffer.alloc(12, 0x22);
const KEY_B = Buffer.alloc(16, 0x33);
const SALT_B = Buffer.alloc(12, 0x44);
const EPOCH_MS = 1_790_000_000_000;

async function srtpPackets(): Promise<{ packets: Buffer[]; units: number }> {
  const units = await h264Fixture({ width: 320, height: 240, fps: 30, seconds: 6, gop: 30 });
  const packetizer = new H264Packetizer({ payloadType: 96, ssrc: 0x1234abcd, maxPacketBytes: 1200, initialSequence: 65000 });
  const sender = new SrtpSession({ keys: { localMasterKey: KEY_A, localMasterSalt: SALT_A, remoteMasterKey: KEY_B, remoteMasterSalt: SALT_B }, profile: ProtectionProfileAeadAes128Gcm });
  const packets: Buffer[] = [];
  units.forEach((u, i) => {
    const au: VideoAccessUnit = { kind: "video", codec: "h264", nalus: u.nalus, isKeyframe: u.isKeyframe, rtpTime: i * 3000, arrivalMs: 0, wallClockMs: 0 };
    for (const plain of packetizer.packetize(au, i * 3000)) {
      const p = RtpPacket.deSerialize(Buffer.from(plain));
      packets.push(sender.encrypt(p.payload, p.header));
    }
  });
  return { packets, units: units.length };
}

/** werift receive (SRTP decrypt + RTP parse) → depacketizer → segmenter; every output's bytes, in order. */
function record(packets: readonly Buffer[]): { bytes: Buffer; units: number; parts: number } {
  const receiver = new SrtpSession({ keys: { localMasterKey: KEY_B, localMasterSalt: SALT_B, remoteMasterKey: KEY_A, remoteMasterSalt: SALT_A }, profile: ProtectionProfileAeadAes128Gcm });
  const { seg, inits, parts } = collectSegmenter({ segmentDurationMs: 2000, partDurationMs: 500, keyframeRequestLeadMs: 300, maxSegmentDurationMs: 20_000 });
  let units = 0;
  let first: number | undefined;
  const depacketizer = new H264Depacketizer({
    onAccessUnit: (au) => {
      units++;
      first ??= au.rtpTime;
      // Capture time from RTP time alone: the run is deterministic.
      seg.video({ ...au, wallClockMs: EPOCH_MS + (au.rtpTime - first) / 90, arrivalMs: EPOCH_MS + (au.rtpTime - first) / 90 });
    },
  });
  packets.forEach((cipherText, i) => {
    const p = RtpPacket.deSerialize(receiver.decrypt(Buffer.from(cipherText)));
    depacketizer.push(p.header.sequenceNumber, p.header.timestamp, p.header.marker, p.payload, EPOCH_MS + i);
  });
  depacketizer.flush();
  const bytes = Buffer.concat([...inits.map((o) => o.data), ...parts.map((o) => o.data)]);
  return { bytes, units, parts: parts.length };
}

/** Runs `fn` with werift's own RTP parse and GCM decryption in place, then puts the replacements back. */
function withWeriftOwn<T>(fn: () => T): T {
  const statics = RtpHeader as unknown as { deSerialize: (raw: Buffer) => RtpHeader };
  const cipherProto = Object.getPrototypeOf(weriftGcmCipher()) as { decryptRtp: unknown };
  const saved = { parse: statics.deSerialize, decrypt: cipherProto.decryptRtp };
  statics.deSerialize = unpatched(saved.parse);
  cipherProto.decryptRtp = weriftReceivePathOriginals().gcmDecrypt;
  try {
    return fn();
  } finally {
    statics.deSerialize = saved.parse;
    cipherProto.decryptRtp = saved.decrypt;
  }
}

describe("werift fast paths leave recordings byte-exact", () => {
  it("records the same init and parts, byte for byte, through werift's own receive path and through the replacements", async () => {
    const { packets, units } = await srtpPackets();
    expect(installFastRtpHeaderParsing()).not.toBe("disagrees");
    expect(installReceivePathFastPaths()).toEqual({ srtpDecrypt: true, receiverFlags: true, codecName: true });
    const own = withWeriftOwn(() => record(packets));
    const fast = record(packets);
    // the pipeline really ran: every unit through, parts cut
    expect(own.units).toBe(units);
    expect(own.parts).toBeGreaterThanOrEqual(10);
    expect(own.bytes.length).toBeGreaterThan(50_000);
    expect(fast.units).toBe(own.units);
    expect(fast.parts).toBe(own.parts);
    expect(fast.bytes.equals(own.bytes)).toBe(true);
  });
});
