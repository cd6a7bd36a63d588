import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { FastifyInstance } from "fastify";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { FsObjectStore } from "../../src/adapters/storage/fs-object-store.js";
import { createApp } from "../../src/control/app.js";
import { installAuthGate } from "../../src/control/auth/gate.js";
import { registerCameraStreamWs, type CameraStreamWsOptions } from "../../src/control/camera-stream-ws.js";
import { WorkerPool } from "../../src/extractor/worker-pool.js";
import { FrameArchiver } from "../../src/pipelines/frame-api/frame-archiver.js";
import type { FrameSessionStats } from "../../src/pipelines/frame-api/frame-session.js";
import { authFixture, type AuthFixture } from "../support/auth-fixture.js";
import { jpegWithQr, silent, workerAndPool } from "../support/frame-api.js";
import { waitFor } from "../support/wait-for.js";

/**
 * `/ws/camera-stream` on a Fastify app made as the server makes it (createApp, the auth gate),
 * frames to a real reference worker through a real WorkerPool.
 */
let auth: AuthFixture;
let token: string;
let dir: string;
let store: FsObjectStore;
const closers: (() => Promise<void> | void)[] = [];

beforeAll(async () => {
  auth = await authFixture();
  await auth.users.add("ops", "operator", "ops-password-1");
  token = (await auth.auth.login("ops", "ops-password-1", "127.0.0.1")).access_token;
  dir = await mkdtemp(path.join(tmpdir(), "ifc-frames-ws-"));
  store = new FsObjectStore(dir);
  await store.init();
});

afterAll(async () => {
  for (const c of closers.reverse()) await c();
  await rm(dir, { recursive: true, force: true });
  await auth.cleanup();
});

async function serve(opts: CameraStreamWsOptions): Promise<string> {
  const app: FastifyInstance = createApp({ logger: silent, bodyLimit: 1024 * 1024, corsOrigins: [] });
  installAuthGate(app, { authenticator: auth.auth, anonymousNetworks: [], anonymousPermissions: [], metricsNetworks: [], corsOrigins: [], log: silent });
  await registerCameraStreamWs(app, opts);
  await app.listen({ host: "127.0.0.1", port: 0 });
  closers.push(() => app.close());
  const addr = app.server.address();
  if (!addr || typeof addr === "string") throw new Error("no address");
  return `ws://127.0.0.1:${addr.port}/ws/camera-stream`;
}

type Msg = Record<string, unknown> & { type: string };

/** A connected client collecting every message. */
async function connect(url: string, headers: Record<string, string> = { authorization: `Bearer ${token}` }) {
  const ws = new WebSocket(url, { headers });
  const got: Msg[] = [];
  ws.on("message", (d: Buffer) => got.push(JSON.parse(d.toString("utf8")) as Msg));
  const closed = new Promise<{ code: number; reason: string }>((r) => ws.on("close", (code, reason) => r({ code, reason: reason.toString() })));
  await new Promise<void>((resolve, reject) => {
    ws.once("open", () => resolve());
    ws.once("error", reject);
  });
  closers.push(() => ws.terminate());
  const of = (type: string) => got.filter((m) => m.type === type);
  const send = (m: unknown) => ws.send(JSON.stringify(m));
  return { ws, got, of, send, closed };
}

const videoFrame = (jpeg: Buffer, ts: number, metadata: Record<string, unknown> = { source_id: "web-1" }) => ({ type: "video_frame", frame_data: jpeg.toString("base64"), timestamp_ms: ts, metadata });

