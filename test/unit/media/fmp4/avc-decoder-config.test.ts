import { describe, expect, it } from "vitest";
import { buildAvcC } from "../../../../src/media/fmp4/avc-decoder-config.js";

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s.replace(/\s+/g, ""), "hex"));
const toHex = (b: Uint8Array): string => Buffer.from(b).toString("hex");

// Parameter sets written by libx264 (ffmpeg 5.1): High 1280x720 4:2:0 8-bit, Constrained
// Baseline 320x240, and High 4:2:2 (profile_idc 122) 10-bit 320x240.
const HIGH_SPS = hex("6764001facb200a00b760220000003002000000781e30649");
const HIGH_PPS = hex("68ebc3cb22c0");
const BASE_SPS = hex("6742c00dd90141fb0110000003001000000303c0f142a480");
const BASE_PPS = hex("68cb83cb20");
const H422_SPS = hex("677a000db6cd94141fb0110000030001000003003c0f142996");
const H422_PPS = hex("68ebe3cb22c0");

describe("buildAvcC", () => {
  it("High profile: header from SPS bytes 1-3, then SPS, PPS and the 4:2:0 8-bit extension", () => {
    expect(toHex(buildAvcC([HIGH_SPS], [HIGH_PPS]))).toBe(
      "00000035" + "61766343" + // size 53, "avcC"
        "01" + "64" + "00" + "1f" + // version, profile 100, compatibility, level 3.1
        "ff" + "e1" + // 4-byte lengths; 1 SPS
        "0018" + toHex(HIGH_SPS) +
        "01" + "0006" + toHex(HIGH_PPS) +
        "fd" + "f8" + "f8" + "00", // chroma_format_idc 1, bit depths 8/8, no SPS extensions
    );
  });

  it("Baseline has no extension fields", () => {
    expect(toHex(buildAvcC([BASE_SPS], [BASE_PPS]))).toBe(
      "00000030" + "61766343" + "01" + "42" + "c0" + "0d" + "ff" + "e1" + "0018" + toHex(BASE_SPS) + "01" + "0005" + toHex(BASE_PPS),
    );
  });

  it("High 4:2:2 10-bit signals chroma format 2 and bit depth 10 (bytes as ffmpeg's mp4 muxer writes them)", () => {
    expect(toHex(buildAvcC([H422_SPS], [H422_PPS]))).toBe(
      "0000003661766343017a000dffe10019677a000db6cd94141fb0110000030001000003003c0f14299601000668ebe3cb22c0fefafa00",
    );
  });

  it("carries several parameter sets", () => {
    const b = buildAvcC([HIGH_SPS, HIGH_SPS], [HIGH_PPS, BASE_PPS]);
    expect(b[13]).toBe(0xe2);
    expect(b[14 + 2 * (2 + HIGH_SPS.length)]).toBe(2);
  });

  it("refuses a missing SPS or PPS", () => {
    expect(() => buildAvcC([], [HIGH_PPS])).toThrow(/SPS/);
    expect(() => buildAvcC([HIGH_SPS], [])).toThrow(/PPS/);
  });
});
