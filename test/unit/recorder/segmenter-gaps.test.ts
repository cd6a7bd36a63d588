import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { nalType } from "../../../src/media/h264-nal.js";
import type { AudioFrame, VideoAccessUnit } from "../../../src/media/types.js";
import { Segmenter, type GapOutput, type InitOutput, type PartOutput, type SegmentClosed, type SegmenterOptions } from "../../../src/recorder/segmenter.js";
import { h264Fixture, type EncodedUnit } from "../../support/h264-fixtures.js";
import { decodeErrors, probeVideoFrames } from "../../support/recording-probe.js";

let dir: string;
beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "ifc-seg-gap-"));
});
afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

const OPTS: SegmenterOptions = { segmentDurationMs: 4000, partDurationMs: 1000, keyframeRequestLeadMs: 300, maxSegmentDurationMs: 20000 };
const T0 = 1_700_000_000_000;
const FRAME_MS = 1000 / 30;

function collect(opts: SegmenterOptions = OPTS) {
  const inits: InitOutput[] = [];
  const parts: PartOutput[] = [];
  const closed: SegmentClosed[] = [];
  const requests: string[] = [];
  const gaps: GapOutput[] = [];
  const seg = new Segmenter(opts, {
    init: (o) => inits.push(o),
    part: (o) => parts.push(o),
    segmentClosed: (o) => closed.push(o),
    requestKeyframe: (r) => requests.push(r),
    gap: (o) => gaps.push(o),
  });
  return { seg, inits, parts, closed, requests, gaps };
}

/** A unit at stream time `ms` (from T0): rtpTime and wall clock agree, as TrackTimeline makes them across a break. */
function unitAt(u: EncodedUnit, ms: number, discontinuity = false): VideoAccessUnit {
  const sps = u.nalus.find((n) => nalType(n) === 7);
  const pps = u.nalus.find((n) => nalType(n) === 8);
  return {
    kind: "video", codec: "h264", nalus: u.nalus, isKeyframe: u.isKeyframe,
    rtpTime: Math.round(ms * 90), arrivalMs: T0 + ms, wallClockMs: T0 + ms,
    ...(sps ? { sps } : {}), ...(pps ? { pps } : {}), ...(discontinuity ? { discontinuity: true as const } : {}),
  };
}

/**
 * 3 s of `before`, a `breakMs` cut, then `after` from its frame `resumeAt` on (mid-GOP: the
 * frames up to its next IDR cannot be recorded). Returns the times the test checks against.
 */
function feed(seg: Segmenter, before: EncodedUnit[], after: EncodedUnit[], o: { breakMs: number; resumeAt: number; flag: boolean }) {
  before.forEach((u, i) => seg.video(unitAt(u, i * FRAME_MS)));
  const lastBeforeMs = (before.length - 1) * FRAME_MS;
  const resumeMs = before.length * FRAME_MS + o.breakMs;
  const rest = after.slice(o.resumeAt);
  rest.forEach((u, i) => seg.video(unitAt(u, resumeMs + i * FRAME_MS, o.flag && i === 0)));
  const firstIdr = rest.findIndex((u) => u.isKeyframe);
  seg.finish();
  return { lastBeforeMs, firstIdrMs: resumeMs + firstIdr * FRAME_MS, dropped: firstIdr, recordedAfter: rest.length - firstIdr };
}

async function writeRecording(name: string, init: Uint8Array, parts: PartOutput[]): Promise<string> {
  const file = path.join(dir, name);
  await writeFile(file, Buffer.concat([init, ...parts.map((p) => p.data)]));
  return file;
}

