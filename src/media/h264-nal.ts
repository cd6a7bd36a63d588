/** H.264 NAL unit helpers: types, Annex-B and AVCC framing. */

/** NAL unit types (ITU-T H.264 table 7-1) and the RTP payload structures of RFC 6184. */
export const NAL_TYPE = {
  NON_IDR: 1,
  IDR: 5,
  SEI: 6,
  SPS: 7,
  PPS: 8,
  AUD: 9,
  END_OF_SEQUENCE: 10,
  END_OF_STREAM: 11,
  FILLER: 12,
  STAP_A: 24,
  STAP_B: 25,
  MTAP16: 26,
  MTAP24: 27,
  FU_A: 28,
  FU_B: 29,
} as const;

/** The NAL unit type (low 5 bits of the header byte); 0 for an empty unit. */
export function nalType(nal: Uint8Array): number {
  return (nal[0] ?? 0) & 0x1f;
}

/**
 * Splits an Annex-B byte stream (3- or 4-byte start codes) into NAL units, without copying:
 * the results are views of `buf`. Bytes before the first start code are ignored, as are the
 * zero bytes between a NAL unit and the next start code (a NAL unit never ends in 0x00).
 */
export function splitAnnexB(buf: Uint8Array): Uint8Array[] {
  const out: Uint8Array[] = [];
  const n = buf.length;
  let start = -1;
  let i = 0;
  const push = (end: number): void => {
    while (end > start && buf[end - 1] === 0) end--;
    if (end > start) out.push(buf.subarray(start, end));
  };
  while (i + 2 < n) {
    // Skip fast: a start code needs buf[i+2] === 1 and buf[i+1] === 0.
    const b2 = buf[i + 2] as number;
    if (b2 > 1) {
      i += 3;
    } else if (b2 === 1 && buf[i + 1] === 0 && buf[i] === 0) {
      if (start >= 0) push(i);
      i += 3;
      start = i;
    } else {
      i++;
    }
  }
  if (start >= 0) push(n);
  return out;
}

/** NAL units with 4-byte start codes, in one allocation. */
export function toAnnexB(nalus: readonly Uint8Array[]): Buffer {
  return withPrefixes(nalus, false);
}

/** NAL units with 4-byte big-endian length prefixes (MP4 sample format), in one allocation. */
export function toAvcc(nalus: readonly Uint8Array[]): Buffer {
  return withPrefixes(nalus, true);
}

function withPrefixes(nalus: readonly Uint8Array[], lengths: boolean): Buffer {
  let size = 0;
  for (const n of nalus) size += 4 + n.length;
  const out = Buffer.allocUnsafe(size);
  let o = 0;
  for (const n of nalus) {
    out.writeUInt32BE(lengths ? n.length : 1, o);
    out.set(n, o + 4);
    o += 4 + n.length;
  }
  return out;
}
