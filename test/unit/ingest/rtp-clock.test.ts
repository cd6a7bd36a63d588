import { describe, expect, it } from "vitest";
import { ntpToEpochMs, RtpWallClock } from "../../../src/ingest/rtp-clock.js";

const NTP_UNIX = 2_208_988_800n;
const ntpOf = (epochMs: number): bigint => ((BigInt(Math.floor(epochMs / 1000)) + NTP_UNIX) << 32n) + BigInt(Math.round(((epochMs % 1000) / 1000) * 2 ** 32));

describe("RTP wall clock", () => {
  it("converts NTP timestamps to epoch ms", () => {
    expect(ntpToEpochMs(ntpOf(1_795_000_000_250))).toBeCloseTo(1_795_000_000_250, 3);
  });

  it("anchors on the first packet's arrival until a sender report comes", () => {
    const c = new RtpWallClock(90_000);
    c.start(1000, 5_000_000);
    expect(c.wallMs(0)).toBe(5_000_000);
    expect(c.wallMs(90_000)).toBe(5_001_000);
    expect(c.usesSenderReports).toBe(false);
  });

  it("re-anchors on the publisher's clock from RTCP sender reports", () => {
    const c = new RtpWallClock(90_000);
    c.start(1000, 5_000_000); // arrival clock
    c.wallMs(180_000);
    // the publisher says raw timestamp 1000+180000 was captured at 4_999_900 (100 ms before arrival)
    c.onSenderReport(ntpOf(4_999_900), 181_000);
    expect(c.usesSenderReports).toBe(true);
    expect(c.wallMs(180_000)).toBeCloseTo(4_999_900, 3);
    expect(c.wallMs(270_000)).toBeCloseTo(5_000_900, 3);
  });

  it("maps sender reports correctly across 32-bit timestamp wrap-around", () => {
    const c = new RtpWallClock(90_000);
    const first = 0xffff_0000;
    c.start(first, 1_000_000);
    const later = 2 ** 32 + 1000; // extended RTP time after the wrap
    c.wallMs(later);
    c.onSenderReport(ntpOf(2_000_000), (first + later) >>> 0);
    expect(c.wallMs(later)).toBeCloseTo(2_000_000, 3);
  });
});
