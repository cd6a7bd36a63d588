import { describe, expect, it } from "vitest";
import { readBoxes, type BoxInfo } from "../../../../src/media/fmp4/box-reader.js";
import { buildInitSegment, type InitAudioTrack, type VideoSampleEntry } from "../../../../src/media/fmp4/init-segment.js";

const hex = (s: string): Uint8Array => Uint8Array.from(Buffer.from(s, "hex"));
const SPS_720 = hex("6764001facb200a00b760220000003002000000781e30649");
const PPS_720 = hex("68ebc3cb22c0");
const SPS_240 = hex("6742c00dd90141fb0110000003001000000303c0f142a480");
const PPS_240 = hex("68cb83cb20");
const E720: VideoSampleEntry = { width: 1280, height: 720, sps: [SPS_720], pps: [PPS_720] };
const E240: VideoSampleEntry = { width: 320, height: 240, sps: [SPS_240], pps: [PPS_240] };
const OPUS: InitAudioTrack = { trackId: 2, timescale: 48_000, codec: "opus", channels: 2, sampleRate: 48_000, preSkip: 312 };

/** Bytes before the children of the container-like boxes that have some. */
const PREAMBLE: Record<string, number> = { stsd: 8, dref: 8, avc1: 78, Opus: 28 };

function kids(buf: Uint8Array, box: BoxInfo): BoxInfo[] {
  const start = box.offset + box.headerSize + (PREAMBLE[box.type] ?? 0);
  return readBoxes(buf, start, box.offset + box.size);
}

/** Follows a path of box types from the top level, taking the first match at each level. */
function find(buf: Uint8Array, ...path: string[]): BoxInfo {
  let level = readBoxes(buf);
  let found: BoxInfo | undefined;
  for (const type of path) {
    found = level.find((b) => b.type === type);
    if (!found) throw new Error(`no ${path.join("/")}`);
    level = kids(buf, found);
  }
  return found as BoxInfo;
}

function payload(buf: Uint8Array, b: BoxInfo): Buffer {
  return Buffer.from(buf.buffer, buf.byteOffset + b.offset + b.headerSize, b.size - b.headerSize);
}

function brands(buf: Uint8Array): string[] {
  const p = payload(buf, find(buf, "ftyp"));
  const out = [];
  for (let o = 0; o < p.length; o += 4) out.push(p.toString("latin1", o, o + 4));
  return out;
}

