/**
 * Decode-once AI feed latency, server in its own process (as deployed), worker in another:
 *  - ingest → worker: arrival of a frame's last RTP packet at the server → the worker received
 *    the frame (the worker reports `received_at_ms`; one host, one clock), p50/p95/p99;
 *  - its parts: decode (last packet → frame out of ffmpeg) and to_worker (→ written to gRPC);
 *  - decoder CPU per stream (the ffmpeg children's utime+stime) and server CPU;
 * at 720p30 and 1080p30 for 1, 4 and 8 streams. Publishers send pre-encoded H.264 as it is
 * (no encoder in the loop), the worker runs no detectors (it measures the feed, not jsQR), QoS
 * is pinned at `high` (30 fps, no scaling).
 *   npx tsx bench/ai-latency.ts [seconds=15] [streams=1,4,8] [sizes=720,1080]
 */
import { execFile } from "node:child_process";
import { mkdir, mkdtemp, readFile, readdir, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { pino } from "pino";
import WebSocket from "ws";
import { spawnReferenceWorker } from "../src/worker/spawn-worker.js";
import { publishTestStream } from "../test/helpers/publish-test-stream.js";
import { spawnServer } from "../test/support/server-harness.js";

const seconds = Number(process.argv[2] ?? 15);
const streamCounts = (process.argv[3] ?? "1,4,8").split(",").map(Number);
const sizes = (process.argv[4] ?? "720,1080").split(",").map(Number);
const CLK_TCK = 100;
const run = promisify(execFile);

async function cpuMs(pid: number): Promise<number> {
  try {
    const fields = (await readFile(`/proc/${pid}/stat`, "utf8")).split(") ")[1]?.split(" ") ?? [];
    return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK;
  } catch {
    return 0;
  }
}

async function decoderPids(parent: number): Promise<number[]> {
  const out: number[] = [];
  for (const e of await readdir("/proc")) {
    if (!/^\d+$/.test(e)) continue;
    try {
      const stat = await readFile(`/proc/${e}/stat`, "utf8");
      if (Number(stat.slice(stat.lastIndexOf(")") + 2).split(" ")[1]) !== parent) continue;
      const argv = (await readFile(`/proc/${e}/cmdline`, "utf8")).split("\0");
      if (argv[0]?.includes("ffmpeg") && argv.includes("pipe:0")) out.push(Number(e));
    } catch {
      // gone
    }
  }
  return out;
}

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length ? (s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] as number) : NaN;
};

const scratch = await mkdtemp(path.join(tmpdir(), "ifc-ai-bench-"));
const worker = await spawnReferenceWorker({ capacityFps: 1000, maxFrameBytes: 64 << 20, detectors: "none", log: pino({ level: "silent" }) });
const rows: Record<string, string | number>[] = [];
const raw: Record<string, unknown>[] = [];
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
        IFC_LOG_LEVEL: "warn",
      });
      const pid = server.child.pid as number;
      const samples: { received: number[]; decode: number[]; toWorker: number[] } = { received: [], decode: [], toWorker: [] };
      let measuring = false;
      const sockets: WebSocket[] = [];
      try {
        const pubs = await Promise.all(Array.from({ length: n }, (_, i) =>
          publishTestStream(`${server.url}/whip/s${i}`, { width, height, fps: 30, gopSeconds: 1, durationSeconds: seconds + 8, audio: false, input: clip, videoCopy: true })));
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
        await new Promise((r) => setTimeout(r, 4000)); // past start-up and the first IDR
        const decoders = await decoderPids(pid);
        const cpu0 = await cpuMs(pid);
        const dec0 = await Promise.all(decoders.map(cpuMs));
        const t0 = Date.now();
        measuring = true;
        await new Promise((r) => setTimeout(r, seconds * 1000));
        measuring = false;
        const wallS = (Date.now() - t0) / 1000;
        const serverCpu = (await cpuMs(pid)) - cpu0;
        const decCpu = (await Promise.all(decoders.map(cpuMs))).reduce((a, b, i) => a + b - (dec0[i] ?? 0), 0);
        const ai = await Promise.all(Array.from({ length: n }, async (_, i) => (await (await fetch(`${server.url}/api/v1/streams/s${i}/ai`)).json()) as { framesSent: number; framesDropped: number; preset: string }));
        await Promise.all(pubs.map((p) => p.stop()));
        const row = {
          "video": `${height}p30`,
          "streams": n,
          "frames to worker /s": Math.round(samples.received.length / wallS),
          "ingest→worker p50 ms": pct(samples.received, 50).toFixed(1),
          "p95 ms": pct(samples.received, 95).toFixed(1),
          "p99 ms": pct(samples.received, 99).toFixed(1),
          "decode p50 ms": pct(samples.decode, 50).toFixed(1),
          "decode p95 ms": pct(samples.decode, 95).toFixed(1),
          "decoder CPU ms/s per stream": (decCpu / wallS / Math.max(1, decoders.length)).toFixed(0),
          "server CPU % core": ((serverCpu / (wallS * 1000)) * 100).toFixed(0),
          "dropped (credits)": ai.reduce((k, a) => k + a.framesDropped, 0),
          "decoders": decoders.length,
        };
        rows.push(row);
        raw.push({ ...row, samples: { received: samples.received.length }, presets: ai.map((a) => a.preset) });
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
  console.table(rows);
  await mkdir(path.resolve(import.meta.dirname, "results"), { recursive: true });
  await writeFile(path.resolve(import.meta.dirname, "results/ai-latency.json"), JSON.stringify({ date: new Date().toISOString(), node: process.version, seconds, rows: raw }, null, 2));
} finally {
  await worker.stop();
  await rm(scratch, { recursive: true, force: true });
}
