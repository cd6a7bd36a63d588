export interface FragmentSample {
  /**
   * Sample bytes (length-prefixed NAL units for H.264). A list of pieces is written back to back,
   * so callers need not concatenate prefixes and payloads first.
   */
  data: Uint8Array | readonly Uint8Array[];
  /** In the track's timescale. */
  duration: number;
  /** A random access point: an IDR picture, or any audio packet. */
  isSync: boolean;
  /** Presentation minus decode time, in the track's timescale; negative values make the trun version 1. */
  compositionOffset?: number;
}

export interface FragmentTrack {
  trackId: number;
  /** Decode time of the first sample, in the track's timescale (an integer up to 2^53). */
  baseMediaDecodeTime: number;
  /** Which sample entry of the init segment's stsd decodes these samples (1-based); trex's default (1) when absent. */
  sampleDescriptionIndex?: number;
  samples: readonly FragmentSample[];
}

export interface FragmentOptions {
  /** mfhd sequence_number: increases by one per fragment of a track. */
  sequenceNumber: number;
  /** Written track after track, in this order, in both the moof and the mdat. Tracks without samples are left out. */
  tracks: readonly FragmentTrack[];
}

// tfhd flags
const TFHD_SDI_PRESENT = 0x000002;
const TFHD_DEFAULT_BASE_IS_MOOF = 0x020000;
// trun flags
const TRUN_DATA_OFFSET = 0x000001;
const TRUN_DURATION = 0x000100;
const TRUN_SIZE = 0x000200;
const TRUN_FLAGS = 0x000400;
const TRUN_CTS = 0x000800;
// sample_flags (ISO/IEC 14496-12 §8.8.3.1). Sync: sample_depends_on = 2 (depends on no other).
// Non-sync: sample_depends_on = 1 and sample_is_non_sync_sample = 1.
const FLAGS_SYNC = 0x02000000;
const FLAGS_NON_SYNC = 0x01010000;

const U32_LIMIT = 2 ** 32;

const code = (s: string): number => ((s.charCodeAt(0) << 24) | (s.charCodeAt(1) << 16) | (s.charCodeAt(2) << 8) | s.charCodeAt(3)) >>> 0;
const MOOF = code("moof");
const MFHD = code("mfhd");
const TRAF = code("traf");
const TFHD = code("tfhd");
const TFDT = code("tfdt");
const TRUN = code("trun");
const MDAT = code("mdat");

function sampleSize(s: FragmentSample): number {
  const d = s.data;
  if (d instanceof Uint8Array) return d.length;
  let n = 0;
  for (const p of d) n += p.length;
  return n;
}

function checkU32(v: number, what: string): void {
  if (!Number.isInteger(v) || v < 0 || v >= U32_LIMIT) throw new RangeError(`${what} must be an integer in [0, 2^32): ${v}`);
}

/**
 * One `moof` + `mdat` holding every given track's samples. This runs once per part (~1 s of
 * media) per stream, so it sizes everything first and writes into a single buffer: no box or
 * sample is copied twice, and nothing is allocated per sample.
 *
 * Samples may start at a non-sync sample: a part in the middle of a GOP is valid on its own in
 * the file, as long as it follows the part before it.
 */
