import { describe, expect, it } from "vitest";
import { buildSenderReport, ntpFromEpochMs } from "../../../src/media/rtcp-sender-report.js";
import { parseRtpPacket, senderReports } from "../../../src/media/rtp-packet.js";
import { AudioPacketizer } from "../../../src/media/rtp-packetizer.js";

describe("RTCP sender reports a reader writes", () => {
  it("NTP time of an epoch-ms wall clock: seconds since 1900 and the fraction of a second", () => {
    expect(ntpFromEpochMs(0)).toEqual({ seconds: 2_208_988_800, fraction: 0 });
    expect(ntpFromEpochMs(1_500)).toEqual({ seconds: 2_208_988_801, fraction: 0x8000_0000 });
    expect(ntpFromEpochMs(1_795_939_591_999).fraction).toBeLessThanOrEqual(0xffff_ffff);
  });

  it("the RTSP ingest's own parser reads back what a reader sends (SR, then SDES CNAME, then BYE): words, lengths and fields", () => {
    const wallClockMs = 1_795_939_591_250;
    for (const bye of [false, true]) {
      const p = buildSenderReport({ ssrc: 0xcafebabe, wallClockMs, rtpTimestamp: 0xfffffff0, packetCount: 77, octetCount: 12345, cname: "0123456789abcdef", bye });
      expect(p.length % 4).toBe(0);
      const [sr, ...more] = senderReports(p);
      expect(more).toEqual([]);
      expect(sr?.ssrc).toBe(0xcafebabe);
      expect(sr?.rtpTimestamp).toBe(0xfffffff0);
      const ntp = ntpFromEpochMs(wallClockMs);
      expect(sr?.ntpTimestamp).toBe((BigInt(ntp.seconds) << 32n) | BigInt(ntp.fraction));
      // Each packet's length field walks exactly to the next, and the compound ends where the buffer does.
      const types: number[] = [];
      for (let o = 0; o < p.length; o += (p.readUInt16BE(o + 2) + 1) * 4) types.push(p[o + 1] as number);
      expect(types).toEqual(bye ? [200, 202, 203] : [200, 202]);
      expect([p.readUInt32BE(20), p.readUInt32BE(24)]).toEqual([77, 12345]);
    }
  });

  it("the packetizers' RTP parses with the ingest's parser", () => {
    const a = new AudioPacketizer("opus", { payloadType: 111, ssrc: 5, maxPacketBytes: 1472, initialSequence: 9 });
    const [pkt] = a.packetize({ kind: "audio", codec: "opus", data: Uint8Array.from([0xfc, 1, 2]), rtpTime: 960, arrivalMs: 0, wallClockMs: 0 }, 960);
    const parsed = parseRtpPacket(pkt as Buffer);
    expect(parsed?.header).toMatchObject({ sequenceNumber: 9, timestamp: 960, marker: false, ssrc: 5, payloadType: 111 });
    expect([...(parsed?.payload ?? [])]).toEqual([0xfc, 1, 2]);
  });
});