describe("buildInitSegment", () => {
  it("audio + video: ftyp, then moov with mvhd, one trak per track and a trex each", () => {
    const init = buildInitSegment({ video: { trackId: 1, timescale: 90_000, ...E720 }, audio: OPUS });
    expect(readBoxes(init).map((b) => b.type)).toEqual(["ftyp", "moov"]);
    expect(brands(init)).toEqual(["iso6", "\0\0\0\0", "iso6", "mp41", "dash", "avc1"]); // major, minor version, compatible
    const moov = find(init, "moov");
    expect(kids(init, moov).map((b) => b.type)).toEqual(["mvhd", "trak", "trak", "mvex"]);
    const mvhd = payload(init, find(init, "moov", "mvhd"));
    expect(mvhd.readUInt32BE(12)).toBe(1000);
    expect(mvhd.readUInt32BE(mvhd.length - 4)).toBe(3); // next_track_ID
    const trex = kids(init, find(init, "moov", "mvex")).map((b) => payload(init, b));
    expect(trex.map((p) => [p.readUInt32BE(4), p.readUInt32BE(8)])).toEqual([[1, 1], [2, 1]]); // track id, default sample description

    const traks = kids(init, moov).filter((b) => b.type === "trak");
    const handlers = traks.map((t) => {
      const mdia = kids(init, t).find((b) => b.type === "mdia") as BoxInfo;
      const hdlr = kids(init, mdia).find((b) => b.type === "hdlr") as BoxInfo;
      const mdhd = kids(init, mdia).find((b) => b.type === "mdhd") as BoxInfo;
      return [payload(init, hdlr).toString("latin1", 8, 12), payload(init, mdhd).readUInt32BE(12)];
    });
    expect(handlers).toEqual([["vide", 90_000], ["soun", 48_000]]);
    const stbl = kids(init, find(init, "moov", "trak", "mdia", "minf", "stbl")).map((b) => b.type);
    expect(stbl).toEqual(["stsd", "stts", "stsc", "stsz", "stco"]);
    expect(kids(init, find(init, "moov", "trak", "mdia", "minf")).map((b) => b.type)).toEqual(["vmhd", "dinf", "stbl"]);
    expect(kids(init, find(init, "moov", "trak", "mdia", "minf", "dinf", "dref")).map((b) => b.type)).toEqual(["url "]);
  });

  it("video: avc1 entry with the size and avcC; tkhd carries the display size in 16.16", () => {
    const init = buildInitSegment({ video: { trackId: 1, timescale: 90_000, ...E720 } });
    expect(brands(init)).toEqual(["iso6", "\0\0\0\0", "iso6", "mp41", "dash", "avc1", "cmfc"]); // one track, one entry: CMAF
    const stsd = payload(init, find(init, "moov", "trak", "mdia", "minf", "stbl", "stsd"));
    expect(stsd.readUInt32BE(4)).toBe(1);
    const avc1 = payload(init, find(init, "moov", "trak", "mdia", "minf", "stbl", "stsd", "avc1"));
    expect([avc1.readUInt16BE(6), avc1.readUInt16BE(24), avc1.readUInt16BE(26)]).toEqual([1, 1280, 720]);
    expect(find(init, "moov", "trak", "mdia", "minf", "stbl", "stsd", "avc1", "avcC").size).toBe(53);
    const tkhd = payload(init, find(init, "moov", "trak", "tkhd"));
    expect(tkhd.readUInt32BE(12)).toBe(1); // track id
    expect([tkhd.readUInt32BE(tkhd.length - 8), tkhd.readUInt32BE(tkhd.length - 4)]).toEqual([1280 * 65536, 720 * 65536]);
    expect(tkhd.readUInt16BE(36)).toBe(0); // volume: none for video
  });

  it("several video sample entries: stsd lists them in order, tkhd takes the largest size, no CMAF brand", () => {
    const init = buildInitSegment({ video: { trackId: 1, timescale: 90_000, entries: [E240, E720] } });
    expect(brands(init)).not.toContain("cmfc");
    const stsdBox = find(init, "moov", "trak", "mdia", "minf", "stbl", "stsd");
    expect(payload(init, stsdBox).readUInt32BE(4)).toBe(2);
    const entries = kids(init, stsdBox);
    expect(entries.map((b) => b.type)).toEqual(["avc1", "avc1"]);
    expect(entries.map((b) => [payload(init, b).readUInt16BE(24), payload(init, b).readUInt16BE(26)])).toEqual([[320, 240], [1280, 720]]);
    const profiles = entries.map((b) => payload(init, kids(init, b)[0] as BoxInfo)[1]);
    expect(profiles).toEqual([0x42, 0x64]);
    const tkhd = payload(init, find(init, "moov", "trak", "tkhd"));
    expect([tkhd.readUInt32BE(tkhd.length - 8) / 65536, tkhd.readUInt32BE(tkhd.length - 4) / 65536]).toEqual([1280, 720]);
  });

  it("audio: Opus entry and dOps per the Opus-in-ISOBMFF encapsulation", () => {
    const init = buildInitSegment({ audio: { ...OPUS, trackId: 1, channels: 1 } });
    expect(brands(init)).toEqual(["iso6", "\0\0\0\0", "iso6", "mp41", "dash", "cmfc"]);
    expect(kids(init, find(init, "moov", "trak", "mdia", "minf")).map((b) => b.type)).toEqual(["smhd", "dinf", "stbl"]);
    const opus = payload(init, find(init, "moov", "trak", "mdia", "minf", "stbl", "stsd", "Opus"));
    expect(opus.readUInt16BE(6)).toBe(1); // data_reference_index
    expect([opus.readUInt16BE(16), opus.readUInt16BE(18), opus.readUInt32BE(24)]).toEqual([1, 16, 48_000 * 65536]);
    const dOps = find(init, "moov", "trak", "mdia", "minf", "stbl", "stsd", "Opus", "dOps");
    // Version 0, 1 channel, pre-skip 312, input rate 48000, gain 0, mapping family 0.
    expect(payload(init, dOps).toString("hex")).toBe("00" + "01" + "0138" + "0000bb80" + "0000" + "00");
    const tkhd = payload(init, find(init, "moov", "trak", "tkhd"));
    expect(tkhd.readUInt16BE(36)).toBe(0x0100);
  });

  it("refuses what it cannot describe", () => {
    expect(() => buildInitSegment({})).toThrow(/at least one track/);
    expect(() => buildInitSegment({ audio: { ...OPUS, channels: 6 } })).toThrow(/1 or 2 channels/);
    expect(() => buildInitSegment({ video: { trackId: 2, timescale: 90_000, ...E720 }, audio: OPUS })).toThrow(/distinct/);
    expect(() => buildInitSegment({ video: { trackId: 1, timescale: 90_000, entries: [] } })).toThrow(/sample entry/);
    expect(() => buildInitSegment({ video: { trackId: 0, timescale: 90_000, ...E720 } })).toThrow(/track id/);
  });
});
