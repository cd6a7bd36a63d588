/**
 * Frame API round trip on 1920×1080 JPEG frames with a QR code: client send → ProcessedFrame
 * back, over gRPC (CameraStreamService.ProcessVideoStream, the native path; documents: < 30 ms)
 * and over WebSocket (/ws/camera-stream with base64 JSON, the browser path; documents:
 * < 100 ms). One frame in flight at a time (a closed loop: latency, not throughput). The server
 * side (call guard / auth gate, FrameSession: JPEG → GRAY8 with sharp, credit-gated worker
 * stream) runs in this process with the client; the reference worker in its own process, once
 * with no detectors (the frame API's own cost) and once with QR + motion (a real answer).
 *   npx tsx bench/frame-api.ts [frames=300]   (--short: 40 frames)
 */
import { credentials, Metadata, Server, ServerCredentials } from "@grpc/grpc-js";
import { pino } from "pino";
import sharp from "sharp";
import WebSocket from "ws";
import { MemoryRateLimitStore } from "../src/adapters/state/memory-rate-limit-store.js";
import { createApp } from "../src/control/app.js";
import type { Authenticator } from "../src/control/auth/authenticator.js";
import { installAuthGate } from "../src/control/auth/gate.js";
import { NetworkList } from "../src/control/auth/networks.js";
import { registerCameraStreamWs } from "../src/control/camera-stream-ws.js";
import { CallGuard } from "../src/control/grpc/call-guard.js";
import { CameraStreamService } from "../src/control/grpc/camera-stream-service.js";
import { grpcMetrics } from "../src/control/grpc/grpc-metrics.js";
import { WorkerPool } from "../src/extractor/worker-pool.js";
import { CameraStreamServiceClient, CameraStreamServiceService, type ProcessedFrame } from "../src/generated/imageflow/v1/camera_stream.js";
import { spawnReferenceWorker } from "../src/worker/spawn-worker.js";
import { grayFrameWithQr } from "../test/support/qr-frame.js";
import { machine, numArg, writeResults } from "./lib/results.js";
import { pct, round } from "./lib/stats.js";

const frames = numArg(0, 300, 40);
const WARMUP = Math.min(20, Math.floor(frames / 4));
const W = 1920;
const H = 1080;
const m = machine();
const log = pino({ level: "silent" });
// Anonymous from 127.0.0.0/8 with pipeline:execute: the bench measures frames, not token checks.
const noAuth = { verifyBearer: () => Promise.reject(new Error("anonymous only")), verifyViewToken: () => Promise.reject(new Error("anonymous only")) } as unknown as Authenticator;

const jpegs = await Promise.all(
  [0, 1, 2].map((i) => {
    const g = grayFrameWithQr(`BENCH-${i}`, { width: W, height: H, x: 700, y: 300, scale: 12 });
    return sharp(g.data, { raw: { width: W, height: H, channels: 1 } }).jpeg({ quality: 85 }).toBuffer();
  }),
);

interface Row {
  transport: "grpc" | "websocket";
  detectors: string;
  frames: number;
  jpeg_bytes: number;
  round_trip_ms: { p50: number | null; p95: number | null; p99: number | null; max: number | null };
  server_ms: { p50: number | null; p95: number | null };
  /** Parts of server_ms (p50): JPEG → GRAY8, and written to the worker → result back. */
  decode_ms_p50: number | null;
  worker_round_trip_ms_p50: number | null;
  qr_decoded: number;
}

function summarise(transport: Row["transport"], detectors: string, rtt: number[], server: number[], decode: number[], worker: number[], qr: number): Row {
  return {
    transport, detectors, frames: rtt.length, jpeg_bytes: Math.round(jpegs.reduce((n, j) => n + j.length, 0) / jpegs.length),
    round_trip_ms: { p50: round(pct(rtt, 50)), p95: round(pct(rtt, 95)), p99: round(pct(rtt, 99)), max: round(Math.max(...rtt)) },
    server_ms: { p50: round(pct(server, 50)), p95: round(pct(server, 95)) },
    decode_ms_p50: round(pct(decode, 50)),
    worker_round_trip_ms_p50: round(pct(worker, 50)),
    qr_decoded: qr,
  };
}

async function viaGrpc(pool: WorkerPool, detectors: string): Promise<Row> {
  const guard = new CallGuard({
    authenticator: noAuth, anonymousNetworks: new NetworkList(["127.0.0.0/8"], "bench"), anonymousPermissions: ["pipeline:execute"],
    rateLimit: { store: new MemoryRateLimitStore(), perMinute: 0 }, metrics: grpcMetrics(), audit: { record: () => undefined }, log,
  });
  const service = new CameraStreamService({ pool, log });
  const server = new Server({ "grpc.max_receive_message_length": service.maxMessageBytes });
  server.addService(CameraStreamServiceService, service.implementation(guard));
  const port = await new Promise<number>((res, rej) => server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (e, p) => (e ? rej(e) : res(p))));
  const client = new CameraStreamServiceClient(`127.0.0.1:${port}`, credentials.createInsecure(), { "grpc.max_send_message_length": 16 << 20 });
  const call = client.processVideoStream(new Metadata());
  let resolveNext: ((r: ProcessedFrame) => void) | undefined;
  call.on("data", (r: ProcessedFrame) => resolveNext?.(r));
  call.on("error", (e: Error & { code?: number }) => {
    if (e.code !== 1) console.error("grpc stream:", e.message); // 1: CANCELLED by our own close
  });
  const rtt: number[] = [];
  const srv: number[] = [];
  const dec: number[] = [];
  const wrk: number[] = [];
  let qr = 0;
  for (let i = 0; i < frames + WARMUP; i++) {
    const t0 = performance.now();
    const got = new Promise<ProcessedFrame>((r) => (resolveNext = r));
    call.write({ frameData: jpegs[i % 3] as Buffer, timestampMs: Date.now(), metadata: { source_id: "bench" }, streamId: "", sequence: 0, width: 0, height: 0, pixelFormat: 0, modelTier: 0 });
    const r = await got;
    if (i < WARMUP) continue;
    rtt.push(performance.now() - t0);
    srv.push(Number(r.processingTimeMs));
    dec.push(Number(r.processingStats.decode_ms));
    wrk.push(Number(r.processingStats.worker_round_trip_ms));
    if (r.detections.some((d) => d.className === "qr_code" && d.attributes.payload === `BENCH-${i % 3}`)) qr++;
  }
  call.end();
  client.close();
  service.endAll();
  server.forceShutdown();
  return summarise("grpc", detectors, rtt, srv, dec, wrk, qr);
}

