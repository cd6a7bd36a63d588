import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { nalType } from "../../../src/media/h264-nal.js";
import type { VideoAccessUnit } from "../../../src/media/types.js";
import { Segmenter, type InitOutput, type PartOutput, type SegmenterOptions } from "../../../src/recorder/segmenter.js";
import { h264Fixture, type EncodedUnit } from "../../support/h264-fixtures.js";
import { collectSegmenter } from "../../support/segmenter-outputs.js";
import { decodeErrors, probeVideoFrames } from "../../support/recording-probe.js";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "ifc-seg-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const OPTS: SegmenterOptions = { segmentDurationMs: 4000, partDurationMs: 1000, keyframeRequestLeadMs: 300, maxSegmentDurationMs: 20000 };

function toUnit(u: EncodedUnit, index: number, frameTicks: number, t0 = 0): VideoAccessUnit {
  const sps = u.nalus.find((n) => nalType(n) === 7);
  const pps = u.nalus.find((n) => nalType(n) === 8);
  const ms = 1_700_000_000_000 + (index * frameTicks) / 90;
  return { kind: "video", codec: "h264", nalus: u.nalus, isKeyframe: u.isKeyframe, rtpTime: t0 + index * frameTicks, arrivalMs: ms, wallClockMs: ms, ...(sps ? { sps } : {}), ...(pps ? { pps } : {}) };
}

async function writeRecording(name: string, init: Uint8Array, parts: PartOutput[]): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, Buffer.concat([init, ...parts.map((p) => p.data)]));
  return file;
}

