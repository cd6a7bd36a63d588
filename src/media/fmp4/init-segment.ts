import { parseH264Sps } from "../h264-sps.js";
import { box, concat, fullBox, fourcc, u16, u32, u8, zeros } from "./box.js";

export interface VideoSampleEntry {
  sps: Uint8Array[];
  pps: Uint8Array[];
  width: number;
  height: number;
}

export interface InitVideoTrack {
  trackId: number;
  timescale: number;
  /** Sample entries, referenced by fragments as sample_description_index 1..n. */
  entries: VideoSampleEntry[];
}

export interface InitAudioTrack {
  trackId: number;
  timescale: number;
  codec: "opus";
  channels: number;
  sampleRate: number;
  /** Samples (48 kHz) the decoder discards at the start (RFC 7845 pre-skip). */
  preSkip: number;
}

export interface InitOptions {
  video?: InitVideoTrack;
  audio?: InitAudioTrack;
}

const MATRIX = concat([u32(0x00010000), u32(0), u32(0), u32(0), u32(0x00010000), u32(0), u32(0), u32(0), u32(0x40000000)]);

/** `ftyp` + `moov` for fragmented MP4 (no samples in the moov; every sample lives in fragments). */
export function buildInitSegment(opts: InitOptions): Uint8Array {
  const tracks: Uint8Array[] = [];
  const trex: Uint8Array[] = [];
  let nextTrackId = 1;
  if (opts.video) {
    tracks.push(videoTrak(opts.video));
    trex.push(trexBox(opts.video.trackId));
    nextTrackId = Math.max(nextTrackId, opts.video.trackId + 1);
  }
  if (opts.audio) {
    tracks.push(audioTrak(opts.audio));
    trex.push(trexBox(opts.audio.trackId));
    nextTrackId = Math.max(nextTrackId, opts.audio.trackId + 1);
  }
  if (tracks.length === 0) throw new Error("an init segment needs at least one track");
  const brands = ["iso6", "isom", "mp41", "dash", ...(opts.video ? ["avc1"] : []), "cmfc"];
  const ftyp = box("ftyp", fourcc("iso6"), u32(0), ...brands.map(fourcc));
  const mvhd = fullBox("mvhd", 0, 0,
    u32(0), u32(0), u32(1000), u32(0), // creation, modification, timescale, duration
    u32(0x00010000), u16(0x0100), zeros(10), MATRIX, zeros(24), u32(nextTrackId));
  const moov = box("moov", mvhd, ...tracks, box("mvex", ...trex));
  return concat([ftyp, moov]);
}

function tkhd(trackId: number, volume: number, width: number, height: number): Uint8Array {
  return fullBox("tkhd", 0, 0x000003,
    u32(0), u32(0), u32(trackId), u32(0), u32(0), // creation, modification, id, reserved, duration
    zeros(8), u16(0), u16(0), u16(volume), u16(0), MATRIX, u32(width * 65536), u32(height * 65536));
}

function mdhd(timescale: number): Uint8Array {
  return fullBox("mdhd", 0, 0, u32(0), u32(0), u32(timescale), u32(0), u16(0x55c4) /* "und" */, u16(0));
}

function hdlr(type: string, name: string): Uint8Array {
  return fullBox("hdlr", 0, 0, u32(0), fourcc(type), zeros(12), new TextEncoder().encode(`${name}\0`));
}

function dinf(): Uint8Array {
  return box("dinf", fullBox("dref", 0, 0, u32(1), fullBox("url ", 0, 1)));
}

function emptySampleTables(stsd: Uint8Array): Uint8Array {
  return box("stbl", stsd,
    fullBox("stts", 0, 0, u32(0)),
    fullBox("stsc", 0, 0, u32(0)),
    fullBox("stsz", 0, 0, u32(0), u32(0)),
    fullBox("stco", 0, 0, u32(0)));
}

function videoTrak(v: InitVideoTrack): Uint8Array {
  if (v.entries.length === 0) throw new Error("a video track needs at least one sample entry");
  const width = Math.max(...v.entries.map((e) => e.width));
  const height = Math.max(...v.entries.map((e) => e.height));
  const stsd = fullBox("stsd", 0, 0, u32(v.entries.length), ...v.entries.map(avc1));
  return box("trak",
    tkhd(v.trackId, 0, width, height),
    box("mdia", mdhd(v.timescale), hdlr("vide", "VideoHandler"),
      box("minf", fullBox("vmhd", 0, 1, u16(0), u16(0), u16(0), u16(0)), dinf(), emptySampleTables(stsd))));
}

function avc1(e: VideoSampleEntry): Uint8Array {
  return box("avc1",
    zeros(6), u16(1), // reserved, data_reference_index
    u16(0), u16(0), zeros(12), u16(e.width), u16(e.height),
    u32(0x00480000), u32(0x00480000), u32(0), u16(1), // 72 dpi, reserved, frame_count
    zeros(32), u16(0x0018), u16(0xffff), // compressorname, depth, pre_defined = -1
    avcC(e.sps, e.pps));
}

/** AVCDecoderConfigurationRecord (ISO/IEC 14496-15 §5.3.3.1), 4-byte NAL lengths. */
export function avcC(spsList: Uint8Array[], ppsList: Uint8Array[]): Uint8Array {
  const sps = spsList[0];
  if (!sps || sps.length < 4) throw new Error("avcC needs an SPS");
  const parts: Uint8Array[] = [u8(1), u8(sps[1] as number), u8(sps[2] as number), u8(sps[3] as number), u8(0xff), u8(0xe0 | spsList.length)];
  for (const s of spsList) parts.push(u16(s.length), s);
  parts.push(u8(ppsList.length));
  for (const p of ppsList) parts.push(u16(p.length), p);
  const profile = sps[1] as number;
  if (profile === 100 || profile === 110 || profile === 122 || profile === 144) {
    const info = parseH264Sps(sps);
    parts.push(u8(0xfc | (info.chromaFormatIdc ?? 1)), u8(0xf8 | ((info.bitDepthLuma ?? 8) - 8)), u8(0xf8 | ((info.bitDepthChroma ?? 8) - 8)), u8(0));
  }
  return box("avcC", ...parts);
}

function audioTrak(a: InitAudioTrack): Uint8Array {
  const stsd = fullBox("stsd", 0, 0, u32(1), opusEntry(a));
  return box("trak",
    tkhd(a.trackId, 0x0100, 0, 0),
    box("mdia", mdhd(a.timescale), hdlr("soun", "SoundHandler"),
      box("minf", fullBox("smhd", 0, 0, u16(0), u16(0)), dinf(), emptySampleTables(stsd))));
}

/** "Opus" sample entry with its dOps box (Encapsulation of Opus in ISO BMFF, §4.3). */
function opusEntry(a: InitAudioTrack): Uint8Array {
  if (a.channels < 1 || a.channels > 2) throw new Error("Opus in MP4: channel mapping family 0 allows 1 or 2 channels");
  const dOps = box("dOps", u8(0), u8(a.channels), u16(a.preSkip), u32(a.sampleRate), u16(0), u8(0));
  return box("Opus",
    zeros(6), u16(1),
    zeros(8), u16(a.channels), u16(16), u16(0), u16(0), u32(48000 * 65536),
    dOps);
}

function trexBox(trackId: number): Uint8Array {
  return fullBox("trex", 0, 0, u32(trackId), u32(1), u32(0), u32(0), u32(0));
}
