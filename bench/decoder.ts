/**
 * The single decoder per stream: ffmpeg child CPU per stream and latency from an access unit
 * entering the stream's hub to its decoded frame leaving the decoder (GRAY8 at the source size,
 * every frame kept), at 720p30 and 1080p30 for 1 and 4 streams published in real time (libx264
 * High, 1 s GOP, no B-frames; streams staggered as independent cameras are). Percentiles leave
 * out each run's first 3 s (start-up backlog: process start, probing, first IDR); the slowest
 * first frame is its own column.
 *   npx tsx bench/decoder.ts [seconds=10]   (--short: 4 s, 1 stream at each size)
 * With IFC_BENCH_NODE_AV=<path to an installed node-av package> the same runs are made with an
 * in-process libavcodec decoder (node-av, async API on libuv's thread pool) for comparison.
 * node-av is not a dependency of the project (see the README on why the decoder stays an ffmpeg
 * child); install it outside the repository, at the version the results file names:
 *   mkdir -p /tmp/ifc-nodeav && npm install --prefix /tmp/ifc-nodeav node-av@6.1.1
 *   IFC_BENCH_NODE_AV=/tmp/ifc-nodeav/node_modules/node-av npx tsx bench/decoder.ts
 */
import { readFileSync } from "node:fs";
import path from "node:path";
import { pino } from "pino";
import { StreamHub } from "../src/core/stream-hub.js";
import { accessUnitToAnnexB } from "../src/extractor/annexb-writer.js";
import { nowMs, type DecodedFrame } from "../src/extractor/decoded-frame.js";
import { StreamDecoder } from "../src/extractor/stream-decoder.js";
import { NAL_TYPE, nalType } from "../src/media/h264-nal.js";
import type { VideoAccessUnit } from "../src/media/types.js";
import { h264Fixture } from "../test/support/h264-fixtures.js";
import { ProcessCpu } from "./lib/proc.js";
import { machine, numArg, SHORT, sleep, writeResults } from "./lib/results.js";
import { max, pct, round } from "./lib/stats.js";

const seconds = numArg(0, 10, 4);
const fps = 30;
/** Percentiles leave out each run's first seconds (start-up backlog); fewer in a short run. */
const WARMUP_TICKS = (SHORT ? 1 : 3) * 90_000;
const log = pino({ level: "silent" });
const m = machine();

interface Row {
  decoder: string;
  video: string;
  streams: number;
  "CPU ms per s per stream": number | null;
  "CPU % of a core per stream": number | null;
  "p50 ms": number | null;
  "p95 ms": number | null;
  "p99 ms": number | null;
  "max ms": number | null;
  "first frame ms": number | null;
  "frames out/in": string;
  "units dropped": number;
  "node CPU ms per s": number | null;
}

function accessUnits(units: { nalus: Uint8Array[]; isKeyframe: boolean }[]): VideoAccessUnit[] {
  let sps: Uint8Array | undefined;
  let pps: Uint8Array | undefined;
  return units.map((u, i) => {
    sps = u.nalus.find((n) => nalType(n) === NAL_TYPE.SPS) ?? sps;
    pps = u.nalus.find((n) => nalType(n) === NAL_TYPE.PPS) ?? pps;
    return { kind: "video", codec: "h264", isKeyframe: u.isKeyframe, rtpTime: i * 3000, arrivalMs: 0, wallClockMs: 0, nalus: u.nalus, ...(u.isKeyframe ? { sps, pps } : {}) };
  });
}

/** Publishes every stream's units in real time, stream k offset by k/streams of a frame interval. */
async function publishRealtime(hubs: StreamHub[], aus: VideoAccessUnit[]): Promise<void> {
  const interval = 1000 / fps;
  const t0 = performance.now() + 50;
  const events: { at: number; hub: StreamHub; au: VideoAccessUnit }[] = [];
  aus.forEach((au, i) => hubs.forEach((hub, k) => events.push({ at: t0 + i * interval + (k * interval) / hubs.length, hub, au })));
  events.sort((a, b) => a.at - b.at);
  for (const e of events) {
    // No spinning (it would be counted as Node CPU): latency is measured from the actual publish time.
    const wait = e.at - performance.now();
    if (wait > 0.5) await sleep(wait);
    const now = nowMs();
    e.hub.publish({ ...e.au, arrivalMs: now, wallClockMs: now });
  }
}

interface Sink {
  /** Steady state: frames after the warm-up (the decoder's start-up is reported apart). */
  latencies: number[];
  /** Latency of each stream's first frame (process start, first IDR). */
  firstFrame: number[];
  framesOut: number;
  dropped: number;
}

