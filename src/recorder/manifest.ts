/** Key layout and pure manifest edits of the recorder; the contract itself is a port. */
export {
  discontinuityOf,
  gapsOf,
  MANIFEST_NAME,
  manifestKey,
  parseManifest,
  recordingPrefix,
  type GapEntry,
  type InitEntry,
  type PartEntry,
  type RecordingManifest,
  type SegmentEntry,
} from "../ports/recording-manifest.js";
import { gapsOf, recordingPrefix, type GapEntry, type RecordingManifest, type SegmentEntry } from "../ports/recording-manifest.js";

export function initKey(stream: string, recordingId: string, index: number): string {
  return `${recordingPrefix(stream, recordingId)}init-${index}.mp4`;
}

export function partKey(stream: string, recordingId: string, seq: number, part: number): string {
  return `${recordingPrefix(stream, recordingId)}${String(seq).padStart(6, "0")}-${String(part).padStart(2, "0")}.m4s`;
}

/** Time-sortable and unique: 20261123T052400123Z-3f9a. */
export function newRecordingId(nowMs: number, random: string): string {
  return `${new Date(nowMs).toISOString().replace(/[-:]/g, "").replace(".", "")}-${random}`;
}

/**
 * The manifest without the given segments, and the object keys that may then go: the segments'
 * parts, and init segments that no remaining segment uses (all of them when none remains).
 */
export function withoutSegments(m: RecordingManifest, seqs: ReadonlySet<number>): { updated: RecordingManifest; keys: string[] } {
  const segments = m.segments.filter((s) => !seqs.has(s.seq));
  const gone = m.segments.filter((s) => seqs.has(s.seq));
  const firstInit = segments.length > 0 ? Math.min(...segments.map((s) => s.init)) : Infinity;
  const inits = m.inits.filter((i) => i.index >= firstInit);
  const keys = [...gone.flatMap((s) => s.parts.map((p) => p.key)), ...m.inits.filter((i) => i.index < firstInit).map((i) => i.key)];
  const gaps = gapsWithin(m, segments);
  return { updated: { ...m, segments, inits, ...(m.gaps ? { gaps } : {}) }, keys };
}

/** The gaps that lie between the first and the last of `segments` (a gap whose end segment went, went with it). */
export function gapsWithin(m: Pick<RecordingManifest, "gaps">, segments: readonly SegmentEntry[]): GapEntry[] {
  const first = segments[0];
  const last = segments[segments.length - 1];
  if (!first || !last) return [];
  return gapsOf(m).filter((g) => g.toMs > first.startMs && g.toMs <= last.startMs);
}

