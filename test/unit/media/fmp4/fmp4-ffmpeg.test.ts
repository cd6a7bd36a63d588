/**
 * The fMP4 writer against real encoders and a real demuxer/decoder: libx264 Annex-B and libopus
 * Ogg streams from ffmpeg are cut into ~1 s fragments (some starting at non-key frames), written
 * behind an init segment, and the file is checked with ffprobe and decoded with ffmpeg.
 * Parameter sets are stripped from the samples (except where a test says otherwise), so pictures
 * decode only through the avcC.
 */
import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { nalType, splitAnnexB } from "../../../../src/media/h264-nal.js";
import {
  buildInitSegment,
  buildMediaFragment,
  readBoxes,
  readFragment,
  type FragmentSample,
  type FragmentTrack,
} from "../../../../src/media/fmp4/index.js";

const execFileAsync = promisify(execFile);
const VIDEO_TRACK = 1;
const AUDIO_TRACK = 2;
const FRAME_TICKS = 3000; // 30 fps at 90 kHz

async function run(cmd: string, args: string[]): Promise<{ stdout: string; stderr: string }> {
  return execFileAsync(cmd, args, { maxBuffer: 64 * 1024 * 1024 });
}

async function ffmpeg(args: string[]): Promise<void> {
  await run("ffmpeg", ["-v", "error", "-y", ...args]);
}

async function ffprobe<T>(file: string, args: string[]): Promise<T> {
  const { stdout } = await run("ffprobe", ["-v", "error", "-of", "json", ...args, file]);
  return JSON.parse(stdout) as T;
}

/** ffmpeg's decode of the whole file: its error output, which must be empty. */
async function decodeErrors(file: string): Promise<string> {
  const { stderr } = await run("ffmpeg", ["-v", "error", "-i", file, "-f", "null", "-"]);
  return stderr.trim();
}

// ---- H.264 Annex-B ---------------------------------------------------------------------------

interface VideoStream {
  sps: Uint8Array;
  pps: Uint8Array;
  /** One per access unit, in decoding order: length-prefixed NAL units, parameter sets left out. */
  samples: { parts: Uint8Array[]; isKeyframe: boolean }[];
}

function lengthPrefix(n: number): Uint8Array {
  return Uint8Array.of(n >>> 24, (n >>> 16) & 0xff, (n >>> 8) & 0xff, n & 0xff);
}

/** Splits an Annex-B stream into access units (H.264 7.4.1.2.3): a new one at an SEI/SPS/PPS/AUD after a slice, or at a slice with first_mb_in_slice 0. */
function parseH264(buf: Uint8Array): VideoStream {
  let sps: Uint8Array | undefined;
  let pps: Uint8Array | undefined;
  const samples: VideoStream["samples"] = [];
  let parts: Uint8Array[] = [];
  let hasSlice = false;
  let isKeyframe = false;
  const flush = (): void => {
    if (hasSlice) samples.push({ parts, isKeyframe });
    parts = [];
    hasSlice = false;
    isKeyframe = false;
  };
  for (const nal of splitAnnexB(buf)) {
    const t = nalType(nal);
    const isSlice = t === 1 || t === 5;
    if (hasSlice && ((t >= 6 && t <= 9) || (isSlice && ((nal[1] as number) & 0x80) !== 0))) flush();
    if (t === 7) sps ??= nal;
    else if (t === 8) pps ??= nal;
    if (t === 7 || t === 8 || t === 9) continue;
    parts.push(lengthPrefix(nal.length), nal);
    if (isSlice) hasSlice = true;
    if (t === 5) isKeyframe = true;
  }
  flush();
  if (!sps || !pps) throw new Error("no parameter sets");
  return { sps, pps, samples };
}

async function encodeH264(file: string, size: string, seconds: number, gop: number, extra: string[] = []): Promise<VideoStream> {
  await ffmpeg([
    "-f", "lavfi", "-i", `testsrc2=size=${size}:rate=30`, "-t", String(seconds),
    "-c:v", "libx264", "-profile:v", "high", "-bf", "0", "-g", String(gop), "-keyint_min", String(gop), "-sc_threshold", "0",
    ...extra, "-f", "h264", file,
  ]);
  return parseH264(await readFile(file));
}

