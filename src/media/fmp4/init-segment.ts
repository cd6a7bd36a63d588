import { buildAvcC } from "./avc-decoder-config.js";
import { box, concat, fourcc, fullBox, u16, u32, u8, zeros } from "./box.js";

/** One H.264 configuration: parameter sets without start codes, and its display size. */
export interface VideoSampleEntry {
  sps: Uint8Array[];
  pps: Uint8Array[];
  width: number;
  height: number;
}

interface TrackBase {
  trackId: number;
  /** Ticks per second of the track's media time (90000 for RTP video). */
  timescale: number;
}

/**
 * A video track with one configuration, or with several (`entries`): fragments pick one by
 * sample_description_index 1..n, so spans recorded across a resolution change share one init.
 */
export type InitVideoTrack = TrackBase & ({ entries: VideoSampleEntry[] } | VideoSampleEntry);

export type InitAudioTrack = InitOpusTrack | InitAacTrack;

export interface InitOpusTrack extends TrackBase {
  codec: "opus";
  channels: number;
  /** The encoder's input rate, informative only: Opus always decodes at 48 kHz. */
  sampleRate: number;
  /** Samples (48 kHz) the decoder discards at the start (RFC 7845 pre-skip). */
  preSkip: number;
  /** Q7.8 dB gain to apply on output; 0 unless told otherwise. */
  outputGain?: number;
}

/** AAC: the timescale should be the sample rate, so each AU lasts its 1024 (or 960) samples. */
export interface InitAacTrack extends TrackBase {
  codec: "aac";
  channels: number;
  /** Output sample rate (Hz), written in the sample entry. */
  sampleRate: number;
  /** AudioSpecificConfig (ISO 14496-3 §1.6.2.1), the esds DecoderSpecificInfo. */
  config: Uint8Array;
}

export interface InitOptions {
  video?: InitVideoTrack;
  audio?: InitAudioTrack;
}

const MATRIX = concat([u32(0x00010000), u32(0), u32(0), u32(0), u32(0x00010000), u32(0), u32(0), u32(0), u32(0x40000000)]);

function videoEntries(v: InitVideoTrack): VideoSampleEntry[] {
  return "entries" in v ? v.entries : [v];
}

/**
 * `ftyp` + `moov` for fragmented MP4: empty sample tables, every sample lives in fragments.
 * Either track may be absent, not both.
 */
export function buildInitSegment(opts: InitOptions): Uint8Array {
  const { video, audio } = opts;
  if (!video && !audio) throw new Error("an init segment needs at least one track");
  if (video && audio && video.trackId === audio.trackId) throw new Error("tracks need distinct ids");
  const tracks: TrackBase[] = [];
  if (video) tracks.push(video);
  if (audio) tracks.push(audio);
  for (const t of tracks) {
    if (!Number.isInteger(t.trackId) || t.trackId < 1 || t.trackId >= 2 ** 32 - 1) throw new Error(`bad track id ${t.trackId}`);
    if (!Number.isInteger(t.timescale) || t.timescale < 1 || t.timescale >= 2 ** 32) throw new Error(`bad timescale ${t.timescale}`);
  }
  const traks = [...(video ? [videoTrak(video)] : []), ...(audio ? [audioTrak(audio)] : [])];
  const trex = tracks.map((t) => fullBox("trex", 0, 0, u32(t.trackId), u32(1), u32(0), u32(0), u32(0)));
  const nextTrackId = Math.max(...tracks.map((t) => t.trackId)) + 1;
  // CMAF (cmfc) allows one track per file and one sample entry per track; claim it only then.
  const single = traks.length === 1 && (!video || videoEntries(video).length === 1);
  const brands = ["iso6", "mp41", "dash", ...(video ? ["avc1"] : []), ...(single ? ["cmfc"] : [])];
  const ftyp = box("ftyp", fourcc("iso6"), u32(0), ...brands.map(fourcc));
  const mvhd = fullBox("mvhd", 0, 0,
    u32(0), u32(0), u32(1000), u32(0), // creation, modification, timescale, duration (unknown: fragmented)
    u32(0x00010000), u16(0x0100), zeros(10), MATRIX, zeros(24), u32(nextTrackId));
  return concat([ftyp, box("moov", mvhd, ...traks, box("mvex", ...trex))]);
}

function tkhd(trackId: number, volume: number, width: number, height: number): Uint8Array {
  return fullBox("tkhd", 0, 0x000003, // enabled, in movie
    u32(0), u32(0), u32(trackId), u32(0), u32(0), // creation, modification, id, reserved, duration
    zeros(8), u16(0), u16(0), u16(volume), u16(0), MATRIX, u32(width * 65536), u32(height * 65536));
}

function mdia(timescale: number, handler: string, name: string, header: Uint8Array, stsd: Uint8Array): Uint8Array {
  const mdhd = fullBox("mdhd", 0, 0, u32(0), u32(0), u32(timescale), u32(0), u16(0x55c4) /* "und" */, u16(0));
  const hdlr = fullBox("hdlr", 0, 0, u32(0), fourcc(handler), zeros(12), new TextEncoder().encode(`${name}\0`));
  const dinf = box("dinf", fullBox("dref", 0, 0, u32(1), fullBox("url ", 0, 1 /* media in this file */)));
  const stbl = box("stbl", stsd,
    fullBox("stts", 0, 0, u32(0)),
    fullBox("stsc", 0, 0, u32(0)),
    fullBox("stsz", 0, 0, u32(0), u32(0)),
    fullBox("stco", 0, 0, u32(0)));
  return box("mdia", mdhd, hdlr, box("minf", header, dinf, stbl));
}

