import { describe, expect, it } from "vitest";
import { advancePartLimit, judgeBlockingRequest, judgePart, parseBlockingRequest } from "../../../src/distributor/hls/blocking-reload.js";
import { BadRequestError } from "../../../src/errors.js";
import { partKey, type RecordingManifest, type SegmentEntry } from "../../../src/recorder/manifest.js";

const REC = "20261123T054000123Z-3f9a";

function seg(seq: number, parts: number, complete: boolean): SegmentEntry {
  return {
    seq, init: 0, startMs: seq * 4000, startDts: seq * 360_000, durationMs: parts * 1000, bytes: parts * 10, keyframe: true, complete,
    parts: Array.from({ length: parts }, (_, i) => ({ key: partKey("cam1", REC, seq, i), durationMs: 1000, bytes: 10, independent: i === 0 })),
  };
}

function manifest(segments: SegmentEntry[], endedAt: number | null = null): RecordingManifest {
  return { version: 1, stream: "cam1", recordingId: REC, startedAt: 0, endedAt, tags: {}, inits: [{ index: 0, key: `cam1/${REC}/init-0.mp4`, codec: "avc1.64001f", width: 640, height: 360 }], segments };
}

const LIMIT = 3;
// segments 0..4 complete, 5 open with parts 0 and 1 stored
const LIVE = manifest([0, 1, 2, 3, 4].map((q) => seg(q, 4, true)).concat(seg(5, 2, false)));

describe("blocking reload query", () => {
  it("reads _HLS_msn and _HLS_part", () => {
    expect(parseBlockingRequest({})).toBeUndefined();
    expect(parseBlockingRequest({ _HLS_msn: "12" })).toEqual({ msn: 12 });
    expect(parseBlockingRequest({ _HLS_msn: "0", _HLS_part: "0" })).toEqual({ msn: 0, part: 0 });
    expect(parseBlockingRequest({ _HLS_msn: "999999999" })).toEqual({ msn: 999_999_999 });
  });

  it("refuses malformed values with 400", () => {
    for (const q of [{ _HLS_part: "1" }, { _HLS_msn: "" }, { _HLS_msn: "-1" }, { _HLS_msn: "1.5" }, { _HLS_msn: "01" }, { _HLS_msn: "1e3" }, { _HLS_msn: "1000000000" }, { _HLS_msn: "1", _HLS_part: "x" }]) {
      let err: unknown;
      try {
        parseBlockingRequest(q);
      } catch (e) {
        err = e;
      }
      expect(err, JSON.stringify(q)).toBeInstanceOf(BadRequestError);
      expect((err as BadRequestError).type).toBe("urn:imageflowcanvas:problem:invalid-blocking-request");
    }
  });

  it("computes the spec's Advance Part Limit", () => {
    expect(advancePartLimit(1000)).toBe(3);
    expect(advancePartLimit(2000)).toBe(3);
    expect(advancePartLimit(500)).toBe(6);
    expect(advancePartLimit(200)).toBe(15);
    expect(advancePartLimit(333)).toBe(10);
  });
});

describe("blocking reload verdicts", () => {
  it("is ready for what the playlist holds, and waits for what comes next", () => {
    expect(judgeBlockingRequest(LIVE, { msn: 4 }, LIMIT)).toBe("ready");
    expect(judgeBlockingRequest(LIVE, { msn: 5 }, LIMIT)).toBe("wait"); // open: no EXTINF yet
    expect(judgeBlockingRequest(LIVE, { msn: 5, part: 1 }, LIMIT)).toBe("ready");
    expect(judgeBlockingRequest(LIVE, { msn: 5, part: 2 }, LIMIT)).toBe("wait");
    expect(judgeBlockingRequest(LIVE, { msn: 4, part: 9 }, LIMIT)).toBe("ready"); // "or later": segment 5 exists
    expect(judgeBlockingRequest(LIVE, { msn: 6, part: 0 }, LIMIT)).toBe("wait");
  });

  it("moves past a segment that closed before the asked part: the next segment's first part answers", () => {
    const closed = manifest([seg(0, 4, true)]);
    expect(judgeBlockingRequest(closed, { msn: 0, part: 4 }, LIMIT)).toBe("wait");
    expect(judgeBlockingRequest(manifest([seg(0, 4, true), seg(1, 1, false)]), { msn: 0, part: 4 }, LIMIT)).toBe("ready");
  });

  it("answers too-far past two segments beyond the last complete one (the edge: +2 waits, +3 is 400)", () => {
    expect(judgeBlockingRequest(LIVE, { msn: 6 }, LIMIT)).toBe("wait");
    expect(judgeBlockingRequest(LIVE, { msn: 7 }, LIMIT)).toBe("too-far");
    expect(judgeBlockingRequest(LIVE, { msn: 999_999 }, LIMIT)).toBe("too-far");
  });

  it("answers too-far past the Advance Part Limit (edge: last part + limit waits, one more is 400)", () => {
    // last stored part is 5/1
    expect(judgeBlockingRequest(LIVE, { msn: 5, part: 1 + LIMIT }, LIMIT)).toBe("wait");
    expect(judgeBlockingRequest(LIVE, { msn: 5, part: 2 + LIMIT }, LIMIT)).toBe("too-far");
    expect(judgeBlockingRequest(LIVE, { msn: 6, part: LIMIT - 1 }, LIMIT)).toBe("wait");
    expect(judgeBlockingRequest(LIVE, { msn: 6, part: LIMIT }, LIMIT)).toBe("too-far");
  });

  it("is ready at once when the recording ended", () => {
    expect(judgeBlockingRequest(manifest(LIVE.segments, 1), { msn: 6, part: 0 }, LIMIT)).toBe("ready");
  });
});

describe("preload-hinted part verdicts", () => {
  it("finds stored parts of complete and open segments", () => {
    const v = judgePart(LIVE, 5, 1, LIMIT);
    expect(v.state).toBe("stored");
    if (v.state === "stored") expect(v.entry.key).toBe(partKey("cam1", REC, 5, 1));
    expect(judgePart(LIVE, 0, 3, LIMIT).state).toBe("stored");
  });

  it("is pending for the next parts within the Advance Part Limit, of the open segment or the next one", () => {
    expect(judgePart(LIVE, 5, 2, LIMIT).state).toBe("pending");
    expect(judgePart(LIVE, 5, 1 + LIMIT, LIMIT).state).toBe("pending");
    expect(judgePart(LIVE, 5, 2 + LIMIT, LIMIT).state).toBe("gone");
    expect(judgePart(LIVE, 6, 0, LIMIT).state).toBe("pending");
    expect(judgePart(LIVE, 6, LIMIT - 1, LIMIT).state).toBe("pending");
    expect(judgePart(LIVE, 6, LIMIT, LIMIT).state).toBe("gone");
    expect(judgePart(LIVE, 7, 0, LIMIT).state).toBe("gone");
    // after a segment closed, the next segment's first part is the hint
    expect(judgePart(manifest([seg(0, 4, true)]), 1, 0, LIMIT).state).toBe("pending");
  });

  it("is gone when its segment closed without it, it lies behind, or the recording ended", () => {
    expect(judgePart(LIVE, 4, 4, LIMIT).state).toBe("gone");
    expect(judgePart(manifest([seg(0, 4, true)]), 0, 4, LIMIT).state).toBe("gone");
    expect(judgePart(manifest(LIVE.segments.slice(1)), 0, 0, LIMIT).state).toBe("gone"); // removed by retention
    expect(judgePart(manifest(LIVE.segments, 1), 5, 2, LIMIT).state).toBe("gone");
  });
});