// ---- Opus in Ogg -----------------------------------------------------------------------------

interface AudioStream {
  channels: number;
  preSkip: number;
  packets: { data: Uint8Array; duration: number }[];
}

/** Samples at 48 kHz in an Opus packet, from its TOC byte (RFC 6716 §3.1). */
function opusPacketSamples(p: Uint8Array): number {
  const toc = p[0] as number;
  const config = toc >> 3;
  let frameUs: number;
  if (config < 12) frameUs = [10_000, 20_000, 40_000, 60_000][config & 3] as number;
  else if (config < 16) frameUs = [10_000, 20_000][config & 1] as number;
  else frameUs = [2_500, 5_000, 10_000, 20_000][config & 3] as number;
  const code = toc & 3;
  const frames = code === 0 ? 1 : code === 3 ? (p[1] as number) & 0x3f : 2;
  return (frames * frameUs * 48) / 1000;
}

/** Ogg pages (RFC 3533) → packets, joining those that span pages; then the Opus headers (RFC 7845). */
function parseOggOpus(buf: Uint8Array): AudioStream {
  const packets: Uint8Array[] = [];
  let pending: Uint8Array[] = [];
  let o = 0;
  while (o + 27 <= buf.length) {
    if (Buffer.from(buf.subarray(o, o + 4)).toString("latin1") !== "OggS") throw new Error(`no Ogg page at ${o}`);
    const segments = buf[o + 26] as number;
    let p = o + 27 + segments;
    for (let i = 0; i < segments; i++) {
      const lace = buf[o + 27 + i] as number;
      pending.push(buf.subarray(p, p + lace));
      p += lace;
      if (lace < 255) {
        packets.push(pending.length === 1 ? (pending[0] as Uint8Array) : Buffer.concat(pending));
        pending = [];
      }
    }
    o = p;
  }
  const head = packets[0];
  if (!head || Buffer.from(head.subarray(0, 8)).toString("latin1") !== "OpusHead") throw new Error("no OpusHead");
  const view = new DataView(head.buffer, head.byteOffset, head.byteLength);
  return {
    channels: head[9] as number,
    preSkip: view.getUint16(10, true),
    packets: packets.slice(2).map((data) => ({ data, duration: opusPacketSamples(data) })), // after OpusHead, OpusTags
  };
}

// ---- building files --------------------------------------------------------------------------

/** Samples from..to of a stream; with `inBand`, IDR samples lead with the SPS and PPS as the recorder writes them. */
function videoSamples(v: VideoStream, from: number, to: number, inBand = false): FragmentSample[] {
  const params = [lengthPrefix(v.sps.length), v.sps, lengthPrefix(v.pps.length), v.pps];
  return v.samples.slice(from, to).map((s) => ({
    data: inBand && s.isKeyframe ? [...params, ...s.parts] : s.parts,
    duration: FRAME_TICKS,
    isSync: s.isKeyframe,
  }));
}

/** Audio packets whose decode time falls in [fromTicks, toTicks) of 48 kHz, with the first one's time. */
function audioPart(a: AudioStream, fromTicks: number, toTicks: number): { base: number; samples: FragmentSample[] } {
  let t = 0;
  let base = -1;
  const samples: FragmentSample[] = [];
  for (const p of a.packets) {
    if (t >= fromTicks && t < toTicks) {
      if (base < 0) base = t;
      samples.push({ data: p.data, duration: p.duration, isSync: true });
    }
    t += p.duration;
  }
  return { base, samples };
}

function concatBytes(parts: Uint8Array[]): Buffer {
  return Buffer.concat(parts);
}

interface ProbeStream {
  codec_name?: string;
  profile?: string;
  width?: number;
  height?: number;
  nb_read_frames?: string;
  nb_read_packets?: string;
  duration?: string;
  sample_rate?: string;
  channels?: number;
}
interface ProbePacket {
  pts: number;
  dts: number;
  duration: number;
  flags: string;
}
interface ProbeFrame {
  key_frame: number;
  width?: number;
  height?: number;
  pts?: number;
}

