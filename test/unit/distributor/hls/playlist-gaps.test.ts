import { describe, expect, it } from "vitest";
import { PART_HOLD_BACK_PARTS, renderLivePlaylist, renderVodPlaylist, type LivePlaylistOptions } from "../../../../src/distributor/hls/playlist.js";
import { partKey, type RecordingManifest, type SegmentEntry } from "../../../../src/recorder/manifest.js";

const REC = "20261129T050000000Z-ab12";
const T0 = Date.UTC(2026, 10, 29, 5, 0, 0);
const OPTS: LivePlaylistOptions = { windowSegments: 3, partSegments: 1, segmentTargetMs: 4000, partTargetMs: 1000 };
const GAP_MS = 5000;
const FOUR = [1000, 1000, 1000, 1000];

/** Segments of 4 s; from `gapBefore` on they start GAP_MS later and carry one more discontinuity. */
function seg(seq: number, o: { gapBefore?: number; init?: number; complete?: boolean; parts?: number[]; legacy?: boolean } = {}): SegmentEntry {
  const parts = o.parts ?? FOUR;
  const afterGap = o.gapBefore !== undefined && seq >= o.gapBefore;
  return {
    seq,
    init: o.init ?? 0,
    startMs: T0 + seq * 4000 + (afterGap ? GAP_MS : 0),
    startDts: (seq * 4000 + (afterGap ? GAP_MS : 0)) * 90,
    durationMs: parts.reduce((a, b) => a + b, 0),
    bytes: 4000,
    keyframe: true,
    complete: o.complete ?? true,
    parts: parts.map((d, i) => ({ key: partKey("cam1", REC, seq, i), durationMs: d, bytes: 1000, independent: i === 0 })),
    // one break in these playlists; a new init there comes with it (one discontinuity, not two)
    ...(o.legacy ? {} : { discontinuity: afterGap || (o.init ?? 0) > 0 ? 1 : 0 }),
  };
}

function manifest(segments: SegmentEntry[], inits = 1): RecordingManifest {
  return {
    version: 1, stream: "cam1", recordingId: REC, startedAt: T0, endedAt: null, tags: {},
    inits: Array.from({ length: inits }, (_, i) => ({ index: i, key: `cam1/${REC}/init-${i}.mp4`, codec: "avc1.64001f", width: 640, height: 360 })),
    segments,
    gaps: [{ fromMs: T0 + 8000 - 33, toMs: T0 + 8000 + GAP_MS, durationMs: GAP_MS + 33, reason: "discontinuity" }],
  };
}

const tag = (p: string, name: string): string | undefined => p.split("\n").find((l) => l.startsWith(`#${name}:`))?.slice(name.length + 2);

