export interface BoxInfo {
  type: string;
  /** Where the box starts (its size field), from the start of the buffer. */
  offset: number;
  /** The whole box, header included. */
  size: number;
  /** Header length: 8, or 16 with a 64-bit largesize. The payload starts at offset + headerSize. */
  headerSize: number;
}

/**
 * The boxes of an ISO BMFF buffer at one level: top-level by default, or the children in
 * [start, end) of a container box. Stops at the first truncated or malformed box, so a file
 * cut short by a crash yields the boxes that are whole.
 */
export function readBoxes(buf: Uint8Array, start = 0, end = buf.length): BoxInfo[] {
  const view = new DataView(buf.buffer, buf.byteOffset, buf.byteLength);
  const out: BoxInfo[] = [];
  let o = start;
  while (o + 8 <= end) {
    let size = view.getUint32(o);
    let headerSize = 8;
    const type = String.fromCharCode(buf[o + 4] as number, buf[o + 5] as number, buf[o + 6] as number, buf[o + 7] as number);
    if (size === 1) {
      if (o + 16 > end) break;
      size = Number(view.getBigUint64(o + 8));
      headerSize = 16;
    } else if (size === 0) {
      size = end - o; // extends to the end of the file
    }
    if (size < headerSize || o + size > end) break;
    out.push({ type, offset: o, size, headerSize });
    o += size;
  }
  return out;
}