describe("WS /ws/camera-stream", () => {
  it("300 JPEG frames with a QR code: a processed_frame each with the payload; stream_stats pushed; archive: true stored", async () => {
    const w = await workerAndPool();
    closers.push(w.close);
    const archiver = new FrameArchiver(store);
    const url = await serve({ pool: w.pool, archiver, statsIntervalMs: 100 });
    const jpegs = await Promise.all([0, 1].map((i) => jpegWithQr(`WEB-${i}`)));
    const c = await connect(url);
    const t0 = 1_800_000_000_000;
    for (let i = 0; i < 300; i++) {
      await waitFor(() => c.of("processed_frame").length >= i - 1, { what: `result ${i - 1}`, intervalMs: 2 });
      c.send(videoFrame(jpegs[i % 2] as Buffer, t0 + i, { source_id: "web-1", pipeline_id: "realtime-detect", ...(i === 7 ? { archive: true } : {}) }));
    }
    await waitFor(() => c.of("processed_frame").length === 300, { what: "300 results" });
    for (const [i, m] of c.of("processed_frame").entries()) {
      expect(m.sequence).toBe(i + 1);
      expect(m.timestamp_ms).toBe(t0 + i);
      expect(m.source_id).toBe("web-1");
      const dets = m.detections as { class_name: string; confidence: number; bbox: Record<string, number>; attributes: Record<string, string> }[];
      const qr = dets.find((d) => d.class_name === "qr_code");
      expect(qr?.attributes.payload).toBe(`WEB-${i % 2}`);
      expect(Object.keys(qr?.bbox ?? {}).sort()).toEqual(["height", "width", "x", "y"]);
      expect(typeof m.processing_time_ms).toBe("number");
    }
    await waitFor(() => c.of("stream_stats").some((s) => s.frames_processed === 300), { what: "stats of 300" });
    const stats = c.of("stream_stats").find((s) => s.frames_processed === 300) as Msg;
    expect(stats).toMatchObject({ frames_received: 300, frames_dropped: 0, frames_rejected: 0, worker: w.worker.address });
    expect(stats.avg_processing_ms as number).toBeGreaterThan(0);
    await archiver.drain();
    expect((await store.list("video-stream-archive/web-1/")).map((o) => o.key)).toEqual([`video-stream-archive/web-1/${t0 + 7}-8.jpg`]);
  });

  it("a browser flooding 2000 frames at a slow worker: received = processed + dropped exactly, pending never above maxPending", async () => {
    const w = await workerAndPool({ capacityFps: 25, initialCredits: 1 });
    closers.push(w.close);
    const url = await serve({ pool: w.pool, session: { maxPending: 2 }, statsIntervalMs: 50 });
    const jpeg = await jpegWithQr("FLOOD", 320, 240);
    const c = await connect(url);
    const msg = JSON.stringify(videoFrame(jpeg, 1));
    for (let i = 0; i < 2000; i++) c.ws.send(msg);
    const done = (s: Msg) => s.frames_received === 2000 && s.pending === 0 && s.in_flight === 0;
    await waitFor(() => c.of("stream_stats").some(done), { what: "all 2000 frames settled" });
    const s = c.of("stream_stats").find(done) as Msg;
    expect((s.frames_processed as number) + (s.frames_dropped as number)).toBe(2000);
    expect(s.frames_rejected).toBe(0);
    expect(s.frames_lost).toBe(0);
    expect(s.frames_dropped as number).toBeGreaterThan(1000);
    expect(s.pending_high_water).toBe(2);
    expect(c.of("processed_frame")).toHaveLength(s.frames_processed as number);
    expect(w.worker.stats.framesReceived).toBe(s.frames_processed);
  });

  it("frame size at the edge, undecodable frames and bad messages get an error and the connection stays", async () => {
    const w = await workerAndPool();
    closers.push(w.close);
    const jpeg = await jpegWithQr("EDGE", 320, 240);
    let ended: FrameSessionStats | undefined;
    const url = await serve({ pool: w.pool, session: { maxFrameBytes: jpeg.length }, onSessionEnd: (st) => (ended = st) });
    const c = await connect(url);
    c.send(videoFrame(Buffer.concat([jpeg, Buffer.from([0])]), 1));
    c.send(videoFrame(Buffer.from([0xff, 0xd8, 0xff, 9, 9, 9]), 2));
    c.send({ type: "video_frame", frame_data: "***" });
    c.send({ type: "nonsense" });
    c.send(videoFrame(jpeg, 3));
    await waitFor(() => c.of("processed_frame").length === 1 && c.of("error").length === 4, { what: "1 result and 4 errors" });
    const codes = c.of("error").map((e) => (e.error as { code: string }).code).sort();
    expect(codes).toEqual(["FRAME_TOO_LARGE", "INVALID_FRAME", "INVALID_MESSAGE", "INVALID_MESSAGE"]);
    expect(c.of("error").find((e) => (e.error as { code: string }).code === "FRAME_TOO_LARGE")).toMatchObject({ sequence: 1, error: { message: `frame of ${jpeg.length + 1} bytes exceeds the limit of ${jpeg.length} bytes` } });
    expect(c.of("processed_frame")[0]).toMatchObject({ sequence: 3 });
    expect(c.ws.readyState).toBe(WebSocket.OPEN);
    c.ws.close();
    await c.closed;
    await waitFor(() => ended !== undefined, { what: "session end" });
    expect(ended).toMatchObject({ received: 3, processed: 1, rejected: 2, dropped: 0 });
  });

  it("no worker: error with retry_after; no token: 401; maxSessions: 503; message over maxMessageBytes: closed 1009", async () => {
    const empty = new WorkerPool({ endpoints: [], healthIntervalMs: 60_000, healthTimeoutMs: 1000, breakerFailures: 5, breakerOpenMs: 30_000, breakerSuccesses: 1, maxFrameBytes: 1024 }, silent);
    const url = await serve({ pool: empty, maxSessions: 1, maxMessageBytes: 64 * 1024, session: { noWorkerRetryAfterMs: 2000 } });
    const c = await connect(url);
    c.send(videoFrame(await jpegWithQr("X", 160, 120), 1));
    await waitFor(() => c.of("error").length === 1, { what: "no-worker error" });
    expect(c.of("error")[0]).toEqual({ type: "error", sequence: 1, error: { code: "NO_WORKER_AVAILABLE", message: "no AI worker is available; retry in 2 s", retry_after: 2 } });

    const refused = (headers: Record<string, string>) =>
      new Promise<number>((resolve) => {
        const ws = new WebSocket(url, { headers });
        ws.on("unexpected-response", (_req, res) => resolve(res.statusCode ?? 0));
        ws.on("error", () => undefined);
      });
    expect(await refused({ authorization: `Bearer ${token}` })).toBe(503); // one session already
    c.ws.send("x".repeat(64 * 1024 + 1));
    expect((await c.closed).code).toBe(1009);
    expect(await refused({})).toBe(401);
    // A browser: the pages' login cookie, from this server's origin; another site's page is refused.
    const host = new URL(url).host;
    expect(await refused({ cookie: `ifc_session=${token}`, origin: "https://evil.example" })).toBe(403);
    const b = await connect(url, { cookie: `ifc_session=${token}`, origin: `http://${host}` });
    expect(b.ws.readyState).toBe(WebSocket.OPEN);
  });
});