export function buildMediaFragment(opts: FragmentOptions): Uint8Array {
  checkU32(opts.sequenceNumber, "sequenceNumber");
  const n = opts.tracks.length;
  // Per track: 0 = absent, else trun version + 1 with bit 2 set when offsets are written.
  const mode = new Uint8Array(n);
  const dataBytes = new Array<number>(n).fill(0);
  let moofSize = 8 + 16; // moof header + mfhd
  let mdatPayload = 0;
  let present = 0;
  for (let i = 0; i < n; i++) {
    const t = opts.tracks[i] as FragmentTrack;
    if (t.samples.length === 0) continue;
    checkU32(t.trackId, "trackId");
    if (!Number.isSafeInteger(t.baseMediaDecodeTime) || t.baseMediaDecodeTime < 0) {
      throw new RangeError(`baseMediaDecodeTime must be a non-negative safe integer: ${t.baseMediaDecodeTime}`);
    }
    if (t.sampleDescriptionIndex !== undefined) {
      checkU32(t.sampleDescriptionIndex, "sampleDescriptionIndex");
      if (t.sampleDescriptionIndex === 0) throw new RangeError("sampleDescriptionIndex counts from 1");
    }
    let withCts = false;
    let negative = false;
    let bytes = 0;
    for (const s of t.samples) {
      checkU32(s.duration, "sample duration");
      const size = sampleSize(s);
      checkU32(size, "sample size");
      bytes += size;
      const cts = s.compositionOffset ?? 0;
      if (cts !== 0) {
        if (!Number.isInteger(cts) || cts < -(2 ** 31) || cts >= U32_LIMIT) throw new RangeError(`bad composition offset ${cts}`);
        withCts = true;
        if (cts < 0) negative = true;
      }
    }
    if (negative && t.samples.some((s) => (s.compositionOffset ?? 0) >= 2 ** 31)) {
      throw new RangeError("composition offsets mix negative values with values above 2^31");
    }
    mode[i] = (negative ? 2 : 1) | (withCts ? 4 : 0);
    dataBytes[i] = bytes;
    moofSize += trafSize(t, withCts);
    mdatPayload += bytes;
    present++;
  }
  if (present === 0) throw new Error("a fragment needs at least one sample");
  const total = moofSize + 8 + mdatPayload;
  if (total >= U32_LIMIT) throw new RangeError("fragment of 4 GiB or more");

  const buf = new Uint8Array(total);
  const view = new DataView(buf.buffer);
  let o = 0;
  const header = (size: number, type: number): void => {
    view.setUint32(o, size);
    view.setUint32(o + 4, type);
    o += 8;
  };
  const w32 = (v: number): void => {
    view.setUint32(o, v >>> 0);
    o += 4;
  };

  header(moofSize, MOOF);
  header(16, MFHD);
  w32(0);
  w32(opts.sequenceNumber);
  let dataOffset = moofSize + 8; // from the moof's first byte (default-base-is-moof)
  for (let i = 0; i < n; i++) {
    const m = mode[i] as number;
    if (m === 0) continue;
    const t = opts.tracks[i] as FragmentTrack;
    const withCts = (m & 4) !== 0;
    const hasSdi = t.sampleDescriptionIndex !== undefined;
    header(trafSize(t, withCts), TRAF);
    header(hasSdi ? 20 : 16, TFHD);
    w32(TFHD_DEFAULT_BASE_IS_MOOF | (hasSdi ? TFHD_SDI_PRESENT : 0));
    w32(t.trackId);
    if (hasSdi) w32(t.sampleDescriptionIndex as number);
    header(20, TFDT);
    w32(0x01000000); // version 1: 64-bit time
    w32(Math.floor(t.baseMediaDecodeTime / U32_LIMIT));
    w32(t.baseMediaDecodeTime % U32_LIMIT);
    header(trunSize(t.samples.length, withCts), TRUN);
    w32((((m & 3) - 1) << 24) | TRUN_DATA_OFFSET | TRUN_DURATION | TRUN_SIZE | TRUN_FLAGS | (withCts ? TRUN_CTS : 0));
    w32(t.samples.length);
    w32(dataOffset);
    for (const s of t.samples) {
      w32(s.duration);
      w32(sampleSize(s));
      w32(s.isSync ? FLAGS_SYNC : FLAGS_NON_SYNC);
      if (withCts) w32(s.compositionOffset ?? 0); // >>> 0 writes negatives as two's complement
    }
    dataOffset += dataBytes[i] as number;
  }
  header(8 + mdatPayload, MDAT);
  for (let i = 0; i < n; i++) {
    if (mode[i] === 0) continue;
    for (const s of (opts.tracks[i] as FragmentTrack).samples) {
      const d = s.data;
      if (d instanceof Uint8Array) {
        buf.set(d, o);
        o += d.length;
      } else {
        for (const p of d) {
          buf.set(p, o);
          o += p.length;
        }
      }
    }
  }
  return buf;
}

function trunSize(samples: number, withCts: boolean): number {
  return 20 + samples * (withCts ? 16 : 12); // header, flags, count, data_offset; then per sample
}

function trafSize(t: FragmentTrack, withCts: boolean): number {
  const tfhd = t.sampleDescriptionIndex !== undefined ? 20 : 16;
  return 8 + tfhd + 20 /* tfdt v1 */ + trunSize(t.samples.length, withCts);
}