function videoTrak(v: InitVideoTrack): Uint8Array {
  const entries = videoEntries(v);
  if (entries.length === 0) throw new Error("a video track needs at least one sample entry");
  for (const e of entries) {
    if (!(e.width > 0 && e.width < 65536 && e.height > 0 && e.height < 65536)) throw new Error(`bad video size ${e.width}x${e.height}`);
  }
  // The track's display size is the largest: players size their surface from tkhd once.
  const width = Math.max(...entries.map((e) => e.width));
  const height = Math.max(...entries.map((e) => e.height));
  const stsd = fullBox("stsd", 0, 0, u32(entries.length), ...entries.map(avc1));
  const vmhd = fullBox("vmhd", 0, 1, u16(0), u16(0), u16(0), u16(0));
  return box("trak", tkhd(v.trackId, 0, width, height), mdia(v.timescale, "vide", "VideoHandler", vmhd, stsd));
}

function avc1(e: VideoSampleEntry): Uint8Array {
  return box("avc1",
    zeros(6), u16(1), // reserved, data_reference_index
    u16(0), u16(0), zeros(12), u16(e.width), u16(e.height),
    u32(0x00480000), u32(0x00480000), u32(0), u16(1), // 72 dpi, reserved, frame_count
    zeros(32), u16(0x0018), u16(0xffff), // compressorname, depth, pre_defined = -1
    buildAvcC(e.sps, e.pps));
}

function audioTrak(a: InitAudioTrack): Uint8Array {
  const smhd = fullBox("smhd", 0, 0, u16(0), u16(0));
  const stsd = fullBox("stsd", 0, 0, u32(1), a.codec === "aac" ? mp4aEntry(a) : opusEntry(a));
  return box("trak", tkhd(a.trackId, 0x0100, 0, 0), mdia(a.timescale, "soun", "SoundHandler", smhd, stsd));
}

/** "Opus" sample entry with its dOps box ("Encapsulation of Opus in ISO Base Media File Format" §4.3). */
function opusEntry(a: InitOpusTrack): Uint8Array {
  if ((a.codec as string) !== "opus") throw new Error(`unsupported audio codec ${String(a.codec)}`);
  if (a.channels !== 1 && a.channels !== 2) throw new Error("Opus in MP4: channel mapping family 0 allows 1 or 2 channels");
  if (!Number.isInteger(a.preSkip) || a.preSkip < 0 || a.preSkip > 0xffff) throw new Error(`bad Opus pre-skip ${a.preSkip}`);
  const dOps = box("dOps",
    u8(0), u8(a.channels), u16(a.preSkip), u32(a.sampleRate), u16(a.outputGain ?? 0),
    u8(0)); // ChannelMappingFamily 0: mono or stereo, no mapping table
  return box("Opus",
    zeros(6), u16(1), // reserved, data_reference_index
    zeros(8), u16(a.channels), u16(16), u16(0), u16(0), u32(48000 * 65536), // samplerate fixed at 48000 by the spec
    dOps);
}

/** "mp4a" sample entry with its esds box (ISO 14496-14 §5.6; descriptors from ISO 14496-1 §7.2.6). */
function mp4aEntry(a: InitAacTrack): Uint8Array {
  if (!Number.isInteger(a.channels) || a.channels < 1 || a.channels > 0xffff) throw new Error(`bad AAC channel count ${a.channels}`);
  if (!Number.isInteger(a.sampleRate) || a.sampleRate < 1) throw new Error(`bad AAC sample rate ${a.sampleRate}`);
  if (a.config.length === 0) throw new Error("AAC needs its AudioSpecificConfig");
  const decoderConfig = descriptor(0x04, // DecoderConfigDescriptor
    u8(0x40), // objectTypeIndication: MPEG-4 Audio
    u8((0x05 << 2) | 1), // streamType 5 (audio), upStream 0, reserved 1
    zeros(3), u32(0), u32(0), // bufferSizeDB, maxBitrate, avgBitrate: unknown, not required
    descriptor(0x05, a.config)); // DecoderSpecificInfo
  const es = descriptor(0x03, // ES_Descriptor
    u16(0), u8(0), // ES_ID (0 in MP4 files), no dependency/URL/OCR flags
    decoderConfig,
    descriptor(0x06, u8(0x02))); // SLConfigDescriptor: predefined 2 (MP4)
  return box("mp4a",
    zeros(6), u16(1), // reserved, data_reference_index
    zeros(8), u16(a.channels), u16(16), u16(0), u16(0),
    // 16.16 fixed point: rates past 65535 Hz do not fit; decoders take the rate from the config.
    u32(a.sampleRate < 65536 ? a.sampleRate * 65536 : 0),
    fullBox("esds", 0, 0, es));
}

/** An MPEG-4 descriptor: tag, size in the expandable 7-bit-per-byte form, payload. */
function descriptor(tag: number, ...parts: Uint8Array[]): Uint8Array {
  const body = concat(parts);
  const size: number[] = [body.length & 0x7f];
  for (let n = body.length >>> 7; n > 0; n >>>= 7) size.unshift(0x80 | (n & 0x7f));
  return concat([u8(tag), Uint8Array.from(size), body]);
}
