import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { StreamHub } from "../../src/core/stream-hub.js";
import type { DecodedFrame } from "../../src/extractor/decoded-frame.js";
import { StreamDecoder } from "../../src/extractor/stream-decoder.js";
import { NAL_TYPE, nalType } from "../../src/media/h264-nal.js";
import type { VideoAccessUnit } from "../../src/media/types.js";
import { h264Fixture, type EncodedUnit } from "../support/h264-fixtures.js";
import { decoderPids } from "../support/process-tree.js";
import { waitFor } from "../support/wait-for.js";

/**
 * The stream's one decoder (real ffmpeg) across a publisher's network break: it feeds nothing
 * between the break and the first IDR after it, restarts ffmpeg only for a new resolution, and
 * delivers frames again. Prints the time from that IDR to its decoded frame.
 */
const log = pino({ level: process.env.IFC_TEST_LOG_LEVEL ?? "silent" });
const BREAK_TICKS = 3 * 90_000;

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  await waitFor(() => decoderPids().length === 0, { what: "no decoder left running" });
});

/** Units as the depacketizer makes them (parameter sets out of band on keyframes), from stream time `t0` (90 kHz). */
function units(list: EncodedUnit[], t0: number, flagFirst: boolean): VideoAccessUnit[] {
  let sps: Uint8Array | undefined;
  let pps: Uint8Array | undefined;
  return list.map((u, i) => {
    sps = u.nalus.find((n) => nalType(n) === NAL_TYPE.SPS) ?? sps;
    pps = u.nalus.find((n) => nalType(n) === NAL_TYPE.PPS) ?? pps;
    return {
      kind: "video", codec: "h264", isKeyframe: u.isKeyframe, rtpTime: t0 + i * 3000, arrivalMs: 0, wallClockMs: 0,
      nalus: u.nalus.filter((n) => nalType(n) !== NAL_TYPE.SPS && nalType(n) !== NAL_TYPE.PPS),
      ...(u.isKeyframe && sps && pps ? { sps, pps } : {}),
      ...(flagFirst && i === 0 ? { discontinuity: true as const } : {}),
    };
  });
}

/** Publishes a few units at a time, each batch decoded before the next (no fixed pauses, no lag-induced drops). */
async function publish(hub: StreamHub, dec: StreamDecoder, aus: VideoAccessUnit[]): Promise<void> {
  for (let i = 0; i < aus.length; i++) {
    const au = aus[i] as VideoAccessUnit;
    au.arrivalMs = au.wallClockMs = Date.now();
    hub.publish(au);
    if (i % 5 === 4) {
      await hub.drain();
      await waitFor(() => dec.stats().fifoDepth === 0, { what: "ffmpeg caught up" });
    }
  }
  await hub.drain();
}

async function run(o: { after: { width: number; height: number }; flag: boolean; resumeAt: number }) {
  const before = await h264Fixture({ width: 640, height: 360, fps: 30, seconds: 2, gop: 30 });
  const after = await h264Fixture({ ...o.after, fps: 30, seconds: 2, gop: 30 });
  const hub = new StreamHub(`brk-${o.after.width}-${o.flag}`, {}, 64);
  const requests: string[] = [];
  hub.setKeyframeRequester((r) => requests.push(r));
  const dec = new StreamDecoder(hub, { fps: 30, maxHeight: 720, format: "gray8" }, { ffmpegPath: "ffmpeg", log });
  cleanups.push(() => dec.close({ flush: false }));
  const frames: DecodedFrame[] = [];
  dec.subscribe((f) => frames.push(f));

  await publish(hub, dec, units(before, 0, false));
  await waitFor(() => frames.length === before.length, { what: "every frame before the break" });
  const resumeT0 = before.length * 3000 + BREAK_TICKS;
  const resumed = units(after.slice(o.resumeAt), resumeT0, o.flag);
  const idr = resumed.find((u) => u.isKeyframe) as VideoAccessUnit;
  const recorded = resumed.length - resumed.indexOf(idr);
  await publish(hub, dec, resumed);
  await waitFor(() => frames.length === before.length + recorded, { what: "every frame from the IDR after the break" });
  return { dec, frames, before, idr, recorded, requests };
}

describe("StreamDecoder across a network break (real ffmpeg)", () => {
  it("a break with a new SPS: nothing fed until the IDR after it, ffmpeg restarted at the new size, frames again", async () => {
    const { dec, frames, before, idr, requests } = await run({ after: { width: 1280, height: 720 }, flag: true, resumeAt: 10 });
    const first = frames[before.length] as DecodedFrame;
    expect(first.rtpTime).toBe(idr.rtpTime);
    expect(first.keyframe).toBe(true);
    expect([first.width, first.height]).toEqual([1280, 720]);
    const st = dec.stats();
    expect(st.breaks).toBe(1);
    expect(st.dropped.waitingForIdr).toBe(20);
    expect(st.restarts).toBe(1); // resolution change
    expect(st.decodeErrors + st.desyncs + st.crashes).toBe(0);
    expect(requests).toContain("decoder: stream break");
    expect(st.resumeToFrameMs).toBeGreaterThan(0);
    console.log(`decoder resume, new SPS (ffmpeg restart): first post-break IDR → frame delivered in ${st.resumeToFrameMs?.toFixed(1)} ms`);
  });

  it("a break with the same SPS keeps ffmpeg running; a plain hole without the flag is a break too", async () => {
    for (const flag of [true, false]) {
      const { dec, frames, before, idr } = await run({ after: { width: 640, height: 360 }, flag, resumeAt: 10 });
      expect(frames[before.length]?.rtpTime).toBe(idr.rtpTime);
      const st = dec.stats();
      expect(st.breaks).toBe(1);
      expect(st.dropped.waitingForIdr).toBe(20);
      expect(st.restarts).toBe(0);
      expect(st.decodeErrors + st.desyncs + st.crashes).toBe(0);
      // the measured rate ignores the interval across the break
      expect(st.sourceFps).toBeCloseTo(30, 0);
      console.log(`decoder resume, same SPS (${flag ? "flagged" : "plain hole"}): first post-break IDR → frame delivered in ${st.resumeToFrameMs?.toFixed(1)} ms`);
      await dec.close({ flush: false });
    }
  });
});