async function viaWs(pool: WorkerPool, detectors: string): Promise<Row> {
  const app = createApp({ logger: log, bodyLimit: 1 << 20, corsOrigins: [] });
  installAuthGate(app, { authenticator: noAuth, anonymousNetworks: ["127.0.0.0/8"], anonymousPermissions: ["pipeline:execute"], metricsNetworks: [], corsOrigins: [], log });
  await registerCameraStreamWs(app, { pool, statsIntervalMs: 60_000 });
  await app.listen({ host: "127.0.0.1", port: 0 });
  const addr = app.server.address();
  if (!addr || typeof addr === "string") throw new Error("no address");
  const ws = new WebSocket(`ws://127.0.0.1:${addr.port}/ws/camera-stream`);
  await new Promise<void>((res, rej) => {
    ws.once("open", () => res());
    ws.once("error", rej);
  });
  let resolveNext: ((r: Record<string, unknown>) => void) | undefined;
  ws.on("message", (d: Buffer) => {
    const msg = JSON.parse(d.toString("utf8")) as Record<string, unknown>;
    if (msg.type === "processed_frame" || msg.type === "error") resolveNext?.(msg);
  });
  const b64 = jpegs.map((j) => j.toString("base64"));
  const rtt: number[] = [];
  const srv: number[] = [];
  const dec: number[] = [];
  const wrk: number[] = [];
  let qr = 0;
  for (let i = 0; i < frames + WARMUP; i++) {
    const t0 = performance.now();
    const got = new Promise<Record<string, unknown>>((r) => (resolveNext = r));
    // The client's JSON encoding is part of the browser's cost: made inside the timed loop.
    ws.send(JSON.stringify({ type: "video_frame", frame_data: b64[i % 3], timestamp_ms: Date.now(), metadata: { source_id: "bench" } }));
    const r = await got;
    if (r.type === "error") throw new Error(`frame refused: ${JSON.stringify(r)}`);
    if (i < WARMUP) continue;
    rtt.push(performance.now() - t0);
    srv.push(r.processing_time_ms as number);
    const st = r.processing_stats as Record<string, number>;
    dec.push(st.decode_ms as number);
    wrk.push(st.worker_round_trip_ms as number);
    const dets = r.detections as { class_name: string; attributes: Record<string, string> }[];
    if (dets.some((d) => d.class_name === "qr_code" && d.attributes.payload === `BENCH-${i % 3}`)) qr++;
  }
  ws.close();
  await app.close();
  return summarise("websocket", detectors, rtt, srv, dec, wrk, qr);
}

const rows: Row[] = [];
for (const detectors of ["none", "qr+motion"] as const) {
  const worker = await spawnReferenceWorker({ capacityFps: 1000, maxFrameBytes: 64 << 20, detectors, log });
  const pool = new WorkerPool({ endpoints: [worker.address], healthIntervalMs: 60_000, healthTimeoutMs: 2000, breakerFailures: 5, breakerOpenMs: 30_000, breakerSuccesses: 1, maxFrameBytes: 64 << 20 }, log);
  try {
    rows.push(await viaGrpc(pool, detectors));
    rows.push(await viaWs(pool, detectors));
  } finally {
    pool.close();
    await worker.stop();
  }
}

console.log(`frame API round trip, ${W}×${H} JPEG (~${rows[0]?.jpeg_bytes} B), ${frames} frames each, one in flight, ${m.nproc} CPUs, load ${m.loadAverage1m5m15m.join(" ")}`);
console.log("transport   detectors   p50 ms   p95 ms   p99 ms   max ms   server p50/p95 ms   decode p50   worker rt p50   QR decoded");
for (const r of rows) {
  console.log(
    `${r.transport.padEnd(11)} ${r.detectors.padEnd(11)} ${String(r.round_trip_ms.p50).padStart(6)}   ${String(r.round_trip_ms.p95).padStart(6)}   ${String(r.round_trip_ms.p99).padStart(6)}   ${String(r.round_trip_ms.max).padStart(6)}   ${`${r.server_ms.p50}/${r.server_ms.p95}`.padStart(17)}   ${String(r.decode_ms_p50).padStart(10)}   ${String(r.worker_round_trip_ms_p50).padStart(13)}   ${r.qr_decoded}/${r.frames}`,
  );
}
const file = await writeResults("frame-api", m, {
  what: "client send → ProcessedFrame, 1920×1080 JPEG with a QR code, one frame in flight; server (call guard / auth gate + FrameSession) and client in one process, reference worker in its own",
  targets_ms: { grpc: 30, websocket: 100 },
  rows,
});
console.log(`wrote ${file}`);
