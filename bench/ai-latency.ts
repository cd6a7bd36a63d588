/**
 * Decode-once AI feed latency, server in its own process (as deployed), worker in another:
 *  - ingest → worker: arrival of a frame's last RTP packet at the server → the worker received
 *    the frame (the worker reports `received_at_ms`; one host, one clock), p50/p95/p99;
 *  - its parts: decode (last packet → frame out of ffmpeg) and to_worker (→ written to gRPC);
 *  - decoder CPU per stream (the ffmpeg children's utime+stime) and server CPU;
 * at 720p30 and 1080p30 for 1, 4 and 8 streams. Publishers send pre-encoded H.264 as it is
 * (no encoder in the loop), the worker runs no detectors (it measures the feed, not jsQR), QoS
 * is pinned at `high` (30 fps, no scaling), so an overloaded machine shows as latency and
 * dropped frames rather than as a lower preset.
 * Each row also keeps why frames did not arrive: worker calls failed (result deadline), the
 * worker's breaker state, per-stream results.
 *   npx tsx bench/ai-latency.ts [seconds=15] [streams=1,4,8] [sizes=720,1080]   (--short: 5 s, 1,8 streams, 1080)
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { pino } from "pino";
import WebSocket from "ws";
import { spawnReferenceWorker } from "../src/worker/spawn-worker.js";
import { publishTestStream } from "../test/helpers/publish-test-stream.js";
import { spawnServer } from "../test/support/server-harness.js";
import { cpuMs, decoderPids } from "./lib/proc.js";
import { listArg, machine, numArg, sleep, writeResults } from "./lib/results.js";
import { pct, round } from "./lib/stats.js";

const seconds = numArg(0, 15, 5);
const streamCounts = listArg(1, [1, 4, 8], [1, 8]);
const sizes = listArg(2, [720, 1080], [1080]);
const WARMUP_MS = 4000;
const run = promisify(execFile);
const m = machine();

interface AiStats {
  state: string;
  preset: string;
  framesOffered: number;
  framesSent: number;
  framesDropped: number;
  results: number;
  reconnects: number;
}

const scratch = await mkdtemp(path.join(tmpdir(), "ifc-ai-bench-"));
const worker = await spawnReferenceWorker({ capacityFps: 1000, maxFrameBytes: 64 << 20, detectors: "none", log: pino({ level: "silent" }) });
const rows: Record<string, unknown>[] = [];
try {
  for (const height of sizes) {
    const width = Math.round((height * 16) / 9 / 2) * 2;
    // MPEG-TS: x264 then repeats SPS/PPS in-band before every IDR, which RTP (copied) must carry.
    const clip = path.join(scratch, `clip-${height}.ts`);
    await run("ffmpeg", ["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", `testsrc2=size=${width}x${height}:rate=30`, "-t", "10",
      "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-bf", "0", "-g", "30", "-keyint_min", "30", "-sc_threshold", "0", "-pix_fmt", "yuv420p", "-b:v", height >= 1080 ? "6M" : "3M", clip]);
    for (const n of streamCounts) {
      const server = await spawnServer({
        IFC_AI_ENABLED: "true",
        IFC_AI_WORKERS: worker.address,
        IFC_AI_MAX_PRESET: "high",
        IFC_QOS_STEP_DOWN_AFTER_MS: "3600000",
        IFC_RECORD: "false",
      });
      const pid = server.child.pid as number;
      const samples: { received: number[]; decode: number[]; toWorker: number[] } = { received: [], decode: [], toWorker: [] };
      let measuring = false;
      const sockets: WebSocket[] = [];
      try {
        const pubs = await Promise.all(Array.from({ length: n }, (_, i) =>
          publishTestStream(`${server.url}/whip/s${i}`, { width, height, fps: 30, gopSeconds: 1, durationSeconds: seconds + 8, audio: false, input: clip, videoCopy: true, connectTimeoutMs: 60_000 })));
        for (let i = 0; i < n; i++) {
          const ws = new WebSocket(`${server.url.replace("http", "ws")}/ws/streams/s${i}/detections`);
          ws.on("message", (d: Buffer) => {
            if (!measuring) return;
            const e = JSON.parse(d.toString()) as { latency_ms: { workerReceivedMs?: number; decodeMs: number; toWorkerMs: number } };
            if (e.latency_ms.workerReceivedMs !== undefined) samples.received.push(e.latency_ms.workerReceivedMs);
            samples.decode.push(e.latency_ms.decodeMs);
            samples.toWorker.push(e.latency_ms.toWorkerMs);
          });
          sockets.push(ws);
        }
        await sleep(WARMUP_MS); // past start-up and the first IDR
        const decoders = decoderPids(pid);
        const cpu0 = cpuMs(pid);
        const dec0 = decoders.map(cpuMs);
        const t0 = Date.now();
        measuring = true;
        await sleep(seconds * 1000);
        measuring = false;
        const wallS = (Date.now() - t0) / 1000;
        const serverCpu = cpuMs(pid) - cpu0;
        const decCpu = decoders.map(cpuMs).reduce((a, b, i) => a + b - (dec0[i] ?? 0), 0);
        const ai = await Promise.all(Array.from({ length: n }, async (_, i) => (await (await fetch(`${server.url}/api/v1/streams/s${i}/ai`)).json()) as AiStats));
        const workers = (await (await fetch(`${server.url}/api/v1/ai/workers`)).json()) as { workers: { breaker: string }[] };
        await Promise.all(pubs.map((p) => p.stop()));
        const log = server.output();
        const row = {
          "video": `${height}p30`,
          "streams": n,
          "frames to worker /s": round(samples.received.length / wallS, 0),
          "ingest→worker p50 ms": round(pct(samples.received, 50)),
          "p95 ms": round(pct(samples.received, 95)),
          "p99 ms": round(pct(samples.received, 99)),
          "decode p50 ms": round(pct(samples.decode, 50)),
          "decode p95 ms": round(pct(samples.decode, 95)),
          "decoder CPU ms/s per stream": round(decCpu / wallS / Math.max(1, decoders.length), 0),
          "server CPU % core": round((serverCpu / (wallS * 1000)) * 100, 0),
          "dropped (credits)": ai.reduce((k, a) => k + a.framesDropped, 0),
          "decoders": decoders.length,
          // why frames did not arrive, when they did not
          "worker calls failed": (log.match(/"msg":"AI worker stream failed"/g) ?? []).length,
          "breaker": workers.workers.map((w) => w.breaker).join(","),
        };
        rows.push({ ...row, perStream: ai.map((a) => ({ state: a.state, preset: a.preset, offered: a.framesOffered, sent: a.framesSent, results: a.results, reconnects: a.reconnects })), failures: [...new Set(log.match(/"err":"[^"]*"/g) ?? [])].slice(0, 5) });
        console.log(JSON.stringify(row));
      } finally {
        for (const ws of sockets) ws.close();
        server.child.kill("SIGTERM");
        await server.exited;
        await rm(server.dataDir, { recursive: true, force: true });
      }
    }
  }
  console.log(`ai-latency bench: ${seconds} s per run; H.264 sent as is (no encoder in the loop); worker without detectors; QoS pinned high`);
  console.table(rows.map(({ perStream: _p, failures: _f, ...r }) => r));
  console.log(`wrote ${await writeResults("ai-latency", m, { seconds, rows })}`);
} finally {
  await worker.stop();
  await rm(scratch, { recursive: true, force: true });
}