describe("Segmenter across a network break", () => {
  for (const flag of [true, false]) {
    it(`${flag ? "a flagged 5 s break" : "a plain 5 s hole (no flag)"}: one recording, a new segment at the first IDR after it, the gap at its real length`, async () => {
      const before = await h264Fixture({ width: 640, height: 360, fps: 30, seconds: 3, gop: 30 });
      const after = await h264Fixture({ width: 640, height: 360, fps: 30, seconds: 4, gop: 30 });
      const { seg, inits, parts, closed, requests, gaps } = collect();
      const t = feed(seg, before, after, { breakMs: 5000, resumeAt: 10, flag });

      // the segment before the break ends at its last frame, which lasts one frame, not the hole
      expect(closed[0]).toEqual({ seq: 0, durationMs: 3000 });
      const starts = parts.filter((p) => p.segmentStart);
      expect(starts.map((p) => p.seq)).toEqual([0, 1]);
      const resumed = starts[1] as PartOutput;
      expect(resumed.independent).toBe(true);
      // the decode timeline keeps the real hole: neither squashed nor stretched
      expect(resumed.segmentStart?.startDts).toBe(Math.round(t.firstIdrMs * 90));
      expect(resumed.segmentStart?.startMs).toBeCloseTo(T0 + t.firstIdrMs, 3);
      expect(resumed.segmentStart?.discontinuity).toBe(1);
      expect(inits.length).toBe(1);

      expect(gaps.length).toBe(1);
      const gap = gaps[0] as GapOutput;
      expect(gap.reason).toBe(flag ? "discontinuity" : "time-hole");
      expect(gap.fromMs).toBeCloseTo(T0 + t.lastBeforeMs, 3);
      expect(gap.toMs).toBeCloseTo(T0 + t.firstIdrMs, 3);
      // 5 s cut + the 20 frames up to the IDR, within one frame
      expect(Math.abs(gap.toMs - gap.fromMs - (5000 + FRAME_MS + t.dropped * FRAME_MS))).toBeLessThanOrEqual(FRAME_MS);
      expect(gap.droppedFrames).toBe(20);
      expect(gap.seq).toBe(1);
      expect(seg.stats).toEqual({ gaps: 1, droppedAtBreaks: 20 });
      expect(requests).toContain("recording resume after break");

      // the whole recording decodes, with the hole at its real place on the timeline
      const file = await writeRecording(`break-${flag}.mp4`, (inits[0] as InitOutput).data, parts);
      const frames = await probeVideoFrames(file);
      expect(frames.length).toBe(before.length + t.recordedAfter);
      const firstAfter = frames[before.length];
      expect(firstAfter?.keyFrame).toBe(true);
      expect(firstAfter?.ptsTime).toBeCloseTo(t.firstIdrMs / 1000, 3);
      expect(await decodeErrors(file)).toBe("");
    });
  }

  it("a publisher back with a new SPS gets a new init in the same recording", async () => {
    const before = await h264Fixture({ width: 640, height: 360, fps: 30, seconds: 3, gop: 30 });
    const after = await h264Fixture({ width: 1280, height: 720, fps: 30, seconds: 3, gop: 30 });
    const { seg, inits, parts, gaps } = collect();
    const t = feed(seg, before, after, { breakMs: 5000, resumeAt: 0, flag: true });
    expect(inits.map((i) => `${i.index}:${i.sps.width}x${i.sps.height}`)).toEqual(["0:640x360", "1:1280x720"]);
    const resumed = parts.find((p) => p.segmentStart && p.seq === 1);
    expect(resumed?.segmentStart?.init).toBe(1);
    // a break and an init change at the same place are one discontinuity
    expect(resumed?.segmentStart?.discontinuity).toBe(1);
    expect(gaps.map((g) => g.droppedFrames)).toEqual([0]);
    const file = await writeRecording("break-sps.mp4", (inits[0] as InitOutput).data, parts);
    const frames = await probeVideoFrames(file);
    expect(frames.length).toBe(before.length + after.length);
    expect(frames[frames.length - 1]?.width).toBe(1280);
    expect(frames[before.length]?.ptsTime).toBeCloseTo(t.firstIdrMs / 1000, 3);
    expect(await decodeErrors(file)).toBe("");
  });

  it("a hole at the threshold is no break; just past it is (and the threshold grows with slow frame rates)", async () => {
    const units = await h264Fixture({ width: 640, height: 360, fps: 30, seconds: 2, gop: 30 });
    const run = (holeMs: number, o: Partial<SegmenterOptions> = {}) => {
      const { seg, gaps } = collect({ ...OPTS, ...o });
      units.slice(0, 30).forEach((u, i) => seg.video(unitAt(u, i * FRAME_MS)));
      // the next IDR arrives holeMs after the last frame
      units.slice(30).forEach((u, i) => seg.video(unitAt(u, 29 * FRAME_MS + holeMs + i * FRAME_MS)));
      seg.finish();
      return gaps.length;
    };
    expect(run(2000)).toBe(0);
    expect(run(2001)).toBe(1);
    expect(run(1000, { gapThresholdMs: 999 })).toBe(1);
    expect(run(1000, { gapThresholdMs: 1000 })).toBe(0);
  });

  it("a 1 fps camera: a 2.5 s hole (under 3 frame intervals) stays inside its segment", async () => {
    const units = await h264Fixture({ width: 640, height: 360, fps: 30, seconds: 2, gop: 30 });
    const { seg, gaps, closed } = collect();
    units.slice(0, 10).forEach((u, i) => seg.video(unitAt(u, i * 1000)));
    seg.video(unitAt(units[10] as EncodedUnit, 9000 + 2500));
    seg.video(unitAt(units[11] as EncodedUnit, 9000 + 3500));
    seg.finish();
    expect(gaps.length).toBe(0);
    expect(closed.map((c) => c.seq)).toEqual([0]);
  });

  it("audio stops with the video at the break and resumes aligned to the new segment's IDR", async () => {
    const before = await h264Fixture({ width: 640, height: 360, fps: 30, seconds: 3, gop: 30 });
    const after = await h264Fixture({ width: 640, height: 360, fps: 30, seconds: 4, gop: 30 });
    const { seg, parts } = collect({ ...OPTS, audio: { channels: 2 } });
    const audioAt = (ms: number, rtpTime: number, discontinuity = false): AudioFrame => ({
      kind: "audio", codec: "opus", data: new Uint8Array([0xfc, 0xff, 0xfe]), rtpTime, arrivalMs: T0 + ms, wallClockMs: T0 + ms,
      ...(discontinuity ? { discontinuity: true as const } : {}),
    });
    // audio every 20 ms interleaved with video; after the break audio resumes 100 ms before the IDR
    before.forEach((u, i) => {
      seg.video(unitAt(u, i * FRAME_MS));
      const ms = i * FRAME_MS;
      for (let a = Math.ceil((ms - FRAME_MS) / 20) * 20; a < ms; a += 20) if (a > 0) seg.audio(audioAt(a, a * 48));
    });
    const resumeMs = 3000 + 5000;
    const idrMs = resumeMs + 20 * FRAME_MS;
    // audio's own timeline: it continued at an arbitrary offset (a new session's clock)
    const audioOffset = 7_000_000;
    let first = true;
    after.slice(10).forEach((u, i) => {
      const ms = resumeMs + i * FRAME_MS;
      for (let a = Math.ceil((ms - FRAME_MS) / 20) * 20; a < ms; a += 20) {
        if (a >= idrMs - 100) {
          seg.audio(audioAt(a, audioOffset + a * 48, first));
          first = false;
        }
      }
      seg.video(unitAt(u, ms, i === 0));
    });
    seg.finish();
    // no audio is written between the segments; the resumed segment's audio starts at or after its video
    const resumed = parts.filter((p) => p.seq === 1);
    expect(resumed.length).toBeGreaterThan(0);
    const audioStarts = resumed.map((p) => audioBaseTime(p.data)).filter((x): x is number => x !== undefined);
    expect(audioStarts.length).toBeGreaterThan(0);
    const first48k = audioStarts[0] as number;
    // on the recording's timeline (48 kHz from T0), within one audio frame of the IDR
    expect(first48k / 48).toBeGreaterThanOrEqual(idrMs - 20);
    expect(first48k / 48).toBeLessThanOrEqual(idrMs + 20);
  });
});

/** The tfdt of track 2 (audio) in a media fragment, if it has one. */
function audioBaseTime(frag: Uint8Array): number | undefined {
  const buf = Buffer.from(frag);
  let trackId = 0;
  for (let i = 0; i + 8 < buf.length; i++) {
    const type = buf.toString("latin1", i + 4, i + 8);
    if (type === "tfhd") trackId = buf.readUInt32BE(i + 12);
    if (type === "tfdt" && trackId === 2) {
      const version = buf[i + 8];
      return version === 1 ? Number(buf.readBigUInt64BE(i + 12)) : buf.readUInt32BE(i + 12);
    }
  }
  return undefined;
}
