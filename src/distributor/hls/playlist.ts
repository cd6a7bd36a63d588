import { discontinuityOf, type RecordingManifest, type SegmentEntry } from "../../ports/recording-manifest.js";
import { initFileName, partFileName, segmentFileName } from "./media-names.js";

/**
 * HLS media playlists (RFC 8216bis, with the Low-Latency HLS tags) rendered from a recording
 * manifest: the recorder's own parts and segments are the media, nothing is muxed again. Pure.
 *
 * A gap in the recording (a network break) is marked with EXT-X-DISCONTINUITY and the next
 * segment's own PROGRAM-DATE-TIME, not with EXT-X-GAP segments: a gap segment needs a URI and
 * a media sequence number of its own (ours are the recorder's segment numbers), and gaps
 * longer than the target duration would need several of them; hls.js plays across a
 * discontinuity by re-basing its timeline, while a GAP segment only makes it skip a buffer hole.
 * URIs are relative to `/hls/{stream}/`: `{recordingId}/{file}`.
 */

export interface PlaylistTargets {
  /**
   * The recorder's segment duration (ms). EXT-X-TARGETDURATION never goes below it, so it stays
   * steady from one reload to the next; a longer segment (late IDR) raises it.
   */
  segmentTargetMs: number;
  /** The recorder's part duration (ms): PART-TARGET never goes below it. */
  partTargetMs: number;
}

export interface LivePlaylistOptions extends PlaylistTargets {
  /** Complete segments in the sliding window (the open segment comes on top). */
  windowSegments: number;
  /** The last this-many complete segments of the window list their parts too (LL-HLS). */
  partSegments: number;
}

/** PART-HOLD-BACK in part targets; the spec asks for at least 2, and recommends 3. */
export const PART_HOLD_BACK_PARTS = 3;

/** The part a client should ask for next (EXT-X-PRELOAD-HINT), or undefined once the recording ended. */
export function nextPart(m: RecordingManifest): { seq: number; part: number } | undefined {
  if (m.endedAt !== null) return undefined;
  const last = lastSegment(m);
  if (!last) return { seq: 0, part: 0 };
  return last.complete ? { seq: last.seq + 1, part: 0 } : { seq: last.seq, part: last.parts.length };
}

/** PART-TARGET in ms of what a live playlist of this manifest lists (whole ms, never below the configured part duration). */
export function partTargetMs(m: RecordingManifest, opts: LivePlaylistOptions): number {
  const { withParts } = liveWindow(m, opts);
  return Math.ceil(Math.max(opts.partTargetMs, ...withParts.flatMap((s) => s.parts.map((p) => p.durationMs))));
}

/** Whether a live playlist can be rendered: at least one part is stored. */
export function hasMedia(m: RecordingManifest): boolean {
  return m.segments.some((s) => s.parts.length > 0);
}

/**
 * The live (LL-HLS) media playlist: the last `windowSegments` complete segments, the parts of
 * the last `partSegments` of them and of the open segment, and a preload hint for the next part.
 * A recording that ended gets EXT-X-ENDLIST instead of the hint.
 */
export function renderLivePlaylist(m: RecordingManifest, opts: LivePlaylistOptions): string {
  const { listed, withParts } = liveWindow(m, opts);
  const first = listed[0];
  if (!first) throw new RangeError(`recording ${m.recordingId} has no media yet`);
  const partTarget = partTargetMs(m, opts);
  const lines = [
    "#EXTM3U",
    "#EXT-X-VERSION:9",
    `#EXT-X-TARGETDURATION:${targetDuration(listed.filter((s) => s.complete), opts.segmentTargetMs)}`,
    `#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=${seconds(PART_HOLD_BACK_PARTS * partTarget)}`,
    `#EXT-X-PART-INF:PART-TARGET=${seconds(partTarget)}`,
    `#EXT-X-MEDIA-SEQUENCE:${first.seq}`,
    // Each segment carries the count of discontinuities (breaks and init changes) before it, so
    // the sequence stays right whatever slid out of the window or retention removed.
    ...(discontinuityOf(first) > 0 ? [`#EXT-X-DISCONTINUITY-SEQUENCE:${discontinuityOf(first)}`] : []),
    "#EXT-X-INDEPENDENT-SEGMENTS",
    ...segmentLines(m.recordingId, listed, new Set(withParts)),
  ];
  const hint = nextPart(m);
  if (hint) lines.push(`#EXT-X-PRELOAD-HINT:TYPE=PART,URI="${m.recordingId}/${partFileName(hint.seq, hint.part)}"`);
  else lines.push("#EXT-X-ENDLIST");
  return lines.join("\n") + "\n";
}