function newSink(): Sink {
  return { latencies: [], firstFrame: [], framesOut: 0, dropped: 0 };
}

function record(sink: Sink, rtpTime: number, latency: number, first: boolean): void {
  if (first) sink.firstFrame.push(latency);
  if (rtpTime >= WARMUP_TICKS) sink.latencies.push(latency);
  sink.framesOut++;
}

async function runFfmpeg(aus: VideoAccessUnit[], width: number, height: number, streams: number, outFps: number): Promise<Row> {
  const hubs = Array.from({ length: streams }, (_, k) => new StreamHub(`b${k}`, {}, 64));
  const sink = newSink();
  const decoders = hubs.map((hub) => {
    const d = new StreamDecoder(hub, { fps: outFps, maxHeight: height, format: "gray8" }, { ffmpegPath: "ffmpeg", log });
    let first = true;
    d.subscribe((f: DecodedFrame) => {
      record(sink, f.rtpTime, f.decodedAtMs - f.arrivalMs, first);
      first = false;
    });
    return d;
  });
  const childCpu = new ProcessCpu();
  const sampler = setInterval(() => childCpu.sample(decoders.flatMap((d) => d.stats().livePids)), 200);
  const cpu0 = process.cpuUsage();
  await publishRealtime(hubs, aus);
  await sleep(300); // the measurement tail: frames still in the decoders come out (a drop would never arrive, so no wait on a count)
  clearInterval(sampler);
  childCpu.sample(decoders.flatMap((d) => d.stats().livePids));
  const cpu = process.cpuUsage(cpu0);
  const stats = decoders.map((d) => d.stats());
  for (const h of hubs) h.close();
  await Promise.all(decoders.map((d) => d.close()));
  const restarts = stats.reduce((n, s) => n + s.restarts + s.crashes + s.desyncs + s.decodeErrors, 0);
  if (restarts) console.error(`warning: ${restarts} decoder restarts/resyncs during the run`);
  sink.dropped = stats.reduce((n, s) => n + s.dropped.backpressure + s.dropped.hubQueue + s.dropped.waitingForIdr, 0);
  return row(`ffmpeg child, ${outFps} fps out`, width, height, streams, aus.length, sink, childCpu.totalMs, (cpu.user + cpu.system) / 1000);
}

function row(decoder: string, width: number, height: number, streams: number, units: number, sink: Sink, decoderCpuMs: number, nodeCpuMs: number): Row {
  const videoSeconds = units / fps;
  const l = sink.latencies;
  return {
    decoder,
    video: `${width}x${height}@${fps}`,
    streams,
    "CPU ms per s per stream": round(decoderCpuMs / videoSeconds / streams),
    "CPU % of a core per stream": round(decoderCpuMs / videoSeconds / streams / 10),
    "p50 ms": round(pct(l, 50), 2),
    "p95 ms": round(pct(l, 95), 2),
    "p99 ms": round(pct(l, 99), 2),
    "max ms": round(max(l)),
    "first frame ms": round(max(sink.firstFrame), 0),
    "frames out/in": `${sink.framesOut}/${units * streams}`,
    "units dropped": sink.dropped,
    "node CPU ms per s": round(nodeCpuMs / videoSeconds),
  };
}

// ---- node-av (optional) ----

interface NodeAvModule {
  Codec: { findDecoder(id: number): unknown };
  CodecContext: new () => {
    allocContext3(codec: unknown): void;
    threadCount: number;
    flags: number;
    open2(codec?: unknown): Promise<number>;
    sendPacket(p: unknown): Promise<number>;
    receiveFrame(f: unknown): Promise<number>;
    freeContext(): void;
  };
  Packet: new () => { alloc(): void; data: Buffer | null; unref(): void; free(): void };
  Frame: new () => { alloc(): void; data: Buffer[] | null; linesize: number[]; width: number; height: number; unref(): void; free(): void };
  AV_CODEC_ID_H264: number;
  AV_CODEC_FLAG_LOW_DELAY: number;
}

