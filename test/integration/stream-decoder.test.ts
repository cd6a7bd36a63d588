import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { StreamHub } from "../../src/core/stream-hub.js";
import { StreamRegistry, type StreamStats } from "../../src/core/stream-registry.js";
import type { DecodedFrame } from "../../src/extractor/decoded-frame.js";
import { DecoderManager } from "../../src/extractor/decoder-manager.js";
import { StreamDecoder, type StreamDecoderOptions } from "../../src/extractor/stream-decoder.js";
import { NAL_TYPE, nalType } from "../../src/media/h264-nal.js";
import type { VideoAccessUnit } from "../../src/media/types.js";
import { h264Fixture, type EncodedUnit } from "../support/h264-fixtures.js";
import { decoderPids, processExists } from "../support/process-tree.js";
import { waitFor } from "../support/wait-for.js";

const execFileAsync = promisify(execFile);
const log = pino({ level: process.env.IFC_TEST_LOG_LEVEL ?? "silent" });
const OPTS: StreamDecoderOptions = { ffmpegPath: "ffmpeg", log };
const FIXTURES = path.resolve(import.meta.dirname, "../../.cache/fixtures");
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));

/** Access units as the depacketizer makes them: parameter sets out of band on keyframes. */
function toAccessUnits(units: EncodedUnit[], firstIndex = 0): VideoAccessUnit[] {
  let sps: Uint8Array | undefined;
  let pps: Uint8Array | undefined;
  return units.map((u, i) => {
    sps = u.nalus.find((n) => nalType(n) === NAL_TYPE.SPS) ?? sps;
    pps = u.nalus.find((n) => nalType(n) === NAL_TYPE.PPS) ?? pps;
    const now = Date.now();
    return {
      kind: "video", codec: "h264", isKeyframe: u.isKeyframe, rtpTime: (firstIndex + i) * 3000, arrivalMs: now, wallClockMs: now,
      nalus: u.nalus.filter((n) => nalType(n) !== NAL_TYPE.SPS && nalType(n) !== NAL_TYPE.PPS),
      ...(u.isKeyframe ? { sps, pps } : {}),
    };
  });
}

/** Publishes units in batches (faster than real time: the sampler works on RTP time). */
async function publish(hub: StreamHub, aus: VideoAccessUnit[], batch = 3, pauseMs = 20): Promise<void> {
  for (let i = 0; i < aus.length; i++) {
    const au = aus[i] as VideoAccessUnit;
    au.arrivalMs = au.wallClockMs = Date.now();
    hub.publish(au);
    if (i % batch === batch - 1) await sleep(pauseMs);
  }
}

/** The same stream decoded by a plain ffmpeg run: what each frame must look like. */
async function referenceFrames(file: string, width: number, height: number): Promise<Buffer[]> {
  const { stdout } = await execFileAsync("ffmpeg", ["-v", "error", "-i", file, "-vf", `scale=${width}:${height}:flags=bilinear`, "-pix_fmt", "gray", "-f", "rawvideo", "pipe:1"], {
    encoding: "buffer", maxBuffer: 256 * 1024 * 1024,
  });
  const n = width * height;
  return Array.from({ length: stdout.length / n }, (_, i) => stdout.subarray(i * n, (i + 1) * n));
}

const fixtureFile = (w: number, h: number, s: number) => path.join(FIXTURES, `testsrc2-${w}x${h}-30-${s}s-g30-high.h264`);

const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
  // no test leaves a decoder behind
  await waitFor(() => decoderPids().length === 0);
});

function newDecoder(hub: StreamHub, spec: ConstructorParameters<typeof StreamDecoder>[1], opts: Partial<StreamDecoderOptions> = {}): StreamDecoder {
  const d = new StreamDecoder(hub, spec, { ...OPTS, ...opts });
  cleanups.push(() => d.close({ flush: false }));
  return d;
}