async function probeStream(file: string, stream: string): Promise<ProbeStream> {
  const out = await ffprobe<{ streams: ProbeStream[] }>(file, [
    "-count_frames", "-count_packets", "-select_streams", stream,
    "-show_entries", "stream=codec_name,profile,width,height,nb_read_frames,nb_read_packets,duration,sample_rate,channels",
  ]);
  expect(out.streams).toHaveLength(1);
  return out.streams[0] as ProbeStream;
}

async function probePackets(file: string, stream: string): Promise<ProbePacket[]> {
  const out = await ffprobe<{ packets: ProbePacket[] }>(file, ["-select_streams", stream, "-show_entries", "packet=pts,dts,duration,flags"]);
  return out.packets;
}

async function probeFrames(file: string, stream: string): Promise<ProbeFrame[]> {
  const out = await ffprobe<{ frames: ProbeFrame[] }>(file, ["-select_streams", stream, "-show_entries", "frame=key_frame,width,height,pts"]);
  return out.frames;
}

/** The payload of the first box of a type anywhere in a buffer (a byte search: fine for tests). */
function findBoxBytes(buf: Uint8Array, type: string): Buffer {
  const b = Buffer.from(buf.buffer, buf.byteOffset, buf.byteLength);
  const at = b.indexOf(type, 0, "latin1");
  if (at < 4) throw new Error(`no ${type}`);
  return b.subarray(at - 4, at - 4 + b.readUInt32BE(at - 4));
}

// ---- tests -----------------------------------------------------------------------------------

