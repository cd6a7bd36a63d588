import { describe, expect, it } from "vitest";
import { nextPart, renderLivePlaylist, renderVodPlaylist, type LivePlaylistOptions } from "../../../src/distributor/hls/playlist.js";
import { partKey, type RecordingManifest, type SegmentEntry } from "../../../src/recorder/manifest.js";

const REC = "20261123T054000123Z-3f9a";
const T0 = Date.UTC(2026, 10, 23, 5, 40, 0, 123);
const OPTS: LivePlaylistOptions = { windowSegments: 3, partSegments: 1, segmentTargetMs: 4000, partTargetMs: 1000 };

/** A segment of parts with the given durations (ms); the first part starts with an IDR unless told otherwise. */
function seg(seq: number, partMs: number[], o: { complete?: boolean; init?: number; startMs?: number; independent?: boolean[] } = {}): SegmentEntry {
  const durationMs = partMs.reduce((a, b) => a + b, 0);
  return {
    seq,
    init: o.init ?? 0,
    startMs: o.startMs ?? T0 + seq * 4000,
    startDts: seq * 360_000,
    durationMs,
    bytes: partMs.length * 1000,
    keyframe: true,
    complete: o.complete ?? true,
    parts: partMs.map((d, i) => ({ key: partKey("cam1", REC, seq, i), durationMs: d, bytes: 1000, independent: o.independent?.[i] ?? i === 0 })),
  };
}

function manifest(segments: SegmentEntry[], o: { inits?: number; endedAt?: number } = {}): RecordingManifest {
  return {
    version: 1,
    stream: "cam1",
    recordingId: REC,
    startedAt: T0,
    endedAt: o.endedAt ?? null,
    tags: {},
    inits: Array.from({ length: o.inits ?? 1 }, (_, i) => ({ index: i, key: `cam1/${REC}/init-${i}.mp4`, codec: "avc1.64001f", width: 640, height: 360 })),
    segments,
  };
}

const FOUR = [1000, 1000, 1000, 1000];

/** The value of a `#TAG:` line (first occurrence). */
function tag(playlist: string, name: string): string | undefined {
  return playlist.split("\n").find((l) => l.startsWith(`#${name}:`))?.slice(name.length + 2);
}

/** URIs of media segments (lines that are not tags). */
function segmentUris(playlist: string): string[] {
  return playlist.split("\n").filter((l) => l.length > 0 && !l.startsWith("#"));
}

