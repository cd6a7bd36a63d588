export interface BoxInfo {
  type: string;
  offset: number;
  size: number;
}

/** Top-level (or, given a range, child) boxes of an ISO BMFF buffer. Stops at a truncated box. */
export function readBoxes(buf: Uint8Array, start = 0, end = buf.length): BoxInfo[] {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const out: BoxInfo[] = [];
  let o = start;
  while (o + 8 <= end) {
    let size = view.getUint32(o);
    const type = String.fromCharCode(buf[o + 4] as number, buf[o + 5] as number, buf[o + 6] as number, buf[o + 7] as number);
    if (size === 1 && o + 16 <= end) size = Number(view.getBigUint64(o + 8));
    else if (size === 0) size = end - o;
    if (size < 8 || o + size > end) break;
    out.push({ type, offset: o, size });
    o += size;
  }
  return out;
}

export interface FragmentTrackInfo {
  trackId: number;
  baseMediaDecodeTime: number;
  sampleCount: number;
  duration: number;
  firstSampleIsSync: boolean;
}

/** Reads a moof's sequence number and, per track, its decode time, sample count and duration. */
export function readFragment(buf: Uint8Array): { sequenceNumber: number; tracks: FragmentTrackInfo[] } {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const moof = readBoxes(buf).find((b) => b.type === "moof");
  if (!moof) throw new Error("no moof box");
  let sequenceNumber = 0;
  const tracks: FragmentTrackInfo[] = [];
  for (const child of readBoxes(buf, moof.offset + 8, moof.offset + moof.size)) {
    if (child.type === "mfhd") sequenceNumber = view.getUint32(child.offset + 12);
    if (child.type !== "traf") continue;
    const info: FragmentTrackInfo = { trackId: 0, baseMediaDecodeTime: 0, sampleCount: 0, duration: 0, firstSampleIsSync: false };
    for (const b of readBoxes(buf, child.offset + 8, child.offset + child.size)) {
      const flags = view.getUint32(b.offset + 8) & 0xffffff;
      const version = buf[b.offset + 8] as number;
      if (b.type === "tfhd") info.trackId = view.getUint32(b.offset + 12);
      else if (b.type === "tfdt") {
        info.baseMediaDecodeTime = version === 1 ? view.getUint32(b.offset + 12) * 2 ** 32 + view.getUint32(b.offset + 16) : view.getUint32(b.offset + 12);
      } else if (b.type === "trun") {
        info.sampleCount = view.getUint32(b.offset + 12);
        let p = b.offset + 16;
        if (flags & 0x1) p += 4;
        let firstFlags: number | undefined;
        if (flags & 0x4) {
          firstFlags = view.getUint32(p);
          p += 4;
        }
        for (let i = 0; i < info.sampleCount; i++) {
          if (flags & 0x100) {
            info.duration += view.getUint32(p);
            p += 4;
          }
          if (flags & 0x200) p += 4;
          if (flags & 0x400) {
            if (i === 0 && firstFlags === undefined) firstFlags = view.getUint32(p);
            p += 4;
          }
          if (flags & 0x800) p += 4;
        }
        info.firstSampleIsSync = firstFlags !== undefined && (firstFlags & 0x00010000) === 0;
      }
    }
    tracks.push(info);
  }
  return { sequenceNumber, tracks };
}
