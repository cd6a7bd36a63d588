import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { AacConfigError, aacConfigFromHex, aacFrameTicks, parseAacConfig } from "../../../src/media/aac-config.js";
import { fuzzParams } from "../../support/fuzz.js";

const execFileAsync = promisify(execFile);

/** Writes fields MSB first, as ISO 14496-3 lays them out, padded to whole bytes. */
function bits(fields: [value: number, width: number][]): Uint8Array {
  let s = "";
  for (const [v, w] of fields) s += v.toString(2).padStart(w, "0");
  while (s.length % 8) s += "0";
  return Uint8Array.from(s.match(/.{8}/g) ?? [], (b) => parseInt(b, 2));
}

describe("parseAacConfig", () => {
  it.each([
    ["1190", 48000, 2],
    ["1188", 48000, 1],
    ["1210", 44100, 2],
    ["1408", 16000, 1],
    ["1588", 8000, 1],
    ["119056E500", 48000, 2], // as ffmpeg's SDP writes it: with the sync extension, SBR absent
  ])("reads AAC-LC %s: %i Hz, %i channels", (hex, rate, channels) => {
    expect(parseAacConfig(aacConfigFromHex(hex))).toEqual({
      objectType: 2, sampleRate: rate, coreSampleRate: rate, channels, frameSamples: 1024, sbr: false, codecString: "mp4a.40.2",
    });
  });

  it("reads the config ffmpeg's RTP muxer writes in its SDP", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "aac-sdp-"));
    try {
      const sdpFile = path.join(dir, "a.sdp");
      // Port 9 (discard): the packets go nowhere, only the SDP is read.
      await execFileAsync("ffmpeg", ["-v", "error", "-f", "lavfi", "-i", "sine=sample_rate=44100:duration=0.1", "-ac", "1", "-c:a", "aac", "-f", "rtp", "-sdp_file", sdpFile, "rtp://127.0.0.1:9"]);
      const sdp = await readFile(sdpFile, "utf8");
      const hex = /config=([0-9A-Fa-f]+)/.exec(sdp)?.[1] as string;
      expect(hex).toMatch(/^1208/);
      expect(/a=rtpmap:\d+ MPEG4-GENERIC\/44100\/1/.test(sdp)).toBe(true);
      expect(parseAacConfig(aacConfigFromHex(hex))).toMatchObject({ objectType: 2, sampleRate: 44100, channels: 1, codecString: "mp4a.40.2" });
    } finally {
      await rm(dir, { recursive: true, force: true });
    }
  });

  it("reads an escaped object type and an explicit 24-bit frequency", () => {
    // Object type 42 (USAC): 31 then 42 - 32 in six bits.
    expect(parseAacConfig(bits([[31, 5], [10, 6], [3, 4], [2, 4]]))).toMatchObject({ objectType: 42, sampleRate: 48000, channels: 2, codecString: "mp4a.40.42" });
    // AAC-LC at 22000 Hz, not in the index table: index 15 then the frequency.
    expect(parseAacConfig(bits([[2, 5], [15, 4], [22000, 24], [1, 4], [0, 3]]))).toMatchObject({ objectType: 2, sampleRate: 22000, coreSampleRate: 22000, channels: 1 });
  });

  it("reads HE-AAC signalled explicitly (SBR over an AAC-LC core) and implicitly by a sync extension", () => {
    const explicit = parseAacConfig(bits([[5, 5], [6, 4], [2, 4], [3, 4], [2, 5], [0, 3]]));
    expect(explicit).toEqual({ objectType: 5, sampleRate: 48000, coreSampleRate: 24000, channels: 2, frameSamples: 2048, sbr: true, codecString: "mp4a.40.5" });
    const implicit = parseAacConfig(bits([[2, 5], [6, 4], [2, 4], [0, 3], [0x2b7, 11], [5, 5], [1, 1], [3, 4]]));
    expect(implicit).toMatchObject({ objectType: 2, sampleRate: 48000, coreSampleRate: 24000, frameSamples: 2048, sbr: true });
    expect(aacFrameTicks(implicit, 48000)).toBe(2048);
    expect(aacFrameTicks(implicit, 24000)).toBe(1024);
  });

  it("takes the frame length from frameLengthFlag: 960 for AAC, 480 or 512 for ELD", () => {
    expect(parseAacConfig(bits([[2, 5], [3, 4], [2, 4], [1, 1], [0, 2]])).frameSamples).toBe(960);
    // ER AAC ELD (escaped object type 39): 512 samples, 480 with its frameLengthFlag.
    expect(parseAacConfig(bits([[31, 5], [7, 6], [3, 4], [1, 4], [0, 1]])).frameSamples).toBe(512);
    expect(parseAacConfig(bits([[31, 5], [7, 6], [3, 4], [1, 4], [1, 1]]))).toMatchObject({ objectType: 39, frameSamples: 480, codecString: "mp4a.40.39" });
  });

  it("counts channels from a program config element when channelConfiguration is 0", () => {
    const pce: [number, number][] = [[0, 4], [1, 2], [3, 4], [2, 4], [0, 4], [1, 4], [1, 2], [0, 3], [0, 4], [0, 1], [0, 1], [0, 1],
      [0, 1], [0, 4], [1, 1], [1, 4], // front: SCE, CPE
      [1, 1], [2, 4]]; // back: CPE
    expect(parseAacConfig(bits([[2, 5], [3, 4], [0, 4], [0, 3], ...pce])).channels).toBe(6); // 1 + 2 + 2 + LFE
  });

  it("rejects truncated and reserved configs with AacConfigError", () => {
    expect(() => parseAacConfig(new Uint8Array(0))).toThrow(AacConfigError);
    expect(() => parseAacConfig(Uint8Array.of(0x11))).toThrow(/truncated/);
    expect(() => parseAacConfig(bits([[2, 5], [13, 4], [2, 4], [0, 3]]))).toThrow(/reserved sampling frequency index 13/);
    expect(() => parseAacConfig(bits([[2, 5], [3, 4], [8, 4], [0, 3]]))).toThrow(/reserved channel configuration 8/);
    expect(() => parseAacConfig(bits([[0, 5], [3, 4], [2, 4]]))).toThrow(/object type 0/);
    expect(() => parseAacConfig(bits([[2, 5], [15, 4], [0, 24], [2, 4], [0, 3]]))).toThrow(/zero sampling frequency/);
    expect(() => aacConfigFromHex("11g0")).toThrow(AacConfigError);
    expect(() => aacConfigFromHex("119")).toThrow(AacConfigError);
  });

  it("never throws anything but AacConfigError on arbitrary bytes", () => {
    fc.assert(
      fc.property(fc.uint8Array({ maxLength: 12 }), (b) => {
        try {
          const c = parseAacConfig(b);
          expect(c.sampleRate).toBeGreaterThan(0);
          expect(c.channels).toBeGreaterThan(0);
          expect(c.frameSamples).toBeGreaterThan(0);
        } catch (err) {
          expect(err).toBeInstanceOf(AacConfigError);
        }
      }),
      fuzzParams(2000),
    );
  });
});
