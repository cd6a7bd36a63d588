import { BadRequestError } from "../../errors.js";
import type { PartEntry, RecordingManifest, SegmentEntry } from "../../ports/recording-manifest.js";

/**
 * LL-HLS blocking playlist reload and preload-hinted parts (RFC 8216bis §6.2.5.2): when a
 * request can be answered, when it must wait for the recorder, and when what it asks for is
 * too far ahead to come in time or can never come. Pure; the waiting is done by the routes.
 */

export interface BlockingRequest {
  /** `_HLS_msn`: the media sequence number (the recorder's segment seq) to wait for. */
  msn: number;
  /** `_HLS_part`: the part of that segment to wait for (0-based). */
  part?: number;
}

export type BlockingVerdict = "ready" | "wait" | "too-far";

export type PartVerdict = { state: "stored"; segment: SegmentEntry; entry: PartEntry } | { state: "pending" } | { state: "gone" };

const DIRECTIVE = /^(0|[1-9][0-9]{0,8})$/;
/** How many segments past the last complete one a `_HLS_msn` may ask for (the spec's "plus two"). */
export const MAX_MSN_AHEAD = 2;

/** Reads `_HLS_msn`/`_HLS_part`; undefined when the request does not block. Throws 400 for malformed values. */
export function parseBlockingRequest(query: { _HLS_msn?: string | undefined; _HLS_part?: string | undefined }): BlockingRequest | undefined {
  const { _HLS_msn: msn, _HLS_part: part } = query;
  if (msn === undefined) {
    if (part !== undefined) throw new BadRequestError("_HLS_part requires _HLS_msn", "invalid-blocking-request");
    return undefined;
  }
  if (!DIRECTIVE.test(msn)) throw new BadRequestError(`_HLS_msn must be a non-negative integer, got "${msn.slice(0, 20)}"`, "invalid-blocking-request");
  if (part !== undefined && !DIRECTIVE.test(part)) throw new BadRequestError(`_HLS_part must be a non-negative integer, got "${part.slice(0, 20)}"`, "invalid-blocking-request");
  return { msn: Number(msn), ...(part !== undefined ? { part: Number(part) } : {}) };
}

/** The spec's Advance Part Limit: 3 parts, or 3 s worth of parts when parts are shorter than 1 s. */
export function advancePartLimit(partTargetMs: number): number {
  return partTargetMs < 1000 ? Math.ceil(3000 / partTargetMs) : 3;
}

/**
 * `ready` once the playlist holds segment `msn` complete (no `_HLS_part`) or part `part` of it,
 * or anything later ("or later": a segment that closed before that part moves on to the next
 * segment's first part); also once the recording ended (the answer carries EXT-X-ENDLIST).
 * `too-far` when `msn` is more than two segments past the last complete one, or the part more
 * than the Advance Part Limit past the last stored part: the spec answers those with 400.
 */
export function judgeBlockingRequest(m: RecordingManifest, req: BlockingRequest, partLimit: number): BlockingVerdict {
  if (m.endedAt !== null) return "ready";
  const segs = m.segments.filter((s) => s.parts.length > 0);
  const last = segs[segs.length - 1];
  if (last) {
    if (req.part === undefined) {
      if (last.seq > req.msn || segs.some((s) => s.seq === req.msn && s.complete)) return "ready";
    } else if (last.seq > req.msn || (last.seq === req.msn && last.parts.length > req.part)) {
      return "ready";
    }
  }
  const lastComplete = [...segs].reverse().find((s) => s.complete)?.seq ?? -1;
  if (req.msn > lastComplete + MAX_MSN_AHEAD) return "too-far";
  if (req.part !== undefined) {
    const lastSeq = last?.seq ?? -1;
    const lastPart = last ? last.parts.length - 1 : -1;
    // Parts still to come before the requested one is stored (at least; an open segment may add more).
    const ahead = req.msn === lastSeq ? req.part - lastPart : req.part + 1;
    if (ahead > partLimit) return "too-far";
  }
  return "wait";
}

/**
 * Whether part `part` of segment `seq` is stored, may still come (the next part, or within the
 * Advance Part Limit of the last stored one: a preload hint, answered when it is stored), or
 * will never come (its segment closed without it, the recording ended, or it is too far ahead).
 */
export function judgePart(m: RecordingManifest, seq: number, part: number, partLimit: number): PartVerdict {
  const segment = m.segments.find((s) => s.seq === seq);
  const entry = segment?.parts[part];
  if (segment && entry) return { state: "stored", segment, entry };
  if (m.endedAt !== null || segment?.complete) return { state: "gone" };
  const segs = m.segments.filter((s) => s.parts.length > 0);
  const last = segs[segs.length - 1];
  const lastSeq = last?.seq ?? -1;
  if (seq === lastSeq && last && !last.complete) return part - (last.parts.length - 1) <= partLimit ? { state: "pending" } : { state: "gone" };
  if (seq === lastSeq + 1) return part + 1 <= partLimit ? { state: "pending" } : { state: "gone" };
  return { state: "gone" };
}
