import { readBoxes, type BoxInfo } from "./box-reader.js";

export interface FragmentTrackPatch {
  trackId: number;
  /** New tfdt time, in the track's timescale. */
  baseMediaDecodeTime?: number;
  /** New tfhd sample_description_index; the tfhd must already carry one (sizes never change). */
  sampleDescriptionIndex?: number;
}

export interface FragmentPatch {
  sequenceNumber?: number;
  tracks?: readonly FragmentTrackPatch[];
}

/**
 * Rewrites fixed-size fields of a fragment's first `moof` in place: its sequence number, and per
 * track its decode time and sample description index. Playback uses this to stitch parts from
 * different recordings (or init segments) into one timeline without rebuilding them. Throws, having
 * changed nothing, when a track or a field is missing or a value does not fit.
 */
export function patchFragment(buf: Uint8Array, patch: FragmentPatch): void {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const moof = readBoxes(buf).find((b) => b.type === "moof");
  if (!moof) throw new Error("no moof box");
  const writes: (() => void)[] = [];
  const kids = children(buf, moof);
  if (patch.sequenceNumber !== undefined) {
    const seq = patch.sequenceNumber;
    checkU32(seq, "sequenceNumber");
    const mfhd = kids.find((b) => b.type === "mfhd");
    if (!mfhd) throw new Error("moof without mfhd");
    writes.push(() => view.setUint32(mfhd.offset + mfhd.headerSize + 4, seq));
  }
  for (const tp of patch.tracks ?? []) {
    const traf = kids.find((b) => b.type === "traf" && trafTrackId(view, buf, b) === tp.trackId);
    if (!traf) throw new Error(`no traf for track ${tp.trackId}`);
    const boxes = children(buf, traf);
    if (tp.baseMediaDecodeTime !== undefined) {
      const t = tp.baseMediaDecodeTime;
      if (!Number.isSafeInteger(t) || t < 0) throw new RangeError(`bad baseMediaDecodeTime ${t}`);
      const tfdt = boxes.find((b) => b.type === "tfdt");
      if (!tfdt) throw new Error(`track ${tp.trackId} has no tfdt`);
      const p = tfdt.offset + tfdt.headerSize;
      if (buf[p] === 1) {
        writes.push(() => {
          view.setUint32(p + 4, Math.floor(t / 2 ** 32));
          view.setUint32(p + 8, t % 2 ** 32);
        });
      } else {
        if (t >= 2 ** 32) throw new RangeError(`track ${tp.trackId}: a version 0 tfdt holds 32 bits only`);
        writes.push(() => view.setUint32(p + 4, t));
      }
    }
    if (tp.sampleDescriptionIndex !== undefined) {
      const sdi = tp.sampleDescriptionIndex;
      checkU32(sdi, "sampleDescriptionIndex");
      if (sdi === 0) throw new RangeError("sampleDescriptionIndex counts from 1");
      const tfhd = boxes.find((b) => b.type === "tfhd");
      if (!tfhd) throw new Error(`track ${tp.trackId} has no tfhd`);
      const p = tfhd.offset + tfhd.headerSize;
      const flags = view.getUint32(p) & 0xffffff;
      if (!(flags & 0x02)) throw new Error(`track ${tp.trackId}: tfhd has no sample_description_index to patch`);
      writes.push(() => view.setUint32(p + 8 + (flags & 0x01 ? 8 : 0), sdi));
    }
  }
  for (const w of writes) w();
}

function children(buf: Uint8Array, parent: BoxInfo): BoxInfo[] {
  return readBoxes(buf, parent.offset + parent.headerSize, parent.offset + parent.size);
}

function trafTrackId(view: DataView, buf: Uint8Array, traf: BoxInfo): number | undefined {
  const tfhd = children(buf, traf).find((b) => b.type === "tfhd");
  return tfhd ? view.getUint32(tfhd.offset + tfhd.headerSize + 4) : undefined;
}

function checkU32(v: number, what: string): void {
  if (!Number.isInteger(v) || v < 0 || v >= 2 ** 32) throw new RangeError(`${what} must be an integer in [0, 2^32): ${v}`);
}
