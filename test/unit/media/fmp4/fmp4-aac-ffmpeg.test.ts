/**
 * AAC in fMP4 against ffmpeg: real AUs from ffmpeg's AAC encoder (ADTS headers stripped) are
 * written behind an init segment with an mp4a/esds entry, in ~1 s fragments; ffprobe must find
 * the track and ffmpeg must decode every AU, all samples of it, without an error.
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { aacConfigFromHex } from "../../../../src/media/aac-config.js";
import { buildInitSegment, buildMediaFragment, readBoxes, type BoxInfo } from "../../../../src/media/fmp4/index.js";
import { aacFixture } from "../../../support/aac-fixtures.js";

const execFileAsync = promisify(execFile);

async function run(cmd: string, args: string[]): Promise<{ stdout: string; stderr: string }> {
  return execFileAsync(cmd, args, { maxBuffer: 64 * 1024 * 1024 });
}

/** An audio-only fMP4 of `aus`, fragments of `perFragment` AUs, timescale = the sample rate. */
function aacFile(config: Uint8Array, sampleRate: number, channels: number, aus: Uint8Array[], perFragment: number): Uint8Array {
  const parts = [buildInitSegment({ audio: { trackId: 1, timescale: sampleRate, codec: "aac", channels, sampleRate, config } })];
  for (let k = 0, seq = 1; k < aus.length; k += perFragment, seq++) {
    const samples = aus.slice(k, k + perFragment).map((data) => ({ data, duration: 1024, isSync: true }));
    parts.push(buildMediaFragment({ sequenceNumber: seq, tracks: [{ trackId: 1, baseMediaDecodeTime: k * 1024, samples }] }));
  }
  return Buffer.concat(parts);
}

function find(buf: Uint8Array, ...types: string[]): BoxInfo {
  let boxes = readBoxes(buf);
  let found: BoxInfo | undefined;
  for (const t of types) {
    found = boxes.find((b) => b.type === t);
    if (!found) throw new Error(`no ${t}`);
    const b = found;
    // Sample entries hold their children after fixed fields: mp4a after 28 bytes, stsd after 8, esds is a leaf.
    const skip = t === "stsd" ? 8 : t === "mp4a" ? 28 : 0;
    boxes = t === "esds" ? [] : readBoxes(buf.subarray(b.offset + b.headerSize + skip, b.offset + b.size)).map((c) => ({ ...c, offset: c.offset + b.offset + b.headerSize + skip }));
  }
  return found as BoxInfo;
}

describe("fMP4 with AAC (mp4a + esds)", () => {
  let dir: string;
  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "fmp4-aac-"));
  });
  afterAll(async () => {
    await rm(dir, { recursive: true, force: true });
  });

  it("writes the esds descriptors around the AudioSpecificConfig", () => {
    const init = buildInitSegment({ audio: { trackId: 1, timescale: 48000, codec: "aac", channels: 2, sampleRate: 48000, config: aacConfigFromHex("1190") } });
    const mp4a = find(init, "moov", "trak", "mdia", "minf", "stbl", "stsd", "mp4a");
    const entry = Buffer.from(init.subarray(mp4a.offset + mp4a.headerSize, mp4a.offset + mp4a.size));
    expect([entry.readUInt16BE(6), entry.readUInt16BE(16), entry.readUInt16BE(18), entry.readUInt32BE(24)]).toEqual([1, 2, 16, 48000 * 65536]);
    const esds = find(init, "moov", "trak", "mdia", "minf", "stbl", "stsd", "mp4a", "esds");
    expect(Buffer.from(init.subarray(esds.offset + esds.headerSize, esds.offset + esds.size)).toString("hex")).toBe(
      "00000000" + // version, flags
      "03" + "19" + "0000" + "00" + // ES_Descriptor, 25 bytes: ES_ID 0, flags 0
      "04" + "11" + "40" + "15" + "000000" + "00000000" + "00000000" + // DecoderConfigDescriptor: MPEG-4 audio, stream type 5
      "05" + "02" + "1190" + // DecoderSpecificInfo: the config
      "06" + "01" + "02", // SLConfigDescriptor, predefined 2
    );
    const mdhd = find(init, "moov", "trak", "mdia", "mdhd");
    expect(Buffer.from(init.subarray(mdhd.offset + mdhd.headerSize, mdhd.offset + mdhd.size)).readUInt32BE(12)).toBe(48000);
  });

  it("refuses an AAC track it cannot describe", () => {
    const a = { trackId: 1, timescale: 48000, codec: "aac" as const, channels: 2, sampleRate: 48000, config: aacConfigFromHex("1190") };
    expect(() => buildInitSegment({ audio: { ...a, config: new Uint8Array(0) } })).toThrow(/AudioSpecificConfig/);
    expect(() => buildInitSegment({ audio: { ...a, channels: 0 } })).toThrow(/channel count/);
  });

  it.each([
    [48000, 2],
    [44100, 1],
  ])("ffmpeg decodes every AU of %i Hz, %i channel(s), all samples, without error", async (sampleRate, channels) => {
    const { config, aus } = await aacFixture({ sampleRate, channels, seconds: 3 });
    const file = path.join(dir, `a-${sampleRate}-${channels}.mp4`);
    await writeFile(file, aacFile(config, sampleRate, channels, aus, 47));
    const probe = JSON.parse((await run("ffprobe", ["-v", "error", "-of", "json", "-count_packets", "-show_streams", file])).stdout) as { streams: Record<string, unknown>[] };
    expect(probe.streams).toHaveLength(1);
    expect(probe.streams[0]).toMatchObject({ codec_name: "aac", profile: "LC", sample_rate: String(sampleRate), channels, nb_read_packets: String(aus.length) });
    const frames = JSON.parse((await run("ffprobe", ["-v", "error", "-of", "json", "-show_entries", "frame=nb_samples", file])).stdout) as { frames: { nb_samples: number }[] };
    expect(frames.frames.reduce((n, f) => n + f.nb_samples, 0)).toBe(aus.length * 1024);
    const { stderr } = await run("ffmpeg", ["-v", "error", "-i", file, "-f", "null", "-"]);
    expect(stderr.trim()).toBe("");
  });
});