describe("HLS playlists across a gap", () => {
  it("live: EXT-X-DISCONTINUITY and the real PROGRAM-DATE-TIME before the first segment after the gap, no new map", () => {
    const m = manifest([seg(0), seg(1), seg(2, { gapBefore: 2 }), seg(3, { gapBefore: 2, complete: false, parts: [1000] })]);
    const p = renderLivePlaylist(m, { ...OPTS, windowSegments: 3 });
    const lines = p.split("\n");
    const disc = lines.indexOf("#EXT-X-DISCONTINUITY");
    expect(disc).toBeGreaterThan(lines.indexOf(`${REC}/000001.m4s`));
    expect(disc).toBeLessThan(lines.indexOf(`${REC}/000002.m4s`));
    expect(lines[disc + 1]).toBe(`#EXT-X-PROGRAM-DATE-TIME:${new Date(T0 + 8000 + GAP_MS).toISOString()}`);
    expect(p.match(/#EXT-X-DISCONTINUITY$/gm)?.length).toBe(1);
    expect(p.match(/#EXT-X-MAP/g)?.length).toBe(1);
    expect(tag(p, "EXT-X-DISCONTINUITY-SEQUENCE")).toBeUndefined();
    // once the gap slid out of the window, the sequence counts it
    const later = renderLivePlaylist(m, { ...OPTS, windowSegments: 1 });
    expect(tag(later, "EXT-X-DISCONTINUITY-SEQUENCE")).toBe("1");
    expect(later).not.toContain("#EXT-X-DISCONTINUITY\n");
  });

  it("VOD: the same discontinuity, and DISCONTINUITY-SEQUENCE when the span starts after it", () => {
    const segs = [seg(0), seg(1), seg(2, { gapBefore: 2 }), seg(3, { gapBefore: 2 })];
    const m = manifest(segs);
    const p = renderVodPlaylist(m, segs);
    expect(p.match(/#EXT-X-DISCONTINUITY$/gm)?.length).toBe(1);
    const lines = p.split("\n");
    expect(lines[lines.indexOf("#EXT-X-DISCONTINUITY") + 1]).toBe(`#EXT-X-PROGRAM-DATE-TIME:${new Date(T0 + 8000 + GAP_MS).toISOString()}`);
    expect(tag(renderVodPlaylist(m, segs.slice(2)), "EXT-X-DISCONTINUITY-SEQUENCE")).toBe("1");
    expect(tag(p, "EXT-X-DISCONTINUITY-SEQUENCE")).toBeUndefined();
  });

  it("a break that brought a new SPS: one discontinuity and the new map", () => {
    const m = manifest([seg(0), seg(1, { gapBefore: 1, init: 1 }), seg(2, { gapBefore: 1, init: 1 })], 2);
    expect(m.segments.map((s) => s.discontinuity)).toEqual([0, 1, 1]);
    const p = renderLivePlaylist(m, OPTS);
    const lines = p.split("\n");
    const disc = lines.indexOf("#EXT-X-DISCONTINUITY");
    expect(lines[disc + 1]).toBe(`#EXT-X-MAP:URI="${REC}/init-1.mp4"`);
    expect(p.match(/#EXT-X-DISCONTINUITY$/gm)?.length).toBe(1);
  });

  it("manifests written before gaps were listed: discontinuities follow init changes as before", () => {
    const m = manifest([seg(0, { legacy: true }), seg(1, { legacy: true, init: 1 }), seg(2, { legacy: true, init: 1 })], 2);
    const p = renderLivePlaylist(m, OPTS);
    expect(p.match(/#EXT-X-DISCONTINUITY$/gm)?.length).toBe(1);
    expect(tag(renderLivePlaylist(m, { ...OPTS, windowSegments: 1 }), "EXT-X-DISCONTINUITY-SEQUENCE")).toBe("1");
  });

  it("an LL-HLS client starts within one segment of live (hls.js: live edge − PART-HOLD-BACK)", () => {
    // 10 complete 4 s segments and an open one with 2 parts; a gap in the middle does not move the start.
    const segs = [...Array.from({ length: 10 }, (_, i) => seg(i, { gapBefore: 5 })), seg(10, { gapBefore: 5, complete: false, parts: [1000, 1000] })];
    const p = renderLivePlaylist(manifest(segs), { ...OPTS, windowSegments: 6 });
    const holdBackS = Number(/PART-HOLD-BACK=([\d.]+)/.exec(p)?.[1]);
    expect(holdBackS).toBe(PART_HOLD_BACK_PARTS);
    // the playlist's timeline as a client builds it: EXTINF of complete segments, PART durations of the open one
    const listed: { uri: string; start: number; end: number }[] = [];
    let t = 0;
    let openParts = 0;
    for (const l of p.split("\n")) {
      const inf = /^#EXTINF:([\d.]+),/.exec(l);
      if (inf) {
        listed.push({ uri: "", start: t, end: t + Number(inf[1]) });
        t += Number(inf[1]);
      } else if (l.length > 0 && !l.startsWith("#")) (listed[listed.length - 1] as { uri: string }).uri = l;
      else if (l.startsWith("#EXT-X-PART:") && l.includes("000010-")) openParts += Number(/DURATION=([\d.]+)/.exec(l)?.[1]);
    }
    listed.push({ uri: "open", start: t, end: t + openParts });
    const edge = t + openParts;
    const start = edge - holdBackS;
    const first = listed.findIndex((s) => s.start <= start && start < s.end);
    // the segment (or its independent part) the client loads first is the open one or the last complete one
    expect(first).toBeGreaterThanOrEqual(listed.length - 2);
    expect(edge - (listed[first] as { start: number }).start).toBeLessThanOrEqual(4 + holdBackS);
  });
});