describe("StreamDecoder (real ffmpeg)", () => {
  it("decodes every unit, has ffmpeg keep only the frames needed, and pairs each frame with its unit", async () => {
    const units = await h264Fixture({ width: 640, height: 360, fps: 30, seconds: 3, gop: 30 });
    const ref = await referenceFrames(fixtureFile(640, 360, 3), 320, 180);
    const hub = new StreamHub("s1", {}, 64);
    const keyframeRequests: string[] = [];
    hub.setKeyframeRequester((r) => keyframeRequests.push(r));
    const dec = newDecoder(hub, { fps: 10, maxHeight: 180, format: "gray8" });
    const frames: DecodedFrame[] = [];
    dec.subscribe((f) => frames.push(f));
    await publish(hub, toAccessUnits(units));
    hub.close();
    await dec.close();

    const st = dec.stats();
    expect(keyframeRequests.length).toBeGreaterThan(0); // a decoder starting mid-stream asks for an IDR
    expect(st.unitsWritten).toBe(90);
    expect(st.output).toEqual({ width: 320, height: 180, format: "gray8", keepEvery: 3 }); // 30 fps source (SPS VUI) -> 10
    expect(st.framesOut).toBe(30);
    expect(st.restarts + st.crashes + st.decodeErrors + st.desyncs).toBe(0);
    expect(frames.length).toBe(30); // 30 -> 10 fps
    for (const f of frames) {
      expect(f).toMatchObject({ stream: "s1", width: 320, height: 180, format: "gray8" });
      expect(f.data.length).toBe(320 * 180);
      expect(f.rtpTime % 9000).toBe(0);
      expect(f.keyframe).toBe(f.rtpTime % 90_000 === 0);
      expect(f.decodedAtMs).toBeGreaterThanOrEqual(f.arrivalMs);
      // the frame is the picture of the unit whose timestamps it carries
      expect(f.data.equals(ref[f.rtpTime / 3000] as Buffer)).toBe(true);
    }
    expect(frames.map((f) => f.sequence)).toEqual(frames.map((_, i) => i));
  });

  it("outputs a unit's frame without waiting for the next unit (no one-frame delay)", async () => {
    const units = await h264Fixture({ width: 640, height: 360, fps: 30, seconds: 2, gop: 30 });
    const hub = new StreamHub("s10", {}, 64);
    const dec = newDecoder(hub, { fps: 30, maxHeight: 180, format: "gray8" });
    const frames: DecodedFrame[] = [];
    dec.subscribe((f) => frames.push(f));
    const aus = toAccessUnits(units);
    await publish(hub, aus.slice(0, 10));
    // the stream pauses after unit 9: its frame must come out all the same
    await waitFor(() => frames.length === 10); // before unit 10 exists
    hub.publish({ ...(aus[10] as VideoAccessUnit) });
    await waitFor(() => frames.length === 11);
    expect(frames.at(-1)?.rtpTime).toBe(10 * 3000);
  });

  it("outputs JPEG images when asked", async () => {
    const units = await h264Fixture({ width: 640, height: 360, fps: 30, seconds: 2, gop: 30 });
    const hub = new StreamHub("s2", {}, 64);
    const dec = newDecoder(hub, { fps: 30, maxHeight: 240, format: "jpeg" });
    const frames: DecodedFrame[] = [];
    dec.subscribe((f) => frames.push(f));
    await publish(hub, toAccessUnits(units.slice(0, 15)));
    hub.close();
    await dec.close();
    expect(frames.length).toBe(15);
    for (const f of frames) {
      expect(f).toMatchObject({ width: 426, height: 240, format: "jpeg" });
      expect([...f.data.subarray(0, 2), ...f.data.subarray(-2)]).toEqual([0xff, 0xd8, 0xff, 0xd9]);
    }
  });

  it("restarts on a resolution change (new SPS) and outputs the new size", async () => {
    const big = await h264Fixture({ width: 640, height: 360, fps: 30, seconds: 2, gop: 30 });
    const small = await h264Fixture({ width: 320, height: 180, fps: 30, seconds: 2, gop: 30 });
    const hub = new StreamHub("s3", {}, 64);
    const dec = newDecoder(hub, { fps: 30, maxHeight: 720, format: "gray8" });
    const frames: DecodedFrame[] = [];
    dec.subscribe((f) => frames.push(f));
    await publish(hub, toAccessUnits(big.slice(0, 30)));
    await hub.drain();
    const pid0 = dec.stats().pid;
    await publish(hub, toAccessUnits(small.slice(0, 30), 30));
    hub.close();
    await dec.close();
    const st = dec.stats();
    expect(st.restarts).toBe(1);
    expect(st.crashes).toBe(0);
    expect(pid0).toBeDefined();
    expect(processExists(pid0 as number)).toBe(false);
    const sizes = frames.map((f) => `${f.width}x${f.height}@${f.rtpTime / 3000}`);
    expect(frames.length).toBe(60);
    expect(sizes[0]).toBe("640x360@0");
    expect(sizes[29]).toBe("640x360@29");
    expect(sizes[30]).toBe("320x180@30");
    expect(frames.every((f) => f.data.length === f.width * f.height)).toBe(true);
    expect(st.source).toEqual({ width: 320, height: 180 });
  });

  it("setOutput: a new rate applies at once, a new size and format at the next IDR", async () => {
    const units = await h264Fixture({ width: 640, height: 360, fps: 30, seconds: 2, gop: 30 });
    const hub = new StreamHub("s6", {}, 64);
    const requests: string[] = [];
    hub.setKeyframeRequester((r) => requests.push(r));
    const dec = newDecoder(hub, { fps: 30, maxHeight: 180, format: "gray8" });
    const frames: DecodedFrame[] = [];
    dec.subscribe((f) => frames.push(f));
    const aus = toAccessUnits(units);
    await publish(hub, aus.slice(0, 15));
    await hub.drain();
    await waitFor(() => dec.stats().framesOut >= 14);
    dec.setOutput({ fps: 15, maxHeight: 360, format: "rgb24" });
    expect(requests.at(-1)).toMatch(/output changed/);
    await publish(hub, aus.slice(15));
    hub.close();
    await dec.close();
    const i = frames.findIndex((f) => f.format === "rgb24");
    // 15 fps from unit 15 on (every other unit); the new output from the IDR at unit 30
    expect(frames.slice(0, 15).map((f) => f.rtpTime / 3000)).toEqual([...Array(15).keys()]);
    expect(frames.length - 15).toBeGreaterThanOrEqual(22);
    expect(frames.length - 15).toBeLessThanOrEqual(23);
    // ffmpeg now keeps the even units; this consumer's 15 fps grid (set at unit 15) may skip unit 30
    expect([30, 32]).toContain((frames[i] as DecodedFrame).rtpTime / 3000);
    expect(frames.slice(i).every((f) => f.format === "rgb24" && f.width === 640 && f.data.length === 640 * 360 * 3)).toBe(true);
    expect(frames.slice(0, i).every((f) => f.format === "gray8" && f.width === 320 && f.rtpTime < 30 * 3000)).toBe(true);
    expect(dec.stats().restarts).toBe(1);
  });

  it("re-decimates at the next IDR when the measured source rate differs from the SPS's", async () => {
    const units = await h264Fixture({ width: 640, height: 360, fps: 30, seconds: 2, gop: 30 });
    const hub = new StreamHub("s7", {}, 64);
    const dec = newDecoder(hub, { fps: 15, maxHeight: 180, format: "gray8" });
    const frames: DecodedFrame[] = [];
    dec.subscribe((f) => frames.push(f));
    // the SPS says 30 fps, the RTP timestamps say 15 (a publisher that halved its rate)
    const aus = toAccessUnits(units).map((au, i) => ({ ...au, rtpTime: i * 6000 }));
    await publish(hub, aus);
    hub.close();
    await dec.close();
    const idx = frames.map((f) => f.rtpTime / 6000);
    expect(idx.filter((i) => i < 30)).toEqual(Array.from({ length: 15 }, (_, i) => 2 * i)); // 1 in 2 kept by ffmpeg: 7.5 fps
    expect(idx.filter((i) => i >= 30)).toEqual(Array.from({ length: 30 }, (_, i) => 30 + i)); // from the IDR: all 15 fps
    expect(dec.stats()).toMatchObject({ restarts: 1, sourceFps: 15, output: { keepEvery: 1 } });
  });

  it("survives truncated access units and is back in step from the next IDR", async () => {
    const units = await h264Fixture({ width: 640, height: 360, fps: 30, seconds: 3, gop: 30 });
    const ref = await referenceFrames(fixtureFile(640, 360, 3), 320, 180);
    const aus = toAccessUnits(units);
    for (let i = 35; i < 45; i++) {
      // slices cut short: some decode with concealment, the tiny ones not at all
      const au = aus[i] as VideoAccessUnit;
      au.nalus = au.nalus.map((n) => (nalType(n) === NAL_TYPE.NON_IDR ? n.subarray(0, i % 2 ? 3 : Math.floor(n.length / 3)) : n));
    }
    const hub = new StreamHub("s4", {}, 64);
    const dec = newDecoder(hub, { fps: 30, maxHeight: 180, format: "gray8" });
    const frames: DecodedFrame[] = [];
    dec.subscribe((f) => frames.push(f));
    await publish(hub, aus.slice(0, 45));
    // ffmpeg reports the damage on stderr, asynchronously: wait for the decoder to have seen it
    // (on a busy machine it may come after unit 60, and then no IDR would follow to restart on)
    await waitFor(() => dec.stats().decodeErrors + dec.stats().desyncs > 0, { what: "the damage detected" });
    await publish(hub, aus.slice(45));
    hub.close();
    await dec.close();
    const st = dec.stats();
    expect(st.decodeErrors + st.desyncs).toBeGreaterThan(0);
    expect(st.restarts).toBeGreaterThan(0);
    expect(st.crashes).toBe(0);
    const idx = frames.map((f) => f.rtpTime / 3000);
    expect(idx.slice(0, 35)).toEqual([...Array(35).keys()]); // untouched before the damage
    const after = frames.filter((f) => f.rtpTime >= 60 * 3000);
    expect(after.map((f) => f.rtpTime / 3000)).toEqual(Array.from({ length: 30 }, (_, i) => 60 + i));
    for (const f of [...frames.slice(0, 35), ...after]) expect(f.data.equals(ref[f.rtpTime / 3000] as Buffer)).toBe(true);
  });

  it("restarts a crashed ffmpeg with backoff at the next IDR, and never blocks the hub when ffmpeg stalls", async () => {
    const units = await h264Fixture({ width: 640, height: 360, fps: 30, seconds: 6, gop: 30 });
    const aus = toAccessUnits(units);
    const hub = new StreamHub("s5", {}, 64);
    const dec = newDecoder(hub, { fps: 30, maxHeight: 180, format: "gray8" }, { restartBackoffMinMs: 100, maxStdinBytes: 8 * 1024 });
    const frames: DecodedFrame[] = [];
    dec.subscribe((f) => frames.push(f));
    // the decoder asks for an IDR when its restart backoff is over: that is the event waited on
    const requests: string[] = [];
    hub.setKeyframeRequester((r) => requests.push(r));
    await publish(hub, aus.slice(0, 20));
    await hub.drain();
    const pid1 = dec.stats().pid as number;
    expect(pid1).toBeDefined();
    process.kill(pid1, "SIGKILL");
    await waitFor(() => dec.stats().crashes === 1, { what: "the crash seen" });
    await waitFor(() => requests.includes("decoder restart"), { what: "the restart backoff over" });
    // the backoff is over before unit 20 is published: the next IDR after it is unit 30
    await publish(hub, aus.slice(20, 70));
    await hub.drain();
    const pid2 = dec.stats().pid as number;
    expect(pid2).toBeDefined();
    expect(pid2).not.toBe(pid1);
    await waitFor(() => frames.some((f) => f.rtpTime > 19 * 3000), { what: "a frame after the restart" });
    const resumed = frames.filter((f) => f.rtpTime > 19 * 3000).map((f) => f.rtpTime / 3000);
    expect(resumed[0]).toBe(30); // back at the first IDR after the backoff
    expect(resumed.every((u, i) => i === 0 || u > (resumed[i - 1] as number))).toBe(true);
    // a stalled ffmpeg: its stdin fills, units are dropped and counted, and the hub's reader
    // never waits for it (its queue drains while ffmpeg is stopped)
    process.kill(pid2, "SIGSTOP");
    await publish(hub, aus.slice(70, 130), 60, 0);
    await hub.drain();
    expect(dec.stats().dropped.backpressure).toBeGreaterThan(0);
    process.kill(pid2, "SIGCONT");
    await publish(hub, aus.slice(130));
    hub.close();
    await dec.close();
    // back from the first IDR after the stall, in step (one frame per unit from there on)
    expect(frames.filter((f) => f.rtpTime >= 150 * 3000).map((f) => f.rtpTime / 3000)).toEqual(Array.from({ length: 30 }, (_, i) => 150 + i));
    expect(dec.stats().crashes).toBe(1);
  });
});

