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
  /** The audio track's RFC 6381 codec ("opus", "mp4a.40.2"); absent: the recording has no audio. */
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
  /**
   * Discontinuity sequence number (HLS): breaks and init changes from the recording's start up
   * to this segment. Absent on older manifests, where only init changes made one: read it as `init`.
   */
  discontinuity?: number;
}

/**
 * A hole in a recording: the publisher's network broke (or its stream had a time hole) and the
 * recording went on after it. Epoch ms on the recording's clock, as segment starts: `fromMs` is
 * the last frame before the break, `toMs` the first frame after (a segment start, at an IDR).
 */
export interface GapEntry {
  fromMs: number;
  toMs: number;
  durationMs: number;
  /** "discontinuity": the stream flagged a break (reconnect, new session, RTP jump); "time-hole": frames just stopped for a while. */
  reason: "discontinuity" | "time-hole";
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
  /** Holes in the recording, oldest first. Absent on manifests written before gaps were listed: read it as []. */
  gaps?: GapEntry[];
}

/** A manifest's gaps (none on manifests older than the field). */
export function gapsOf(m: Pick<RecordingManifest, "gaps">): GapEntry[] {
  return m.gaps ?? [];
}

/** The HLS discontinuity sequence number of a segment (see SegmentEntry.discontinuity). */
export function discontinuityOf(s: Pick<SegmentEntry, "discontinuity" | "init">): number {
  return s.discontinuity ?? s.init;
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
    m.segments.every((s) => Number.isFinite(s.startMs) && Number.isFinite(s.durationMs) && Array.isArray(s.parts)) &&
    (m.gaps === undefined || (Array.isArray(m.gaps) && m.gaps.every((g) => Number.isFinite(g.fromMs) && Number.isFinite(g.toMs))));
  if (!ok) throw new Error("not a recording manifest");
  return m;
}
