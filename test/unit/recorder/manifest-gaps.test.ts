import { afterEach, describe, expect, it } from "vitest";
import type { H264SpsInfo } from "../../../src/media/types.js";
import { gapsWithin, manifestKey, parseManifest, withoutSegments, type RecordingManifest } from "../../../src/recorder/manifest.js";
import { RecordingCatalog } from "../../../src/recorder/recording-catalog.js";
import { RecordingWriter } from "../../../src/recorder/recording-writer.js";
import { SegmentLeases } from "../../../src/recorder/segment-leases.js";
import { readStored, silent, storeRecording, tempStore } from "./stored-recordings.js";

const T0 = Date.UTC(2026, 10, 29, 5, 0, 0);
const SPS: H264SpsInfo = { profileIdc: 100, constraintFlags: 0, levelIdc: 31, width: 640, height: 360, codecString: "avc1.64001f" };
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

async function store() {
  const t = await tempStore();
  cleanups.push(t.cleanup);
  return t.store;
}

/** Four 4 s segments with a 5 s hole before segment 2. */
function withGap(m: RecordingManifest): RecordingManifest {
  for (const s of m.segments) if (s.seq >= 2) s.startMs += 5000;
  return { ...m, gaps: [{ fromMs: T0 + 8000 - 33, toMs: T0 + 13_000, durationMs: 5033, reason: "discontinuity" }] };
}

describe("recording gaps in the manifest", () => {
  it("the writer lists a gap in order with the segments and stores it with the next closed segment", async () => {
    const s = await store();
    const w = new RecordingWriter(s, "cam1", "rec1", T0, silent);
    w.init({ index: 0, data: new Uint8Array([1]), sps: SPS });
    w.part({ seq: 0, part: 0, data: new Uint8Array([2]), durationMs: 1000, independent: true, segmentStart: { startMs: T0, startDts: 0, init: 0, discontinuity: 0 } });
    w.segmentClosed({ seq: 0, durationMs: 1000 });
    w.gap({ fromMs: T0 + 966.6, toMs: T0 + 6000.4, reason: "time-hole", droppedFrames: 3, seq: 1 });
    w.part({ seq: 1, part: 0, data: new Uint8Array([3]), durationMs: 1000, independent: true, segmentStart: { startMs: T0 + 6000.4, startDts: 540_036, init: 0, discontinuity: 1 } });
    w.segmentClosed({ seq: 1, durationMs: 1000 });
    await w.close(T0 + 8000);
    const stored = await readStored(s, "cam1", "rec1");
    expect(stored?.gaps).toEqual([{ fromMs: T0 + 967, toMs: T0 + 6000, durationMs: 5033, reason: "time-hole" }]);
    expect(stored?.segments.map((x) => x.discontinuity)).toEqual([0, 1]);
  });

  it("a manifest written before gaps were listed parses, and lists none", async () => {
    const s = await store();
    const m = await storeRecording(s, "cam1", "old", T0, 3);
    expect("gaps" in m).toBe(false);
    const parsed = parseManifest(await s.get(manifestKey("cam1", "old")));
    expect(gapsWithin(parsed, parsed.segments)).toEqual([]);
    const catalog = new RecordingCatalog(s, () => undefined, new SegmentLeases());
    expect((await catalog.spans("cam1")).map((x) => x.gaps)).toEqual([[]]);
    // a malformed gap list is not a manifest the readers can trust
    expect(() => parseManifest(Buffer.from(JSON.stringify({ ...m, gaps: [{ fromMs: "x" }] })))).toThrow();
  });

  it("spans list only the gaps between their own segments; retention drops gaps whose later segment went", async () => {
    const s = await store();
    const m = withGap(await storeRecording(s, "cam1", "rec1", T0, 4));
    await s.put(manifestKey("cam1", "rec1"), Buffer.from(JSON.stringify(m)));
    const catalog = new RecordingCatalog(s, () => undefined, new SegmentLeases());
    expect((await catalog.spans("cam1"))[0]?.gaps).toEqual(m.gaps);
    expect((await catalog.spans("cam1", T0, T0 + 7000))[0]?.gaps).toEqual([]); // segments 0–1 only
    expect((await catalog.spans("cam1", T0 + 14_000, T0 + 30_000))[0]?.gaps).toEqual([]); // segments 2–3 only
    expect((await catalog.spans("cam1", T0 + 5000, T0 + 14_000))[0]?.gaps).toEqual(m.gaps);

    expect(withoutSegments(m, new Set([0])).updated.gaps).toEqual(m.gaps);
    expect(withoutSegments(m, new Set([0, 1])).updated.gaps).toEqual([]);
  });
});