describe("StreamDecoder without ffmpeg", () => {
  it("a missing ffmpeg binary is a crash to back off from, not an exception", async () => {
    const units = await h264Fixture({ width: 640, height: 360, fps: 30, seconds: 2, gop: 30 });
    const hub = new StreamHub("s9", {}, 64);
    const dec = newDecoder(hub, { fps: 30, maxHeight: 180, format: "gray8" }, { ffmpegPath: "/nonexistent/ffmpeg", restartBackoffMinMs: 20 });
    await publish(hub, toAccessUnits(units));
    await hub.drain();
    await waitFor(() => dec.stats().crashes >= 2); // tried again at the next IDR, after the backoff
    expect(dec.stats().framesOut).toBe(0);
    hub.close();
    await dec.close();
  });
});

describe("StreamDecoder lag handling (real ffmpeg)", () => {
  it("pauses input for a lagging ffmpeg and goes on with the same process, in step, from the next IDR", async () => {
    const units = await h264Fixture({ width: 640, height: 360, fps: 30, seconds: 3, gop: 30 });
    const ref = await referenceFrames(fixtureFile(640, 360, 3), 320, 180);
    const hub = new StreamHub("s8", {}, 64);
    // lag needs both: more than 10 units written since the FIFO was last empty, for over 200 ms
    const dec = newDecoder(hub, { fps: 30, maxHeight: 180, format: "gray8" }, { desyncUnits: 10, desyncMs: 200 });
    const frames: DecodedFrame[] = [];
    dec.subscribe((f) => frames.push(f));
    const aus = toAccessUnits(units);
    await publish(hub, aus.slice(0, 10));
    await waitFor(() => dec.stats().framesOut >= 9);
    const pid = dec.stats().pid as number;
    process.kill(pid, "SIGSTOP"); // a decoder that falls behind (CPU starved)
    await publish(hub, aus.slice(10, 25), 1, 20);
    process.kill(pid, "SIGCONT");
    await waitFor(() => dec.stats().fifoDepth === 0); // it works through its backlog
    // the rest at the pace the decoder keeps up with: the FIFO empties every 3 units, so a busy
    // machine's slow ffmpeg cannot count as lagging again
    for (let i = 25; i < aus.length; i += 3) {
      await publish(hub, aus.slice(i, i + 3));
      await hub.drain();
      await waitFor(() => dec.stats().fifoDepth === 0, { what: `units up to ${i + 2} decoded` });
    }
    hub.close();
    await dec.close();
    const st = dec.stats();
    expect(st.lagging).toBeGreaterThan(0);
    expect(st).toMatchObject({ restarts: 0, desyncs: 0, crashes: 0 });
    const idx = frames.map((f) => f.rtpTime / 3000);
    expect(idx.filter((i) => i >= 30)).toEqual(Array.from({ length: 60 }, (_, i) => 30 + i)); // resumed at the IDR
    expect(idx.slice(0, 10)).toEqual([...Array(10).keys()]);
    for (const f of frames) expect(f.data.equals(ref[f.rtpTime / 3000] as Buffer)).toBe(true);
  });
});