describe("Segmenter", () => {
  it("cuts IDR-aligned 4 s segments of 1 s parts from a 1 s GOP stream, frame-exact", async () => {
    const units = await h264Fixture({ width: 640, height: 360, fps: 30, seconds: 10, gop: 30 });
    const { seg, inits, parts, closed } = collectSegmenter(OPTS);
    units.forEach((u, i) => seg.video(toUnit(u, i, 3000)));
    seg.finish();

    expect(inits.length).toBe(1);
    expect(inits[0]?.sps.width).toBe(640);
    expect(closed.map((c) => c.durationMs)).toEqual([4000, 4000, 2000]);
    const firsts = parts.filter((p) => p.segmentStart);
    expect(firsts.length).toBe(3);
    for (const p of firsts) expect(p.independent).toBe(true);
    for (const p of parts) expect(p.durationMs).toBeCloseTo(1000, 0);

    const file = await writeRecording("gop1.mp4", (inits[0] as InitOutput).data, parts);
    const frames = await probeVideoFrames(file);
    expect(frames.length).toBe(units.length);
    expect(frames.filter((f) => f.keyFrame).length).toBe(units.filter((u) => u.isKeyframe).length);
    for (let i = 1; i < frames.length; i++) expect((frames[i] as { ptsTime: number }).ptsTime).toBeCloseTo(i / 30, 3);
    expect(await decodeErrors(file)).toBe("");
  });

  it("asks for a keyframe when a segment is due and cuts at the IDR that answers", async () => {
    // A browser-like stream: IDR only at the start and every 6 s.
    const units = await h264Fixture({ width: 640, height: 360, fps: 30, seconds: 13, gop: 180 });
    const { seg, parts, closed, requests, inits } = collectSegmenter(OPTS);
    units.forEach((u, i) => seg.video(toUnit(u, i, 3000)));
    seg.finish();
    expect(requests.filter((r) => r === "segment due").length).toBeGreaterThanOrEqual(2);
    // no IDR until 6 s: the segment grows to it, parts still come every second (non-key starts)
    expect(closed.map((c) => c.durationMs)).toEqual([6000, 6000, 1000]);
    expect(parts.filter((p) => !p.independent).length).toBeGreaterThan(5);
    const file = await writeRecording("gop6.mp4", (inits[0] as InitOutput).data, parts);
    expect((await probeVideoFrames(file)).length).toBe(units.length);
  });

  it("starts a new init at a mid-stream SPS change, and the first init plays across it", async () => {
    const a = await h264Fixture({ width: 640, height: 360, fps: 30, seconds: 3, gop: 30 });
    const b = await h264Fixture({ width: 1280, height: 720, fps: 30, seconds: 3, gop: 30 });
    const { seg, inits, parts, closed } = collectSegmenter(OPTS);
    [...a, ...b].forEach((u, i) => seg.video(toUnit(u, i, 3000)));
    seg.finish();
    expect(inits.map((i) => `${i.sps.width}x${i.sps.height}`)).toEqual(["640x360", "1280x720"]);
    expect(closed.map((c) => c.durationMs)).toEqual([3000, 3000]);
    const file = await writeRecording("sps-change.mp4", (inits[0] as InitOutput).data, parts);
    const frames = await probeVideoFrames(file);
    expect(frames.length).toBe(a.length + b.length);
    expect(frames[0]?.width).toBe(640);
    expect(frames[frames.length - 1]?.width).toBe(1280);
    expect(await decodeErrors(file)).toBe("");
    // and the new init alone decodes the segments written after the change
    const after = await writeRecording("sps-after.mp4", (inits[1] as InitOutput).data, parts.filter((p) => p.seq === 1));
    expect((await probeVideoFrames(after)).map((f) => f.width)).toEqual(b.map(() => 1280));
  });

  it("after dropped frames it waits for the next IDR, asks for one, and keeps the timeline", async () => {
    const units = await h264Fixture({ width: 640, height: 360, fps: 30, seconds: 4, gop: 30 });
    const { seg, inits, parts, requests } = collectSegmenter(OPTS);
    units.forEach((u, i) => {
      if (i >= 40 && i < 45) return; // lost in the reader queue
      seg.video(toUnit(u, i, 3000), i === 45 ? 5 : 0);
    });
    seg.finish();
    expect(requests).toContain("recording resync after loss");
    const file = await writeRecording("loss.mp4", (inits[0] as InitOutput).data, parts);
    const frames = await probeVideoFrames(file);
    // frames 40..59 are gone (5 lost, 15 undecodable until the IDR at 60)
    expect(frames.length).toBe(units.length - 20);
    expect(frames[40]?.ptsTime).toBeCloseTo(60 / 30, 3);
    expect(await decodeErrors(file)).toBe("");
  });

  it("ignores everything before the first keyframe and asks for it", async () => {
    const units = await h264Fixture({ width: 640, height: 360, fps: 30, seconds: 2, gop: 30 });
    const { seg, inits, parts, requests } = collectSegmenter(OPTS);
    units.slice(10).forEach((u, i) => seg.video(toUnit(u, i + 10, 3000)));
    seg.finish();
    expect(requests[0]).toBe("recording start");
    expect(inits.length).toBe(1);
    const file = await writeRecording("late-start.mp4", (inits[0] as InitOutput).data, parts);
    expect((await probeVideoFrames(file)).length).toBe(units.length - 30);
  });

  it("takes stream time as given across a timestamp jump: a new segment at the IDR after it, the hole kept", async () => {
    // Ingest's TrackTimeline re-bases real jumps to the wall-clock gap; what reaches the recorder is stream time.
    const units = await h264Fixture({ width: 640, height: 360, fps: 30, seconds: 2, gop: 30 });
    const { seg, inits, parts, closed } = collectSegmenter(OPTS);
    units.forEach((u, i) => seg.video(toUnit(u, i, 3000, i >= 30 ? 450_000 : 0)));
    seg.finish();
    expect(closed.map((c) => c.durationMs)).toEqual([1000, 1000]);
    const frames = await probeVideoFrames(await writeRecording("jump.mp4", (inits[0] as InitOutput).data, parts));
    expect(frames.length).toBe(units.length);
    expect(frames[30]?.ptsTime).toBeCloseTo(6, 3);
    for (let i = 1; i < frames.length; i++) if (i !== 30) expect((frames[i]?.ptsTime ?? 0) - (frames[i - 1]?.ptsTime ?? 0)).toBeCloseTo(1 / 30, 3);
  });

  it("aligns segment boundaries to the wall clock, timing the keyframe request for them", async () => {
    const units = await h264Fixture({ width: 640, height: 360, fps: 30, seconds: 2, gop: 30 });
    const idr = units.find((u) => u.isKeyframe) as EncodedUnit;
    const p = units.find((u) => !u.isKeyframe) as EncodedUnit;
    const starts: number[] = [];
    let askedAt = -1;
    const seg = new Segmenter({ ...OPTS, alignToWallClock: true }, {
      init: () => undefined,
      part: (o) => o.segmentStart && starts.push(o.segmentStart.startMs),
      segmentClosed: () => undefined,
      requestKeyframe: () => (askedAt = askedAt < 0 ? i : askedAt),
    });
    // An encoder that sends IDRs only when asked, 3 frames (100 ms) after the request.
    const t0 = 1_700_000_001_234;
    let i = 0;
    for (; i < 30 * 30; i++) {
      const key = i === 0 || (askedAt >= 0 && i >= askedAt + 3);
      if (key) askedAt = -1;
      const u = key ? idr : p;
      const au = toUnit(u, i, 3000);
      au.wallClockMs = au.arrivalMs = t0 + (i * 1000) / 30;
      seg.video(au);
    }
    seg.finish();
    expect(starts.length).toBeGreaterThanOrEqual(7);
    for (const start of starts.slice(1)) {
      const offset = ((start % 4000) + 4000) % 4000;
      const fromBoundary = Math.min(offset, 4000 - offset);
      // the IDR lands lead (300 ms) minus the encoder's 100 ms before the boundary, within a frame
      expect(fromBoundary).toBeLessThanOrEqual(300);
      expect(fromBoundary).toBeGreaterThanOrEqual(200 - 1000 / 30);
    }
  });

  it("keeps segment starts on one clock mapping when a sender report re-anchors the wall clock", async () => {
    const units = await h264Fixture({ width: 640, height: 360, fps: 30, seconds: 2, gop: 30 });
    const idr = units.find((u) => u.isKeyframe) as EncodedUnit;
    const p = units.find((u) => !u.isKeyframe) as EncodedUnit;
    const starts: { startMs: number; startDts: number }[] = [];
    const seg = new Segmenter(OPTS, {
      init: () => undefined,
      part: (o) => o.segmentStart && starts.push(o.segmentStart),
      segmentClosed: () => undefined,
      requestKeyframe: () => undefined,
    });
    for (let i = 0; i < 30 * 13; i++) {
      const au = toUnit(i % 30 === 0 ? idr : p, i, 3000);
      // the first sender report (after 2 s) says capture was 1.2 s earlier than arrival suggested
      if (i >= 60) au.wallClockMs -= 1200;
      seg.video(au);
    }
    seg.finish();
    expect(starts.length).toBe(4);
    const first = starts[0] as { startMs: number; startDts: number };
    for (const s of starts) expect(s.startMs - first.startMs).toBeCloseTo(((s.startDts - first.startDts) * 1000) / 90_000, 6);
  });
});