describe("live LL-HLS playlist", () => {
  it("renders the header, the window, the open segment's parts and the preload hint", () => {
    const m = manifest([seg(0, FOUR), seg(1, FOUR), seg(2, [1000, 1000], { complete: false })]);
    expect(renderLivePlaylist(m, OPTS)).toBe(
      [
        "#EXTM3U",
        "#EXT-X-VERSION:9",
        "#EXT-X-TARGETDURATION:4",
        "#EXT-X-SERVER-CONTROL:CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=3.000",
        "#EXT-X-PART-INF:PART-TARGET=1.000",
        "#EXT-X-MEDIA-SEQUENCE:0",
        "#EXT-X-INDEPENDENT-SEGMENTS",
        `#EXT-X-MAP:URI="${REC}/init-0.mp4"`,
        "#EXT-X-PROGRAM-DATE-TIME:2026-11-23T05:40:00.123Z",
        "#EXTINF:4.000,",
        `${REC}/000000.m4s`,
        "#EXT-X-PROGRAM-DATE-TIME:2026-11-23T05:40:04.123Z",
        `#EXT-X-PART:DURATION=1.000,URI="${REC}/000001-00.m4s",INDEPENDENT=YES`,
        `#EXT-X-PART:DURATION=1.000,URI="${REC}/000001-01.m4s"`,
        `#EXT-X-PART:DURATION=1.000,URI="${REC}/000001-02.m4s"`,
        `#EXT-X-PART:DURATION=1.000,URI="${REC}/000001-03.m4s"`,
        "#EXTINF:4.000,",
        `${REC}/000001.m4s`,
        "#EXT-X-PROGRAM-DATE-TIME:2026-11-23T05:40:08.123Z",
        `#EXT-X-PART:DURATION=1.000,URI="${REC}/000002-00.m4s",INDEPENDENT=YES`,
        `#EXT-X-PART:DURATION=1.000,URI="${REC}/000002-01.m4s"`,
        `#EXT-X-PRELOAD-HINT:TYPE=PART,URI="${REC}/000002-02.m4s"`,
        "",
      ].join("\n"),
    );
  });

  it("slides the window over the last N complete segments and sets the media sequence to its first", () => {
    const segs = Array.from({ length: 10 }, (_, i) => seg(i, FOUR));
    const p = renderLivePlaylist(manifest([...segs, seg(10, [1000], { complete: false })]), OPTS);
    expect(tag(p, "EXT-X-MEDIA-SEQUENCE")).toBe("7");
    expect(segmentUris(p)).toEqual([`${REC}/000007.m4s`, `${REC}/000008.m4s`, `${REC}/000009.m4s`]);
    // one PDT per listed segment, the open one included
    expect(p.match(/#EXT-X-PROGRAM-DATE-TIME/g)?.length).toBe(4);
    // the open segment alone, before anything completed: its seq is the media sequence
    const first = renderLivePlaylist(manifest([seg(0, [1000], { complete: false })]), OPTS);
    expect(tag(first, "EXT-X-MEDIA-SEQUENCE")).toBe("0");
    expect(segmentUris(first)).toEqual([]);
    expect(first).toContain(`#EXT-X-PART:DURATION=1.000,URI="${REC}/000000-00.m4s",INDEPENDENT=YES`);
  });

  it("keeps a window of exactly windowSegments at the edge (1, and as many as there are)", () => {
    const segs = Array.from({ length: 5 }, (_, i) => seg(i, FOUR));
    expect(segmentUris(renderLivePlaylist(manifest(segs), { ...OPTS, windowSegments: 1 }))).toEqual([`${REC}/000004.m4s`]);
    expect(segmentUris(renderLivePlaylist(manifest(segs), { ...OPTS, windowSegments: 5 })).length).toBe(5);
    expect(segmentUris(renderLivePlaylist(manifest(segs), { ...OPTS, windowSegments: 6 })).length).toBe(5);
  });

  it("lists parts of the last partSegments complete segments and of the open one only", () => {
    const segs = [seg(0, FOUR), seg(1, FOUR), seg(2, FOUR), seg(3, [1000], { complete: false })];
    const partUris = (o: LivePlaylistOptions): string[] =>
      renderLivePlaylist(manifest(segs), o).split("\n").filter((l) => l.startsWith("#EXT-X-PART:")).map((l) => /URI="[^/]+\/(\d+)-/.exec(l)?.[1] ?? "");
    expect(new Set(partUris({ ...OPTS, partSegments: 0 }))).toEqual(new Set(["000003"]));
    expect(new Set(partUris({ ...OPTS, partSegments: 1 }))).toEqual(new Set(["000002", "000003"]));
    expect(new Set(partUris({ ...OPTS, partSegments: 2 }))).toEqual(new Set(["000001", "000002", "000003"]));
    expect(partUris({ ...OPTS, partSegments: 2 }).length).toBe(9);
  });

  it("flags INDEPENDENT=YES exactly on parts that start with an IDR", () => {
    const open = seg(0, [1000, 1000, 1000], { complete: false, independent: [true, false, true] });
    const parts = renderLivePlaylist(manifest([open]), OPTS).split("\n").filter((l) => l.startsWith("#EXT-X-PART:"));
    expect(parts.map((l) => l.endsWith(",INDEPENDENT=YES"))).toEqual([true, false, true]);
  });

  it("marks an init change with a discontinuity and a new map, and counts earlier ones in DISCONTINUITY-SEQUENCE", () => {
    const m = manifest([seg(0, FOUR), seg(1, [1000, 500]), seg(2, FOUR, { init: 1 }), seg(3, [1000], { complete: false, init: 1 })], { inits: 2 });
    const p = renderLivePlaylist(m, { ...OPTS, windowSegments: 3 });
    const lines = p.split("\n");
    const disc = lines.indexOf("#EXT-X-DISCONTINUITY");
    expect(disc).toBeGreaterThan(lines.indexOf(`${REC}/000001.m4s`));
    expect(lines[disc + 1]).toBe(`#EXT-X-MAP:URI="${REC}/init-1.mp4"`);
    expect(lines[disc + 2]).toMatch(/^#EXT-X-PROGRAM-DATE-TIME:/);
    expect(p.match(/#EXT-X-MAP/g)?.length).toBe(2);
    expect(p.match(/#EXT-X-DISCONTINUITY$/gm)?.length).toBe(1);
    expect(tag(p, "EXT-X-DISCONTINUITY-SEQUENCE")).toBeUndefined();
    // the change slid out of the window: the playlist opens with the new init and counts one discontinuity
    const later = renderLivePlaylist(m, { ...OPTS, windowSegments: 1 });
    expect(tag(later, "EXT-X-DISCONTINUITY-SEQUENCE")).toBe("1");
    expect(later).not.toContain("#EXT-X-DISCONTINUITY\n");
    expect(tag(later, "EXT-X-MAP")).toBe(`URI="${REC}/init-1.mp4"`);
  });

  it("a discontinuity also precedes the open segment when it brought the new init", () => {
    const m = manifest([seg(0, FOUR), seg(1, [1000], { complete: false, init: 1 })], { inits: 2 });
    const lines = renderLivePlaylist(m, OPTS).split("\n");
    const disc = lines.indexOf("#EXT-X-DISCONTINUITY");
    expect(lines[disc + 1]).toBe(`#EXT-X-MAP:URI="${REC}/init-1.mp4"`);
    expect(lines[disc + 3]).toBe(`#EXT-X-PART:DURATION=1.000,URI="${REC}/000001-00.m4s",INDEPENDENT=YES`);
  });

  it("sets the target duration to the configured one, or the ceiling of a longer segment in the window", () => {
    expect(tag(renderLivePlaylist(manifest([seg(0, [1000, 1000])]), OPTS), "EXT-X-TARGETDURATION")).toBe("4");
    expect(tag(renderLivePlaylist(manifest([seg(0, FOUR), seg(1, [1000, 1000, 1000, 1000, 1])]), OPTS), "EXT-X-TARGETDURATION")).toBe("5");
    // exactly 5000 ms is 5, not 6
    expect(tag(renderLivePlaylist(manifest([seg(0, [1000, 1000, 1000, 1000, 1000])]), OPTS), "EXT-X-TARGETDURATION")).toBe("5");
    // a long segment that slid out no longer counts
    const slid = manifest([seg(0, [...FOUR, 3000]), seg(1, FOUR), seg(2, FOUR), seg(3, FOUR)]);
    expect(tag(renderLivePlaylist(slid, OPTS), "EXT-X-TARGETDURATION")).toBe("4");
    // the open segment has no EXTINF yet and does not count
    expect(tag(renderLivePlaylist(manifest([seg(0, FOUR), seg(1, [...FOUR, ...FOUR], { complete: false })]), OPTS), "EXT-X-TARGETDURATION")).toBe("4");
    expect(tag(renderLivePlaylist(manifest([seg(0, [1000])]), { ...OPTS, segmentTargetMs: 2500 }), "EXT-X-TARGETDURATION")).toBe("3");
  });

  it("sets PART-TARGET to the configured part duration or the longest listed part, PART-HOLD-BACK to three of them", () => {
    const p = renderLivePlaylist(manifest([seg(0, [1000, 1033.333, 966.667], { complete: false })]), OPTS);
    expect(tag(p, "EXT-X-PART-INF")).toBe("PART-TARGET=1.034");
    expect(tag(p, "EXT-X-SERVER-CONTROL")).toBe("CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=3.102");
    expect(p).toContain("#EXT-X-PART:DURATION=1.033,");
    const short = renderLivePlaylist(manifest([seg(0, [200, 200], { complete: false })]), { ...OPTS, partTargetMs: 200 });
    expect(tag(short, "EXT-X-PART-INF")).toBe("PART-TARGET=0.200");
    expect(tag(short, "EXT-X-SERVER-CONTROL")).toBe("CAN-BLOCK-RELOAD=YES,PART-HOLD-BACK=0.600");
  });

  it("hints the next segment's first part after a segment closed, and ends with ENDLIST once the recording ended", () => {
    const closed = manifest([seg(0, FOUR), seg(1, FOUR)]);
    expect(nextPart(closed)).toEqual({ seq: 2, part: 0 });
    expect(renderLivePlaylist(closed, OPTS)).toContain(`#EXT-X-PRELOAD-HINT:TYPE=PART,URI="${REC}/000002-00.m4s"`);
    const ended = renderLivePlaylist(manifest([seg(0, FOUR), seg(1, FOUR)], { endedAt: T0 + 8000 }), OPTS);
    expect(ended).not.toContain("PRELOAD-HINT");
    expect(ended.endsWith("#EXT-X-ENDLIST\n")).toBe(true);
  });

  it("refuses a manifest without media (the route answers 404 before)", () => {
    expect(() => renderLivePlaylist(manifest([]), OPTS)).toThrow(RangeError);
  });
});

describe("VOD playlist", () => {
  it("lists the given segments with EXTINF, maps, PLAYLIST-TYPE:VOD and ENDLIST, no LL-HLS tags", () => {
    const m = manifest([seg(3, FOUR), seg(4, [1000, 1000, 700]), seg(5, [...FOUR, 200], { init: 1 })], { inits: 2 });
    const p = renderVodPlaylist(m, m.segments);
    expect(p).toBe(
      [
        "#EXTM3U",
        "#EXT-X-VERSION:6",
        "#EXT-X-TARGETDURATION:5",
        "#EXT-X-PLAYLIST-TYPE:VOD",
        "#EXT-X-MEDIA-SEQUENCE:3",
        "#EXT-X-INDEPENDENT-SEGMENTS",
        `#EXT-X-MAP:URI="${REC}/init-0.mp4"`,
        "#EXT-X-PROGRAM-DATE-TIME:2026-11-23T05:40:12.123Z",
        "#EXTINF:4.000,",
        `${REC}/000003.m4s`,
        "#EXT-X-PROGRAM-DATE-TIME:2026-11-23T05:40:16.123Z",
        "#EXTINF:2.700,",
        `${REC}/000004.m4s`,
        "#EXT-X-DISCONTINUITY",
        `#EXT-X-MAP:URI="${REC}/init-1.mp4"`,
        "#EXT-X-PROGRAM-DATE-TIME:2026-11-23T05:40:20.123Z",
        "#EXTINF:4.200,",
        `${REC}/000005.m4s`,
        "#EXT-X-ENDLIST",
        "",
      ].join("\n"),
    );
    // target duration of short segments: their ceiling, at least 1
    expect(tag(renderVodPlaylist(m, [seg(0, [300])]), "EXT-X-TARGETDURATION")).toBe("1");
    expect(() => renderVodPlaylist(m, [])).toThrow(RangeError);
  });
});