describe("DecoderManager (real ffmpeg)", () => {
  function liveRegistry() {
    const registry = new StreamRegistry({ maxStreams: 4, readerQueueFrames: 64 });
    const stats = (): StreamStats => ({ protocol: "whip", sessionId: "x", since: 0, state: "live", reconnects: 0, bitrateBps: 0, packetsReceived: 0, packetsLost: 0, framesReceived: 0, framesDropped: 0, keyframeRequests: 0 });
    return { registry, claim: (name: string) => registry.claim(name, "sess", { video: { codec: "h264" } }, stats) };
  }

  it("runs exactly one ffmpeg for a stream with two consumers, each at its own rate; the last unsubscribe ends it", async () => {
    const units = await h264Fixture({ width: 640, height: 360, fps: 30, seconds: 3, gop: 30 });
    const { registry, claim } = liveRegistry();
    const mgr = new DecoderManager(registry, OPTS);
    cleanups.push(() => mgr.close());
    const live = claim("cam");
    registry.announce(live);
    const a: DecodedFrame[] = [];
    const b: DecodedFrame[] = [];
    const subA = mgr.subscribe("cam", (f) => a.push(f), { fps: 5, maxHeight: 180, format: "gray8" });
    const subB = mgr.subscribe("cam", (f) => b.push(f), { fps: 15, maxHeight: 360, format: "rgb24" });
    const aus = toAccessUnits(units);
    await publish(live.hub, aus.slice(0, 45));
    const children = decoderPids();
    expect(children.length).toBe(1);
    expect(mgr.pids()).toEqual(children);
    await publish(live.hub, aus.slice(45));
    await live.hub.drain();
    await waitFor(() => (mgr.stats("cam")?.framesOut ?? 0) >= 44); // ffmpeg keeps 1 in 2 (15 of 30 fps)
    // max of the specs: 640x360 rgb24; A gets it as gray8
    const bAll = b.filter((f) => f.format === "rgb24" && f.width === 640 && f.data.length === 640 * 360 * 3);
    expect(bAll.length).toBe(b.length);
    expect(a.every((f) => f.format === "gray8" && f.data.length === 640 * 360)).toBe(true);
    expect(Math.abs(b.length - 45)).toBeLessThanOrEqual(1);
    expect(Math.abs(a.length - 15)).toBeLessThanOrEqual(1);
    expect(decoderPids().length).toBe(1);
    subA.unsubscribe();
    expect(mgr.pids().length).toBe(1);
    const pid = mgr.pids()[0] as number;
    subB.unsubscribe();
    await waitFor(() => !processExists(pid));
    expect(mgr.stats("cam")).toBeUndefined();
  });

  it("starts lazily, ends with the stream (child reaped), and starts again for the same consumer on reconnect", async () => {
    const units = await h264Fixture({ width: 640, height: 360, fps: 30, seconds: 2, gop: 30 });
    const { registry, claim } = liveRegistry();
    const mgr = new DecoderManager(registry, OPTS);
    cleanups.push(() => mgr.close());
    const frames: DecodedFrame[] = [];
    const sub = mgr.subscribe("cam", (f) => frames.push(f), { fps: 30, maxHeight: 180, format: "gray8" });
    cleanups.push(() => sub.unsubscribe());
    expect(mgr.pids()).toEqual([]); // not live yet: nothing to decode
    const live1 = claim("cam");
    registry.announce(live1);
    await publish(live1.hub, toAccessUnits(units.slice(0, 30)));
    const pid1 = mgr.pids()[0] as number;
    expect(pid1).toBeGreaterThan(0);
    registry.release(live1);
    await waitFor(() => !processExists(pid1)); // exited and reaped: not even a zombie
    expect(frames.length).toBe(30); // the stream's end flushed the last frames
    const live2 = claim("cam");
    registry.announce(live2);
    await publish(live2.hub, toAccessUnits(units.slice(30, 60)));
    const pid2 = mgr.pids()[0] as number;
    expect(pid2).not.toBe(pid1);
    registry.release(live2);
    await waitFor(() => !processExists(pid2));
    expect(frames.length).toBe(60);
    expect(frames[30]).toMatchObject({ rtpTime: 0, keyframe: true }); // the new publisher's timeline
  });
});
