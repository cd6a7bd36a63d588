/**
 * The file names HLS clients see under `/hls/{stream}/{recordingId}/`. They mirror the
 * recorder's object names (init-{n}.mp4, {seq:06}-{part:02}.m4s) plus `{seq:06}.m4s` for a whole
 * segment, and are parsed strictly: a name resolves to manifest entries, never to a store key
 * built from client text, so nothing outside the recording can be reached.
 */

export type MediaName =
  | { kind: "init"; index: number }
  | { kind: "segment"; seq: number }
  | { kind: "part"; seq: number; part: number };

/** Recording ids are `20261123T054000123Z-3f9a`; any id of this shape is looked up, none other. */
export const RECORDING_ID = /^[A-Za-z0-9_-]{1,64}$/;

const INIT = /^init-(0|[1-9][0-9]{0,8})\.mp4$/;
const SEGMENT = /^([0-9]{6,9})\.m4s$/;
const PART = /^([0-9]{6,9})-([0-9]{2,4})\.m4s$/;

export function initFileName(index: number): string {
  return `init-${index}.mp4`;
}

export function segmentFileName(seq: number): string {
  return `${String(seq).padStart(6, "0")}.m4s`;
}

export function partFileName(seq: number, part: number): string {
  return `${String(seq).padStart(6, "0")}-${String(part).padStart(2, "0")}.m4s`;
}

/** The media a file name denotes, or undefined when it is not one of ours in canonical form. */
export function parseMediaName(file: string): MediaName | undefined {
  let m = INIT.exec(file);
  if (m) return { kind: "init", index: Number(m[1]) };
  m = SEGMENT.exec(file);
  if (m) {
    const seq = Number(m[1]);
    // One spelling per segment (000007.m4s, not 0000007.m4s): caches and leases see one name.
    return segmentFileName(seq) === file ? { kind: "segment", seq } : undefined;
  }
  m = PART.exec(file);
  if (m) {
    const seq = Number(m[1]);
    const part = Number(m[2]);
    return partFileName(seq, part) === file ? { kind: "part", seq, part } : undefined;
  }
  return undefined;
}
