export interface FragmentSample {
  /** Sample bytes (AVCC for video); several pieces are written back to back, uncopied before. */
  data: Uint8Array | Uint8Array[];
  /** In the track's timescale. */
  duration: number;
  isSync: boolean;
  /** Presentation minus decode time (timescale units, ≥ 0). */
  compositionOffset?: number;
}

export interface FragmentTrack {
  trackId: number;
  /** Decode time of the first sample, in the track's timescale (up to 2^53). */
  baseMediaDecodeTime: number;
  /** Which sample entry of the init segment's stsd decodes these samples (1-based). */
  sampleDescriptionIndex?: number;
  samples: FragmentSample[];
}

export interface FragmentOptions {
  sequenceNumber: number;
  tracks: FragmentTrack[];
}

// trun flags
const DATA_OFFSET = 0x000001;
const SAMPLE_DURATION = 0x000100;
const SAMPLE_SIZE = 0x000200;
const SAMPLE_FLAGS = 0x000400;
const SAMPLE_CTS = 0x000800;
// tfhd flags
const SDI_PRESENT = 0x000002;
const DEFAULT_BASE_IS_MOOF = 0x020000;
// sample flags: sync = depends on no other; non-sync = depends on others, is_non_sync_sample
const FLAGS_SYNC = 0x02000000;
const FLAGS_NON_SYNC = 0x01010000;

function sampleSize(s: FragmentSample): number {
  if (!Array.isArray(s.data)) return s.data.length;
  let n = 0;
  for (const d of s.data) n += d.length;
  return n;
}

/**
 * One `moof` + `mdat` with every track's samples, written into a single buffer whose size is
 * computed first: no intermediate buffers per sample or per box. This runs once per part
 * (~1 s of media) per stream.
 */
export function buildMediaFragment(opts: FragmentOptions): Uint8Array {
  const tracks = opts.tracks.filter((t) => t.samples.length > 0);
  if (tracks.length === 0) throw new Error("a fragment needs at least one sample");
  let moofSize = 8 + 16; // moof header + mfhd
  let mdatPayload = 0;
  const layout = tracks.map((t) => {
    const withCts = t.samples.some((s) => (s.compositionOffset ?? 0) !== 0);
    const perSample = 12 + (withCts ? 4 : 0);
    const tfhdSize = 16 + (t.sampleDescriptionIndex !== undefined ? 4 : 0);
    const trunSize = 20 + perSample * t.samples.length;
    const trafSize = 8 + tfhdSize + 20 + trunSize; // tfdt v1 = 20
    let bytes = 0;
    for (const s of t.samples) bytes += sampleSize(s);
    moofSize += trafSize;
    const dataStart = mdatPayload;
    mdatPayload += bytes;
    return { t, withCts, tfhdSize, trunSize, trafSize, dataStart };
  });
  const total = moofSize + 8 + mdatPayload;
  const buf = new Uint8Array(total);
  const view = new DataView(buf.buffer);
  let o = 0;
  const w32 = (v: number): void => {
    view.setUint32(o, v >>> 0);
    o += 4;
  };
  const type = (s: string): void => {
    for (let i = 0; i < 4; i++) buf[o + i] = s.charCodeAt(i);
    o += 4;
  };

  w32(moofSize);
  type("moof");
  w32(16);
  type("mfhd");
  w32(0);
  w32(opts.sequenceNumber);
  for (const l of layout) {
    const { t } = l;
    w32(l.trafSize);
    type("traf");
    w32(l.tfhdSize);
    type("tfhd");
    w32(DEFAULT_BASE_IS_MOOF | (t.sampleDescriptionIndex !== undefined ? SDI_PRESENT : 0));
    w32(t.trackId);
    if (t.sampleDescriptionIndex !== undefined) w32(t.sampleDescriptionIndex);
    w32(20);
    type("tfdt");
    w32(0x01000000); // version 1: 64-bit time
    w32(Math.floor(t.baseMediaDecodeTime / 2 ** 32));
    w32(t.baseMediaDecodeTime % 2 ** 32);
    w32(l.trunSize);
    type("trun");
    w32(DATA_OFFSET | SAMPLE_DURATION | SAMPLE_SIZE | SAMPLE_FLAGS | (l.withCts ? SAMPLE_CTS : 0));
    w32(t.samples.length);
    w32(moofSize + 8 + l.dataStart); // data offset from the moof's first byte
    for (const s of t.samples) {
      w32(s.duration);
      w32(sampleSize(s));
      w32(s.isSync ? FLAGS_SYNC : FLAGS_NON_SYNC);
      if (l.withCts) w32(s.compositionOffset ?? 0);
    }
  }
  w32(8 + mdatPayload);
  type("mdat");
  for (const l of layout) {
    for (const s of l.t.samples) {
      if (Array.isArray(s.data)) {
        for (const d of s.data) {
          buf.set(d, o);
          o += d.length;
        }
      } else {
        buf.set(s.data, o);
        o += s.data.length;
      }
    }
  }
  return buf;
}