describe("fMP4 writer through ffmpeg", () => {
  let dir: string;
  let v720: VideoStream; // 6 s, IDR every 2 s
  let v360: VideoStream; // 2 s, IDR every 1 s
  let v720b: VideoStream; // 2 s, IDR every 1 s, other content
  let audio: AudioStream; // 6 s

  beforeAll(async () => {
    dir = await mkdtemp(path.join(tmpdir(), "fmp4-writer-"));
    [v720, v360, v720b] = await Promise.all([
      encodeH264(path.join(dir, "v720.h264"), "1280x720", 6, 60),
      encodeH264(path.join(dir, "v360.h264"), "640x360", 2, 30),
      encodeH264(path.join(dir, "v720b.h264"), "1280x720", 2, 30, ["-vf", "hflip"]),
    ]);
    await ffmpeg(["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000", "-t", "6", "-c:a", "libopus", "-f", "ogg", path.join(dir, "a.ogg")]);
    audio = parseOggOpus(await readFile(path.join(dir, "a.ogg")));
  });

  afterAll(async () => {
    if (dir && !process.env.KEEP_FMP4_TEST_FILES) await rm(dir, { recursive: true, force: true });
  });

  it("parsed the encoder output as expected", () => {
    expect(v720.samples).toHaveLength(180);
    expect(v720.samples.flatMap((s, i) => (s.isKeyframe ? [i] : []))).toEqual([0, 60, 120]);
    expect(v360.samples).toHaveLength(60);
    expect(v720b.samples).toHaveLength(60);
    expect(audio.channels).toBe(1);
    expect(audio.preSkip).toBe(312);
    expect(audio.packets.length).toBeGreaterThanOrEqual(300);
    expect(new Set(audio.packets.map((p) => p.duration))).toEqual(new Set([960]));
  });

  it("writes the same avcC as ffmpeg's mp4 muxer", async () => {
    const ref = path.join(dir, "ref.mp4");
    await ffmpeg(["-r", "30", "-i", path.join(dir, "v720.h264"), "-c", "copy", ref]);
    const init = buildInitSegment({ video: { trackId: 1, timescale: 90_000, width: 1280, height: 720, sps: [v720.sps], pps: [v720.pps] } });
    expect(findBoxBytes(init, "avcC").toString("hex")).toBe(findBoxBytes(await readFile(ref), "avcC").toString("hex"));
  });

  it("audio + video in 1 s parts, half of them starting at non-key frames", async () => {
    const fragments: Uint8Array[] = [];
    for (let k = 0; k < 6; k++) {
      const a = audioPart(audio, k * 48_000, k === 5 ? Infinity : (k + 1) * 48_000);
      const tracks: FragmentTrack[] = [
        { trackId: VIDEO_TRACK, baseMediaDecodeTime: k * 30 * FRAME_TICKS, samples: videoSamples(v720, k * 30, (k + 1) * 30) },
        { trackId: AUDIO_TRACK, baseMediaDecodeTime: a.base, samples: a.samples },
      ];
      fragments.push(buildMediaFragment({ sequenceNumber: k + 1, tracks }));
    }
    const init = buildInitSegment({
      video: { trackId: VIDEO_TRACK, timescale: 90_000, width: 1280, height: 720, sps: [v720.sps], pps: [v720.pps] },
      audio: { trackId: AUDIO_TRACK, timescale: 48_000, codec: "opus", channels: audio.channels, sampleRate: 48_000, preSkip: audio.preSkip },
    });
    expect(readBoxes(init).map((b) => b.type)).toEqual(["ftyp", "moov"]);

    // What the reader sees in each part: key and non-key starts alternate (IDR every 2 s).
    const infos = fragments.map((f) => readFragment(f));
    expect(infos.map((i) => i.sequenceNumber)).toEqual([1, 2, 3, 4, 5, 6]);
    expect(infos.map((i) => i.tracks[0]?.firstSampleIsSync)).toEqual([true, false, true, false, true, false]);
    expect(infos.map((i) => i.tracks[0]?.baseMediaDecodeTime)).toEqual([0, 1, 2, 3, 4, 5].map((k) => k * 90_000));
    expect(infos.every((i) => i.tracks[0]?.sampleCount === 30 && i.tracks[0].duration === 90_000)).toBe(true);
    expect(infos.map((i) => i.tracks[1]?.baseMediaDecodeTime)).toEqual([0, 1, 2, 3, 4, 5].map((k) => k * 48_000));
    const audioCount = infos.reduce((n, i) => n + (i.tracks[1]?.sampleCount ?? 0), 0);
    expect(audioCount).toBe(audio.packets.length);

    const file = path.join(dir, "av.mp4");
    await writeFile(file, concatBytes([init, ...fragments]));

    const vs = await probeStream(file, "v:0");
    expect(vs).toMatchObject({ codec_name: "h264", profile: "High", width: 1280, height: 720, nb_read_frames: "180", nb_read_packets: "180" });
    const vp = await probePackets(file, "v:0");
    expect(vp.map((p) => p.pts)).toEqual(Array.from({ length: 180 }, (_, i) => i * FRAME_TICKS));
    expect(vp.map((p) => p.dts)).toEqual(vp.map((p) => p.pts)); // no B-frames, no composition offsets
    expect(vp.every((p) => p.duration === FRAME_TICKS)).toBe(true);
    expect(vp.flatMap((p, i) => (p.flags.startsWith("K") ? [i] : []))).toEqual([0, 60, 120]);
    const vf = await probeFrames(file, "v:0");
    expect(vf).toHaveLength(180);
    expect(vf.flatMap((f, i) => (f.key_frame === 1 ? [i] : []))).toEqual([0, 60, 120]);

    const as = await probeStream(file, "a:0");
    expect(as).toMatchObject({ codec_name: "opus", sample_rate: "48000", channels: 1, nb_read_packets: String(audio.packets.length) });
    expect(Number(as.nb_read_frames)).toBe(audio.packets.length);
    const ap = await probePackets(file, "a:0");
    expect(ap.map((p) => p.pts)).toEqual(audio.packets.map((_, i) => i * 960));
    // (ffmpeg 5.1 leaves fragmented audio packets' duration unset, its own fMP4 output too: the pts steps say it.)
    expect(Number(as.duration)).toBeCloseTo((audio.packets.length * 960) / 48_000, 3);

    expect(await decodeErrors(file)).toBe("");
  });

  it("a video-only file", async () => {
    const parts = [0, 30, 45, 60, 100, 150, 180]; // uneven parts, some starting mid-GOP
    const fragments = parts.slice(0, -1).map((from, k) => {
      const to = parts[k + 1] as number;
      return buildMediaFragment({
        sequenceNumber: k + 1,
        tracks: [{ trackId: VIDEO_TRACK, baseMediaDecodeTime: from * FRAME_TICKS, samples: videoSamples(v720, from, to) }],
      });
    });
    const init = buildInitSegment({ video: { trackId: VIDEO_TRACK, timescale: 90_000, entries: [{ width: 1280, height: 720, sps: [v720.sps], pps: [v720.pps] }] } });
    const file = path.join(dir, "v.mp4");
    await writeFile(file, concatBytes([init, ...fragments]));

    const streams = await ffprobe<{ streams: unknown[] }>(file, ["-show_entries", "stream=index"]);
    expect(streams.streams).toHaveLength(1);
    expect(await probeStream(file, "v:0")).toMatchObject({ codec_name: "h264", width: 1280, height: 720, nb_read_frames: "180" });
    const vp = await probePackets(file, "v:0");
    expect(vp.map((p) => p.pts)).toEqual(Array.from({ length: 180 }, (_, i) => i * FRAME_TICKS));
    expect(vp.flatMap((p, i) => (p.flags.startsWith("K") ? [i] : []))).toEqual([0, 60, 120]);
    expect(await decodeErrors(file)).toBe("");
  });

  it("an audio-only file", async () => {
    const fragments: Uint8Array[] = [];
    for (let k = 0; k < 6; k++) {
      const a = audioPart(audio, k * 48_000, k === 5 ? Infinity : (k + 1) * 48_000);
      fragments.push(buildMediaFragment({ sequenceNumber: k + 1, tracks: [{ trackId: 1, baseMediaDecodeTime: a.base, samples: a.samples }] }));
    }
    const init = buildInitSegment({ audio: { trackId: 1, timescale: 48_000, codec: "opus", channels: 1, sampleRate: 48_000, preSkip: audio.preSkip } });
    const file = path.join(dir, "a.mp4");
    await writeFile(file, concatBytes([init, ...fragments]));

    const streams = await ffprobe<{ streams: unknown[] }>(file, ["-show_entries", "stream=index"]);
    expect(streams.streams).toHaveLength(1);
    const as = await probeStream(file, "a:0");
    expect(as).toMatchObject({ codec_name: "opus", channels: 1, nb_read_packets: String(audio.packets.length), nb_read_frames: String(audio.packets.length) });
    const ap = await probePackets(file, "a:0");
    expect(ap.map((p) => p.pts)).toEqual(audio.packets.map((_, i) => i * 960));
    // The decoder takes dOps's pre-skip: the first frame loses that many samples.
    const af = await ffprobe<{ frames: { nb_samples: number }[] }>(file, ["-select_streams", "a:0", "-show_entries", "frame=nb_samples"]);
    expect(af.frames[0]?.nb_samples).toBe(960 - audio.preSkip);
    expect(af.frames.slice(1).every((f) => f.nb_samples === 960)).toBe(true);
    expect(await decodeErrors(file)).toBe("");
  });

  it("two sample entries (640x360, 1280x720): fragments name index 1 then 2, and both sizes decode", async () => {
    const init = buildInitSegment({
      video: {
        trackId: VIDEO_TRACK,
        timescale: 90_000,
        entries: [
          { width: 640, height: 360, sps: [v360.sps], pps: [v360.pps] },
          { width: 1280, height: 720, sps: [v720b.sps], pps: [v720b.pps] },
        ],
      },
    });
    // ffmpeg 5.1 reads every stsd entry but applies only the first to fragments: it ignores
    // tfhd's sample_description_index. The recorder therefore repeats SPS/PPS in-band at each
    // IDR, and so does this test; the entries and indexes are checked as written.
    // Parts of 0.5 s: the second part of each GOP starts at a non-key frame.
    const fragments: Uint8Array[] = [];
    for (let k = 0; k < 8; k++) {
      const source = k < 4 ? v360 : v720b;
      const from = (k % 4) * 15;
      fragments.push(buildMediaFragment({
        sequenceNumber: k + 1,
        tracks: [{
          trackId: VIDEO_TRACK,
          baseMediaDecodeTime: k * 15 * FRAME_TICKS,
          sampleDescriptionIndex: k < 4 ? 1 : 2,
          samples: videoSamples(source, from, from + 15, true),
        }],
      }));
    }
    expect(fragments.map((f) => readFragment(f).tracks[0]?.sampleDescriptionIndex)).toEqual([1, 1, 1, 1, 2, 2, 2, 2]);
    const file = path.join(dir, "two-entries.mp4");
    await writeFile(file, concatBytes([init, ...fragments]));

    // The stream reports one size (its first sample entry's); each decoded frame has its own.
    const vs = await probeStream(file, "v:0");
    expect(vs.nb_read_frames).toBe("120");
    const frames = await probeFrames(file, "v:0");
    expect(frames).toHaveLength(120);
    expect(frames.slice(0, 60).every((f) => f.width === 640 && f.height === 360)).toBe(true);
    expect(frames.slice(60).every((f) => f.width === 1280 && f.height === 720)).toBe(true);
    expect(frames.flatMap((f, i) => (f.key_frame === 1 ? [i] : []))).toEqual([0, 30, 60, 90]);
    expect(frames.map((f) => f.pts)).toEqual(Array.from({ length: 120 }, (_, i) => i * FRAME_TICKS));
    expect(await decodeErrors(file)).toBe("");
  });

  it("B-frames: composition offsets carry presentation order", async () => {
    // An MP4 from ffmpeg gives decode and presentation times per sample, and AVCC samples.
    const src = path.join(dir, "bframes.mp4");
    await ffmpeg([
      "-f", "lavfi", "-i", "testsrc2=size=640x360:rate=30", "-t", "2",
      "-c:v", "libx264", "-profile:v", "high", "-bf", "2", "-g", "30", "-sc_threshold", "0", "-video_track_timescale", "90000", src,
    ]);
    const bytes = await readFile(src);
    const pk = await ffprobe<{ packets: { pts: number; dts: number; pos: string; size: string; flags: string }[] }>(src, [
      "-select_streams", "v:0", "-show_entries", "packet=pts,dts,pos,size,flags",
    ]);
    const packets = pk.packets;
    expect(packets).toHaveLength(60);
    const dts0 = (packets[0] as { dts: number }).dts;
    const spsPps = findBoxBytes(bytes, "avcC");
    const spsLen = spsPps.readUInt16BE(14);
    const sps = spsPps.subarray(16, 16 + spsLen);
    const ppsLen = spsPps.readUInt16BE(17 + spsLen);
    const pps = spsPps.subarray(19 + spsLen, 19 + spsLen + ppsLen);

    const samples: FragmentSample[] = packets.map((p, i) => ({
      data: bytes.subarray(Number(p.pos), Number(p.pos) + Number(p.size)),
      duration: (packets[i + 1]?.dts ?? p.dts + FRAME_TICKS) - p.dts,
      isSync: p.flags.startsWith("K"),
      compositionOffset: p.pts - p.dts,
    }));
    expect(samples.some((s) => s.compositionOffset !== 0)).toBe(true);
    // Decode times start at 0 in our file: shift by the source's first (negative) dts.
    const fragments = [0, 20, 40].map((from, k) =>
      buildMediaFragment({
        sequenceNumber: k + 1,
        tracks: [{ trackId: VIDEO_TRACK, baseMediaDecodeTime: (packets[from] as { dts: number }).dts - dts0, samples: samples.slice(from, from + 20) }],
      }),
    );
    const init = buildInitSegment({ video: { trackId: VIDEO_TRACK, timescale: 90_000, width: 640, height: 360, sps: [sps], pps: [pps] } });
    const file = path.join(dir, "bframes-out.mp4");
    await writeFile(file, concatBytes([init, ...fragments]));

    const out = await probePackets(file, "v:0");
    expect(out.map((p) => p.dts)).toEqual(packets.map((p) => p.dts - dts0));
    expect(out.map((p) => p.pts)).toEqual(packets.map((p) => p.pts - dts0));
    expect(out.map((p) => p.flags.startsWith("K"))).toEqual(packets.map((p) => p.flags.startsWith("K")));
    expect(await probeStream(file, "v:0")).toMatchObject({ nb_read_frames: "60" });
    const frames = await probeFrames(file, "v:0");
    expect(frames.map((f) => f.pts)).toEqual(Array.from({ length: 60 }, (_, i) => i * FRAME_TICKS - dts0));
    expect(await decodeErrors(file)).toBe("");
  });
});
