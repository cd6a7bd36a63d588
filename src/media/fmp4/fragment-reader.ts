import { readBoxes, type BoxInfo } from "./box-reader.js";

export interface FragmentTrackInfo {
  trackId: number;
  baseMediaDecodeTime: number;
  /** From tfhd when it carries one, else undefined (the trex default applies). */
  sampleDescriptionIndex: number | undefined;
  sampleCount: number;
  /** Sum of the sample durations, in the track's timescale (0 when only trex defaults would tell). */
  duration: number;
  /** Bytes of sample data. */
  dataSize: number;
  /** False as well when no flags are written in the fragment (trex defaults are not read). */
  firstSampleIsSync: boolean;
}

export interface FragmentInfo {
  sequenceNumber: number;
  tracks: FragmentTrackInfo[];
}

const NON_SYNC = 0x00010000;

/**
 * Reads the first `moof` of a buffer: its sequence number and, per track, decode time, sample
 * count, duration and whether it starts with a sync sample. For tests and for recovering a
 * recording from the parts it left behind. Throws when there is no moof.
 */
export function readFragment(buf: Uint8Array): FragmentInfo {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const moof = readBoxes(buf).find((b) => b.type === "moof");
  if (!moof) throw new Error("no moof box");
  let sequenceNumber = 0;
  const tracks: FragmentTrackInfo[] = [];
  for (const child of children(buf, moof)) {
    if (child.type === "mfhd") sequenceNumber = view.getUint32(child.offset + 12);
    if (child.type !== "traf") continue;
    const info: FragmentTrackInfo = {
      trackId: 0,
      baseMediaDecodeTime: 0,
      sampleDescriptionIndex: undefined,
      sampleCount: 0,
      duration: 0,
      dataSize: 0,
      firstSampleIsSync: false,
    };
    let defaultDuration = 0;
    let defaultSize = 0;
    let defaultFlags: number | undefined;
    let firstFlags: number | undefined;
    for (const b of children(buf, child)) {
      const p0 = b.offset + b.headerSize;
      const version = buf[p0] as number;
      const flags = view.getUint32(p0) & 0xffffff;
      if (b.type === "tfhd") {
        info.trackId = view.getUint32(p0 + 4);
        let p = p0 + 8;
        if (flags & 0x01) p += 8; // base_data_offset
        if (flags & 0x02) {
          info.sampleDescriptionIndex = view.getUint32(p);
          p += 4;
        }
        if (flags & 0x08) {
          defaultDuration = view.getUint32(p);
          p += 4;
        }
        if (flags & 0x10) {
          defaultSize = view.getUint32(p);
          p += 4;
        }
        if (flags & 0x20) defaultFlags = view.getUint32(p);
      } else if (b.type === "tfdt") {
        info.baseMediaDecodeTime = version === 1 ? view.getUint32(p0 + 4) * 2 ** 32 + view.getUint32(p0 + 8) : view.getUint32(p0 + 4);
      } else if (b.type === "trun") {
        const count = view.getUint32(p0 + 4);
        let p = p0 + 8;
        if (flags & 0x001) p += 4; // data_offset
        let runFirstFlags: number | undefined;
        if (flags & 0x004) {
          runFirstFlags = view.getUint32(p);
          p += 4;
        }
        const perSample = 4 * (((flags >> 8) & 1) + ((flags >> 9) & 1) + ((flags >> 10) & 1) + ((flags >> 11) & 1));
        if (p + count * perSample > b.offset + b.size) throw new Error("trun holds fewer samples than it counts");
        if (!(flags & 0x100)) info.duration += count * defaultDuration;
        if (!(flags & 0x200)) info.dataSize += count * defaultSize;
        for (let i = 0; i < count && perSample > 0; i++) {
          if (flags & 0x100) {
            info.duration += view.getUint32(p);
            p += 4;
          }
          if (flags & 0x200) {
            info.dataSize += view.getUint32(p);
            p += 4;
          }
          if (flags & 0x400) {
            if (i === 0 && runFirstFlags === undefined) runFirstFlags = view.getUint32(p);
            p += 4;
          }
          if (flags & 0x800) p += 4;
        }
        if (info.sampleCount === 0 && count > 0) firstFlags = runFirstFlags ?? defaultFlags;
        info.sampleCount += count;
      }
    }
    info.firstSampleIsSync = firstFlags !== undefined && (firstFlags & NON_SYNC) === 0;
    tracks.push(info);
  }
  return { sequenceNumber, tracks };
}

function children(buf: Uint8Array, parent: BoxInfo): BoxInfo[] {
  return readBoxes(buf, parent.offset + parent.headerSize, parent.offset + parent.size);
}
