/**
 * Recording upload to MinIO with 8 concurrent 720p30 streams (the recorder's real segmenter,
 * writer and spooling upload queue, fed from a libx264 fixture; no WebRTC in the way).
 *  - burst: 8 × N s of video handed over at once → upload throughput (MB/s);
 *  - live: 8 streams paced at 30 fps for N s → upload lag p50/p95/p99 (accepted → in MinIO).
 *   npx tsx bench/upload.ts [seconds=20]   (--short: 5 s)
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { pino } from "pino";
import { MinioObjectStore } from "../src/adapters/storage/minio-object-store.js";
import { SpoolingObjectStore } from "../src/adapters/storage/spooling-object-store.js";
import { nalType } from "../src/media/h264-nal.js";
import type { VideoAccessUnit } from "../src/media/types.js";
import { RecordingWriter } from "../src/recorder/recording-writer.js";
import { Segmenter } from "../src/recorder/segmenter.js";
import { h264Fixture } from "../test/support/h264-fixtures.js";
import { startMinio } from "../test/support/minio-server.js";
import { machine, numArg, sleep, writeResults } from "./lib/results.js";
import { pct } from "./lib/stats.js";

const seconds = numArg(0, 20, 5);
const m = machine();
const STREAMS = 8;
const units = await h264Fixture({ width: 1280, height: 720, fps: 30, seconds, gop: 30 });
const minio = await startMinio();
const scratch = await mkdtemp(path.join(tmpdir(), "ifc-upbench-"));
const log = pino({ level: "silent" });

function unit(i: number): VideoAccessUnit {
  const u = units[i % units.length]!;
  const sps = u.nalus.find((n) => nalType(n) === 7);
  const pps = u.nalus.find((n) => nalType(n) === 8);
  const now = Date.now();
  return { kind: "video", codec: "h264", nalus: u.nalus, isKeyframe: u.isKeyframe, rtpTime: i * 3000, arrivalMs: now, wallClockMs: now, ...(sps ? { sps } : {}), ...(pps ? { pps } : {}) };
}

async function run(mode: "burst" | "live"): Promise<Record<string, string | number | null>> {
  const s3 = new MinioObjectStore({ url: minio.url, accessKey: minio.accessKey, secretKey: minio.secretKey, bucket: `ifc-bench-${mode}`, region: "us-east-1", pathStyle: true });
  await s3.init();
  const spool = new SpoolingObjectStore(s3, { spoolDir: path.join(scratch, mode), maxQueueBytes: 256 * 1024 * 1024, concurrency: 4, minBackoffMs: 1000, maxBackoffMs: 60_000, isBarrier: (k) => k.endsWith("/manifest.json") });
  await spool.init();
  const pipes = Array.from({ length: STREAMS }, (_, n) => {
    const writer = new RecordingWriter(spool, `bench${n}`, `rec-${mode}`, Date.now(), log);
    const seg = new Segmenter({ segmentDurationMs: 4000, partDurationMs: 1000, keyframeRequestLeadMs: 300, maxSegmentDurationMs: 20_000 }, {
      init: (o) => writer.init(o), part: (o) => writer.part(o), segmentClosed: (o) => writer.segmentClosed(o), requestKeyframe: () => undefined,
    });
    return { writer, seg };
  });
  const t0 = Date.now();
  if (mode === "burst") {
    for (let i = 0; i < units.length; i++) for (const p of pipes) p.seg.video(unit(i));
  } else {
    for (let i = 0; i < units.length; i++) {
      for (const p of pipes) p.seg.video(unit(i));
      const due = t0 + ((i + 1) * 1000) / 30;
      await sleep(Math.max(0, due - Date.now()));
    }
  }
  for (const p of pipes) p.seg.finish();
  await Promise.all(pipes.map((p) => p.writer.close(Date.now())));
  await spool.flush();
  const elapsed = (Date.now() - t0) / 1000;
  const bytes = pipes.reduce((n, p) => n + p.writer.stats.bytesWritten, 0);
  const lags = spool.takeLags();
  return {
    mode,
    streams: STREAMS,
    "video s per stream": seconds,
    "MB uploaded": (bytes / 1e6).toFixed(1),
    "wall s": elapsed.toFixed(1),
    "MB/s": (bytes / 1e6 / elapsed).toFixed(1),
    "lag p50 ms": pct(lags, 50),
    "lag p95 ms": pct(lags, 95),
    "lag p99 ms": pct(lags, 99),
  };
}

try {
  const rows = [await run("burst"), await run("live")];
  console.log(`upload bench: ${STREAMS} × 1280x720@30 (${units.length} frames each) into MinIO on loopback, 4 uploads in flight`);
  console.table(rows);
  console.log(`wrote ${await writeResults("upload", m, { seconds, rows })}`);
} finally {
  await minio.stop();
  await rm(scratch, { recursive: true, force: true });
}