async function runNodeAv(av: NodeAvModule, aus: VideoAccessUnit[], width: number, height: number, streams: number): Promise<Row> {
  const hubs = Array.from({ length: streams }, (_, k) => new StreamHub(`n${k}`, {}, 64));
  const sink = newSink();
  const codec = av.Codec.findDecoder(av.AV_CODEC_ID_H264);
  const ctxs = await Promise.all(
    hubs.map(async (hub) => {
      const ctx = new av.CodecContext();
      ctx.allocContext3(codec);
      ctx.threadCount = 1;
      ctx.flags = av.AV_CODEC_FLAG_LOW_DELAY;
      if ((await ctx.open2(codec)) < 0) throw new Error("open2 failed");
      const pkt = new av.Packet();
      pkt.alloc();
      const frame = new av.Frame();
      frame.alloc();
      let first = true;
      // The hub holds this reader's next unit until the promise settles: in order, one at a time.
      hub.attach("node-av", async (m) => {
        if (m.kind !== "video") return;
        pkt.data = accessUnitToAnnexB(m);
        await ctx.sendPacket(pkt);
        pkt.unref();
        while ((await ctx.receiveFrame(frame)) >= 0) {
          // GRAY8 at the source size: the luma plane, rows copied out of their stride.
          const w = frame.width;
          const h = frame.height;
          const y = (frame.data as Buffer[])[0] as Buffer;
          const stride = frame.linesize[0] as number;
          const out = Buffer.allocUnsafe(w * h);
          for (let r = 0; r < h; r++) y.copy(out, r * w, r * stride, r * stride + w);
          frame.unref();
          record(sink, m.rtpTime, nowMs() - m.arrivalMs, first);
          first = false;
        }
      });
      return { ctx, pkt, frame };
    }),
  );
  const cpu0 = process.cpuUsage();
  await publishRealtime(hubs, aus);
  await Promise.all(hubs.map((h) => h.drain()));
  const cpu = process.cpuUsage(cpu0);
  for (const h of hubs) h.close();
  for (const c of ctxs) {
    c.ctx.freeContext();
    c.pkt.free();
    c.frame.free();
  }
  const cpuMs = (cpu.user + cpu.system) / 1000;
  return row("node-av in-process, 30 fps out", width, height, streams, aus.length, sink, cpuMs, cpuMs);
}

// Every frame out (the worst case, and what node-av is compared on), then the decimated outputs
// of the QoS presets' rates (ffmpeg keeps 1 frame in 2 or 3 before converting and piping).
const configs = SHORT
  ? [
      { width: 1280, height: 720, streams: 1, outFps: 30 },
      { width: 1920, height: 1080, streams: 1, outFps: 30 },
    ]
  : [
      { width: 1280, height: 720, streams: 1, outFps: 30 },
      { width: 1280, height: 720, streams: 4, outFps: 30 },
      { width: 1280, height: 720, streams: 4, outFps: 8 },
      { width: 1920, height: 1080, streams: 1, outFps: 30 },
      { width: 1920, height: 1080, streams: 4, outFps: 30 },
      { width: 1920, height: 1080, streams: 4, outFps: 15 },
    ];
const fixtures = new Map<number, VideoAccessUnit[]>();
for (const c of configs) {
  if (!fixtures.has(c.height)) fixtures.set(c.height, accessUnits(await h264Fixture({ width: c.width, height: c.height, fps, seconds, gop: fps })));
}

let nodeAv: NodeAvModule | undefined;
let nodeAvVersion: string | null = null;
let nodeAvError: string | undefined;
if (process.env.IFC_BENCH_NODE_AV) {
  const dir = path.resolve(process.env.IFC_BENCH_NODE_AV);
  try {
    nodeAv = (await import(path.join(dir, "dist/index.js"))) as NodeAvModule;
    nodeAvVersion = (JSON.parse(readFileSync(path.join(dir, "package.json"), "utf8")) as { version: string }).version;
  } catch (err) {
    nodeAvError = (err as Error).message;
  }
}

const rows: Row[] = [];
for (const c of configs) {
  const aus = fixtures.get(c.height) as VideoAccessUnit[];
  rows.push(await runFfmpeg(aus, c.width, c.height, c.streams, c.outFps));
  if (nodeAv && c.outFps === fps) rows.push(await runNodeAv(nodeAv, aus, c.width, c.height, c.streams));
}
console.log(`decoder bench: ${seconds} s per run, real-time publishing, GRAY8 at source size; ${m.node}, ${m.nproc} CPUs, load average before ${m.loadAverage1m5m15m.join(" ")}`);
console.table(rows);
if (nodeAvError) console.log(`node-av not measured: ${nodeAvError}`);
// The comparison, when made, gets its own file: decoder.json always comes from the project's dependencies alone.
const ffmpegRows = rows.filter((r) => r.decoder.startsWith("ffmpeg"));
console.log(`wrote ${await writeResults("decoder", m, { seconds, rows: ffmpegRows })}`);
if (nodeAv) {
  console.log(`wrote ${await writeResults("decoder-node-av", m, { seconds, nodeAv: { version: nodeAvVersion, install: `npm install --prefix /tmp/ifc-nodeav node-av@${nodeAvVersion}` }, rows })}`);
}
