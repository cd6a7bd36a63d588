/**
 * Remux cost per stream: RTP packets of a 720p30 H.264 stream (libx264, 1 s GOP) through the
 * depacketizer and the segmenter into fMP4 parts, as the server does for each publisher.
 * Reports CPU ms per second of video (median of runs) and bytes written per second of video,
 * with and without the embedded file-system store.
 *   npx tsx bench/remux.ts [seconds=60] [runs=5]
 */
import { mkdtemp, rm, writeFile, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { pino } from "pino";
import { H264Packetizer } from "werift";
import { FsObjectStore } from "../src/adapters/storage/fs-object-store.js";
import { H264Depacketizer } from "../src/media/h264-depacketizer.js";
import { RecordingWriter } from "../src/recorder/recording-writer.js";
import { Segmenter, type SegmenterSink } from "../src/recorder/segmenter.js";
import { toAnnexB } from "../src/media/h264-nal.js";
import { h264Fixture } from "../test/support/h264-fixtures.js";

const seconds = Number(process.argv[2] ?? 60);
const runs = Number(process.argv[3] ?? 5);
const fps = 30;

const units = await h264Fixture({ width: 1280, height: 720, fps, seconds, gop: fps });
const packetizer = new H264Packetizer({ maxPayloadSize: 1200 });
const packets: { seq: number; ts: number; marker: boolean; payload: Buffer }[] = [];
let seq = 0;
units.forEach((u, i) => {
  for (const p of packetizer.packetize(toAnnexB(u.nalus), i * 3000)) {
    packets.push({ seq: seq++ & 0xffff, ts: (i * 3000) >>> 0, marker: p.header.marker, payload: p.payload });
  }
});
const videoSeconds = units.length / fps;

function median(xs: number[]): number {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.floor(s.length / 2)] as number;
}

async function run(withStore: boolean): Promise<{ cpuMsPerVideoSecond: number; bytesPerVideoSecond: number }> {
  const dir = await mkdtemp(path.join(tmpdir(), "ifc-bench-"));
  const store = new FsObjectStore(dir);
  await store.init();
  const writer = new RecordingWriter(store, "bench", "rec", Date.now(), pino({ level: "silent" }));
  let bytes = 0;
  const sink: SegmenterSink = withStore
    ? { init: (o) => writer.init(o), part: (o) => writer.part(o), segmentClosed: (o) => writer.segmentClosed(o), requestKeyframe: () => undefined }
    : { init: (o) => (bytes += o.data.length), part: (o) => (bytes += o.data.length), segmentClosed: () => undefined, requestKeyframe: () => undefined };
  const segmenter = new Segmenter({ segmentDurationMs: 4000, partDurationMs: 1000, keyframeRequestLeadMs: 300, maxSegmentDurationMs: 20000 }, sink);
  const depacketizer = new H264Depacketizer({
    onAccessUnit: (au) => segmenter.video(au),
    onKeyframeNeeded: () => undefined,
    onParameterSetsChanged: () => undefined,
  });
  const t0 = process.cpuUsage();
  const now = Date.now();
  for (const p of packets) depacketizer.push(p.seq, p.ts, p.marker, p.payload, now);
  segmenter.finish();
  if (withStore) {
    await writer.close(Date.now());
    bytes = writer.stats.bytesWritten;
  }
  const cpu = process.cpuUsage(t0);
  await rm(dir, { recursive: true, force: true });
  return { cpuMsPerVideoSecond: (cpu.user + cpu.system) / 1000 / videoSeconds, bytesPerVideoSecond: bytes / videoSeconds };
}

const rows: Record<string, string | number>[] = [];
for (const withStore of [false, true]) {
  await run(withStore); // warm-up
  const results = [];
  for (let i = 0; i < runs; i++) results.push(await run(withStore));
  rows.push({
    pipeline: withStore ? "depacketize+remux+fs store" : "depacketize+remux",
    "CPU ms per s of 720p30 (median)": median(results.map((r) => r.cpuMsPerVideoSecond)).toFixed(2),
    "min": Math.min(...results.map((r) => r.cpuMsPerVideoSecond)).toFixed(2),
    "max": Math.max(...results.map((r) => r.cpuMsPerVideoSecond)).toFixed(2),
    "bytes per s of video": Math.round(median(results.map((r) => r.bytesPerVideoSecond))),
    "streams per core (est.)": Math.floor(1000 / median(results.map((r) => r.cpuMsPerVideoSecond))),
  });
}
const bitrate = (units.reduce((n, u) => n + u.nalus.reduce((k, x) => k + x.length, 0), 0) * 8) / videoSeconds;
console.log(`remux bench: ${units.length} frames (${videoSeconds} s of 1280x720@${fps}, ${(bitrate / 1e6).toFixed(2)} Mbit/s), ${packets.length} RTP packets, ${runs} runs`);
console.table(rows);
await mkdir(path.resolve(import.meta.dirname, "results"), { recursive: true });
await writeFile(path.resolve(import.meta.dirname, "results/remux.json"), JSON.stringify({ date: new Date().toISOString(), node: process.version, videoSeconds, bitrateBps: Math.round(bitrate), rows }, null, 2));
