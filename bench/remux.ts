/**
 * Remux cost per stream: RTP packets of a 720p30 H.264 stream (libx264, 1 s GOP) through the
 * depacketizer and the segmenter into fMP4 parts, as the server does for each publisher.
 * Reports CPU ms per second of video (median of runs) and bytes written per second of video,
 * with and without the embedded file-system store, and those bytes over the H.264 the stream
 * carried (the fMP4 overhead: init segment, moof/mdat headers, AVCC length prefixes, and with
 * the store the manifest).
 *   npx tsx bench/remux.ts [seconds=60] [runs=5]   (--short: 10 s, 2 runs)
 */
import { mkdtemp, rm } from "node:fs/promises";
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
import { machine, numArg, writeResults } from "./lib/results.js";
import { median, round } from "./lib/stats.js";

const seconds = numArg(0, 60, 10);
const runs = numArg(1, 5, 2);
const fps = 30;
const m = machine();

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
/** The H.264 the stream carries (NAL units, without start codes or length prefixes). */
const mediaBytes = units.reduce((n, u) => n + u.nalus.reduce((k, x) => k + x.length, 0), 0);
const bitrate = (mediaBytes * 8) / videoSeconds;

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

const rows: Record<string, string | number | null>[] = [];
for (const withStore of [false, true]) {
  await run(withStore); // warm-up
  const results = [];
  for (let i = 0; i < runs; i++) results.push(await run(withStore));
  const cpu = results.map((r) => r.cpuMsPerVideoSecond);
  const bytesPerS = median(results.map((r) => r.bytesPerVideoSecond)) ?? 0;
  const cpuMedian = median(cpu);
  rows.push({
    pipeline: withStore ? "depacketize+remux+fs store" : "depacketize+remux",
    "CPU ms per s of 720p30 (median)": round(cpuMedian, 2),
    "min": round(Math.min(...cpu), 2),
    "max": round(Math.max(...cpu), 2),
    "bytes per s of video": Math.round(bytesPerS),
    "bytes written / H.264 bytes": round((bytesPerS * videoSeconds) / mediaBytes, 4),
    "streams per core (est.)": cpuMedian ? Math.floor(1000 / cpuMedian) : null,
  });
}
console.log(`remux bench: ${units.length} frames (${videoSeconds} s of 1280x720@${fps}, ${(bitrate / 1e6).toFixed(2)} Mbit/s), ${packets.length} RTP packets, ${runs} runs`);
console.table(rows);
console.log(`wrote ${await writeResults("remux", m, { videoSeconds, runs, bitrateBps: Math.round(bitrate), h264Bytes: mediaBytes, rows })}`);