/** A VOD playlist of the given complete segments of one recording. */
export function renderVodPlaylist(m: RecordingManifest, segments: readonly SegmentEntry[]): string {
  const first = segments[0];
  if (!first) throw new RangeError("a VOD playlist needs at least one segment");
  return [
    "#EXTM3U",
    // EXT-X-MAP outside I-frame playlists needs version 6; nothing here needs more.
    "#EXT-X-VERSION:6",
    `#EXT-X-TARGETDURATION:${targetDuration(segments, 0)}`,
    "#EXT-X-PLAYLIST-TYPE:VOD",
    `#EXT-X-MEDIA-SEQUENCE:${first.seq}`,
    ...(discontinuityOf(first) > 0 ? [`#EXT-X-DISCONTINUITY-SEQUENCE:${discontinuityOf(first)}`] : []),
    "#EXT-X-INDEPENDENT-SEGMENTS",
    ...segmentLines(m.recordingId, segments, new Set()),
    "#EXT-X-ENDLIST",
  ].join("\n") + "\n";
}

function lastSegment(m: RecordingManifest): SegmentEntry | undefined {
  const withMedia = m.segments.filter((s) => s.parts.length > 0);
  return withMedia[withMedia.length - 1];
}

function liveWindow(m: RecordingManifest, opts: LivePlaylistOptions): { listed: SegmentEntry[]; withParts: SegmentEntry[] } {
  const segs = m.segments.filter((s) => s.parts.length > 0);
  const last = segs[segs.length - 1];
  const open = last && !last.complete ? last : undefined;
  const complete = segs.filter((s) => s.complete);
  const window = complete.slice(-opts.windowSegments);
  const partful = opts.partSegments > 0 ? window.slice(-opts.partSegments) : [];
  return { listed: open ? [...window, open] : window, withParts: open ? [...partful, open] : partful };
}

/** Whole seconds, at least the floor and at least every listed segment's duration (rounded up). */
function targetDuration(complete: readonly SegmentEntry[], floorMs: number): number {
  return Math.max(1, Math.ceil(floorMs / 1000), ...complete.map((s) => Math.ceil(s.durationMs / 1000)));
}

function segmentLines(recordingId: string, segments: readonly SegmentEntry[], withParts: ReadonlySet<SegmentEntry>): string[] {
  const lines: string[] = [];
  let prev: SegmentEntry | undefined;
  for (const s of segments) {
    // A new SPS (resolution step) or a break in the stream (the publisher's network dropped):
    // players reset their decoder and take the timestamps after it as a new timeline, which
    // the segment's PROGRAM-DATE-TIME places at its real time.
    if (prev && (discontinuityOf(prev) !== discontinuityOf(s) || prev.init !== s.init)) lines.push("#EXT-X-DISCONTINUITY");
    if (!prev || prev.init !== s.init) lines.push(`#EXT-X-MAP:URI="${recordingId}/${initFileName(s.init)}"`);
    lines.push(`#EXT-X-PROGRAM-DATE-TIME:${new Date(s.startMs).toISOString()}`);
    if (withParts.has(s)) {
      s.parts.forEach((p, i) => {
        lines.push(`#EXT-X-PART:DURATION=${seconds(p.durationMs)},URI="${recordingId}/${partFileName(s.seq, i)}"${p.independent ? ",INDEPENDENT=YES" : ""}`);
      });
    }
    if (s.complete) lines.push(`#EXTINF:${seconds(s.durationMs)},`, `${recordingId}/${segmentFileName(s.seq)}`);
    prev = s;
  }
  return lines;
}

function seconds(ms: number): string {
  return (ms / 1000).toFixed(3);
}
