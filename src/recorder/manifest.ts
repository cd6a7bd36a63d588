/**
 * The JSON manifest kept beside each recording's objects, rewritten (atomically) at each init
 * and each closed segment. It never names an object that is not in the store.
 */

export interface InitEntry {
  index: number;
  key: string;
  codec: string;
  width: number;
  height: number;
  audio?: string;
}

export interface PartEntry {
  key: string;
  durationMs: number;
  bytes: number;
  /** Starts with an IDR frame (decodable on its own). */
  independent: boolean;
}

export interface SegmentEntry {
  seq: number;
  /** `InitEntry.index` (not array position) of the init written for its SPS (IDR samples also carry SPS/PPS in-band). */
  init: number;
  /** Wall clock of the segment's first frame, epoch ms (publisher's clock via RTCP SR when sent). */
  startMs: number;
  /** Decode time of the first video frame, 90 kHz, from the recording's start. */
  startDts: number;
  durationMs: number;
  bytes: number;
  keyframe: boolean;
  complete: boolean;
  parts: PartEntry[];
}

export interface RecordingManifest {
  version: 1;
  stream: string;
  recordingId: string;
  startedAt: number;
  endedAt: number | null;
  tags: Record<string, string>;
  inits: InitEntry[];
  segments: SegmentEntry[];
}

export const MANIFEST_NAME = "manifest.json";

export function recordingPrefix(stream: string, recordingId: string): string {
  return `${stream}/${recordingId}/`;
}

export function manifestKey(stream: string, recordingId: string): string {
  return `${recordingPrefix(stream, recordingId)}${MANIFEST_NAME}`;
}

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

export function parseManifest(buf: Buffer): RecordingManifest {
  const m = JSON.parse(buf.toString("utf8")) as RecordingManifest;
  if (m.version !== 1 || !Array.isArray(m.segments) || !Array.isArray(m.inits)) throw new Error("not a recording manifest");
  return m;
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
  return { updated: { ...m, segments, inits }, keys };
}
