/**
 * The recording manifest contract: the JSON kept beside each recording's objects, rewritten
 * (atomically) at each init and each closed segment; it never names an object that is not in
 * the store. The recorder writes it; HLS, playback and clips read it. It lives among the ports
 * so that readers (distributor/) need not import the recorder.
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

/** Parses and checks the shape readers rely on; throws on anything else (corrupt, foreign). */
export function parseManifest(buf: Buffer): RecordingManifest {
  const m = JSON.parse(buf.toString("utf8")) as RecordingManifest;
  const ok =
    typeof m === "object" && m !== null &&
    m.version === 1 &&
    typeof m.stream === "string" &&
    typeof m.recordingId === "string" &&
    Number.isFinite(m.startedAt) &&
    (m.endedAt === null || Number.isFinite(m.endedAt)) &&
    typeof m.tags === "object" && m.tags !== null &&
    Array.isArray(m.segments) &&
    Array.isArray(m.inits) &&
    m.segments.every((s) => Number.isFinite(s.startMs) && Number.isFinite(s.durationMs) && Array.isArray(s.parts));
  if (!ok) throw new Error("not a recording manifest");
  return m;
}
