import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { nalType } from "../../../src/media/h264-nal.js";
import type { VideoAccessUnit } from "../../../src/media/types.js";
import type { InitOutput, SegmenterOptions } from "../../../src/recorder/segmenter.js";
import { h264Fixture, type EncodedUnit } from "../../support/h264-fixtures.js";
import { collectSegmenter } from "../../support/segmenter-outputs.js";
import { probeVideoFrames } from "../../support/recording-probe.js";

/**
 * IFC_MAX_SEGMENT_DURATION_MS: a segment that has run past the cap without an IDR is closed at
 * the next IDR as soon as one comes; until then it grows and every frame is recorded.
 */
let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "ifc-segmax-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const T0 = 1_700_000_000_000;
const OPTS: SegmenterOptions = { segmentDurationMs: 2000, partDurationMs: 1000, keyframeRequestLeadMs: 300, maxSegmentDurationMs: 4000 };

function toUnit(u: EncodedUnit, index: number): VideoAccessUnit {
  const sps = u.nalus.find((n) => nalType(n) === 7);
  const pps = u.nalus.find((n) => nalType(n) === 8);
  const ms = T0 + (index * 1000) / 30;
  return { kind: "video", codec: "h264", nalus: u.nalus, isKeyframe: u.isKeyframe, rtpTime: index * 3000, arrivalMs: ms, wallClockMs: ms, ...(sps ? { sps } : {}), ...(pps ? { pps } : {}) };
}

describe("Segmenter: maximum segment duration", () => {
  it("a stream without IDR past the cap grows its segment, records every frame, and cuts at the next IDR", async () => {
    // IDRs at 0 s and 10 s only (an encoder that ignores keyframe requests), 12 s in all.
    const units = await h264Fixture({ width: 320, height: 240, fps: 30, seconds: 12, gop: 300 });
    expect(units.filter((u) => u.isKeyframe).length).toBe(2);
    const { seg, inits, parts, closed, requests } = collectSegmenter(OPTS);
    units.forEach((u, i) => seg.video(toUnit(u, i)));

    // Before the second IDR: nothing closed although the cap (4 s) is long past, but parts kept coming.
    const before = units.findIndex((u, i) => i > 0 && u.isKeyframe);
    expect(before).toBe(300);
    seg.finish();
    expect(closed.map((c) => c.durationMs)).toEqual([10_000, 2000]);
    const firstSegmentParts = parts.filter((p) => p.seq === 0);
    expect(firstSegmentParts.length).toBe(10);
    expect(firstSegmentParts.filter((p) => p.independent).length).toBe(1);
    // asked again every second while the IDR was missing (due from 1.7 s on)
    expect(requests.filter((r) => r === "segment due").length).toBeGreaterThanOrEqual(8);
    // the second segment starts exactly at the IDR
    expect(parts.find((p) => p.seq === 1)?.independent).toBe(true);

    const file = path.join(dir, "long-gop.mp4");
    await writeFile(file, Buffer.concat([(inits[0] as InitOutput).data, ...parts.map((p) => p.data)]));
    expect((await probeVideoFrames(file)).length).toBe(units.length);
  });

  it("with wall-clock alignment, a wall clock re-anchored far back still cannot hold a segment open past the cap", async () => {
    // An encoder that sends an IDR every second; 2.5 s in (mid-segment) the publisher's first sender report
    // says capture was a minute earlier (its NTP clock is off). Boundaries are wall-clock ones,
    // so without the cap the open segment would wait a minute for its boundary.
    const units = await h264Fixture({ width: 320, height: 240, fps: 30, seconds: 2, gop: 30 });
    const idr = units.find((u) => u.isKeyframe) as EncodedUnit;
    const p = units.find((u) => !u.isKeyframe) as EncodedUnit;
    const { seg, closed } = collectSegmenter({ ...OPTS, alignToWallClock: true });
    for (let i = 0; i < 30 * 20; i++) {
      const au = toUnit(i % 30 === 0 ? idr : p, i);
      if (i >= 75) au.wallClockMs -= 60_000;
      au.arrivalMs = au.wallClockMs;
      seg.video(au);
    }
    seg.finish();
    const durations = closed.map((c) => c.durationMs);
    expect(durations.reduce((a, b) => a + b, 0)).toBe(20_000);
    // closed at the first IDR at or past the cap (IDRs every second)
    for (const d of durations) expect(d).toBeLessThanOrEqual(OPTS.maxSegmentDurationMs);
  });

  it("the cap is the segment length when it equals the target duration (the tightest setting config allows)", async () => {
    const units = await h264Fixture({ width: 320, height: 240, fps: 30, seconds: 2, gop: 30 });
    const idr = units.find((u) => u.isKeyframe) as EncodedUnit;
    const p = units.find((u) => !u.isKeyframe) as EncodedUnit;
    const { seg, closed } = collectSegmenter({ ...OPTS, maxSegmentDurationMs: OPTS.segmentDurationMs, alignToWallClock: true });
    for (let i = 0; i < 30 * 12; i++) {
      const au = toUnit(i % 30 === 0 ? idr : p, i);
      if (i >= 45) au.wallClockMs -= 3_600_000;
      seg.video(au);
    }
    seg.finish();
    for (const c of closed) expect(c.durationMs).toBeLessThanOrEqual(OPTS.segmentDurationMs);
    expect(closed.length).toBeGreaterThanOrEqual(6);
  });
});
