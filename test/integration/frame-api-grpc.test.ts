import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { credentials, Metadata, Server, ServerCredentials, status, type ServiceError } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { FsObjectStore } from "../../src/adapters/storage/fs-object-store.js";
import { NetworkList } from "../../src/control/auth/networks.js";
import { CallGuard } from "../../src/control/grpc/call-guard.js";
import { CameraStreamService, type CameraStreamServiceOptions } from "../../src/control/grpc/camera-stream-service.js";
import { GrpcControlServer } from "../../src/control/grpc/grpc-control-server.js";
import sharp from "sharp";
import { grpcMetrics } from "../../src/control/grpc/grpc-metrics.js";
import { WorkerPool } from "../../src/extractor/worker-pool.js";
import { CameraStreamServiceClient, CameraStreamServiceService, type ProcessedFrame, type VideoFrame } from "../../src/generated/imageflow/v1/camera_stream.js";
import type { FrameSessionStats } from "../../src/pipelines/frame-api/frame-session.js";
import { FrameArchiver } from "../../src/pipelines/frame-api/frame-archiver.js";
import { authFixture, type AuthFixture } from "../support/auth-fixture.js";
import { jpegWithQr, silent, workerAndPool } from "../support/frame-api.js";

/**
 * The frame API for native clients: CameraStreamService served by a gRPC server behind the real
 * call guard (real authenticator), frames to a real reference worker through a real WorkerPool.
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
  dir = await mkdtemp(path.join(tmpdir(), "ifc-frames-"));
  store = new FsObjectStore(dir);
  await store.init();
});

afterAll(async () => {
  for (const c of closers.reverse()) await c();
  await rm(dir, { recursive: true, force: true });
  await auth.cleanup();
});

/** A gRPC server with CameraStreamService only (what GrpcControlServer adds), on 127.0.0.1:0. */
async function serve(opts: Omit<CameraStreamServiceOptions, "log">, onEnd?: (s: FrameSessionStats) => void): Promise<{ client: CameraStreamServiceClient; service: CameraStreamService }> {
  const metrics = grpcMetrics();
  const guard = new CallGuard({
    authenticator: auth.auth,
    anonymousNetworks: new NetworkList([], "IFC_AUTH_ANONYMOUS_NETWORKS"),
    anonymousPermissions: [],
    rateLimit: { store: auth.rateLimits, perMinute: 0 },
    metrics,
    audit: { record: () => undefined },
    log: silent,
  });
  const service = new CameraStreamService({ ...opts, log: silent, ...(onEnd ? { onSessionEnd: onEnd } : {}) });
  const server = new Server({ "grpc.max_receive_message_length": service.maxMessageBytes });
  server.addService(CameraStreamServiceService, service.implementation(guard));
  const port = await new Promise<number>((resolve, reject) => server.bindAsync("127.0.0.1:0", ServerCredentials.createInsecure(), (e, p) => (e ? reject(e) : resolve(p))));
  const client = new CameraStreamServiceClient(`127.0.0.1:${port}`, credentials.createInsecure(), { "grpc.max_send_message_length": 64 * 1024 * 1024 });
  closers.push(() => {
    client.close();
    service.endAll();
    server.forceShutdown();
  });
  return { client, service };
}

function md(t: string | undefined = token): Metadata {
  const m = new Metadata();
  if (t) m.set("authorization", `Bearer ${t}`);
  return m;
}

/** Opens ProcessVideoStream and collects results; `done` resolves with the final status. */
function open(client: CameraStreamServiceClient, metadata = md()) {
  const call = client.processVideoStream(metadata);
  const got: ProcessedFrame[] = [];
  const listeners: (() => void)[] = [];
  call.on("data", (m: ProcessedFrame) => {
    got.push(m);
    for (const l of listeners.splice(0)) l();
  });
  const done = new Promise<{ code: status; details: string; metadata: Metadata | undefined }>((resolve) => {
    call.on("error", (e: ServiceError) => resolve({ code: e.code, details: e.details, metadata: e.metadata }));
    call.on("status", (s: { code: status; details: string; metadata: Metadata }) => {
      if (s.code === status.OK) resolve({ code: s.code, details: s.details, metadata: s.metadata });
    });
  });
  /** Resolves when `got` has at least n results. */
  const results = (n: number): Promise<void> => (got.length >= n ? Promise.resolve() : new Promise((r) => listeners.push(() => void results(n).then(r))));
  return { call, got, done, results };
}

const frame = (data: Buffer, ts: number, metadata: Record<string, string> = { source_id: "cam-a" }): VideoFrame => ({
  frameData: data, timestampMs: ts, metadata, streamId: "", sequence: 0, width: 0, height: 0, pixelFormat: 0, modelTier: 0,
});

describe("CameraStreamService.ProcessVideoStream", () => {
  it("300 JPEG frames with a QR code: one ProcessedFrame each, payload decoded, client timestamp and source echoed; archive=true frames stored", async () => {
    const w = await workerAndPool();
    closers.push(w.close);
    const archiver = new FrameArchiver(store);
    const { client } = await serve({ pool: w.pool, archiver });
    const jpegs = await Promise.all([0, 1, 2].map((i) => jpegWithQr(`LOT-${i}`)));
    const s = open(client);
    const t0 = 1_700_000_000_000;
    // A well-behaved client keeps at most maxPending (2) frames outstanding: nothing is dropped.
    for (let i = 0; i < 300; i++) {
      await s.results(i - 1);
      const metadata: Record<string, string> = { source_id: "cam-a", pipeline_id: "realtime-detect", ...(i % 100 === 0 ? { archive: "true" } : {}) };
      s.call.write(frame(jpegs[i % 3] as Buffer, t0 + i, metadata));
    }
    s.call.end();
    const end = await s.done;
    expect(end.code).toBe(status.OK);
    expect(s.got).toHaveLength(300);
    for (const [i, r] of s.got.entries()) {
      expect(Number(r.sequence)).toBe(i + 1);
      expect(r.processingStats.timestamp_ms).toBe(String(t0 + i));
      expect(r.streamId).toBe("cam-a");
      expect(r.processingStats.pipeline_id).toBe("realtime-detect");
      expect(r.processingStats.worker).toBe(w.worker.address);
      expect(r.processingStats.frames_dropped).toBe("0");
      const qr = r.detections.find((d) => d.className === "qr_code");
      expect(qr?.attributes.payload).toBe(`LOT-${i % 3}`);
      expect(Number(r.processingTimeMs)).toBeGreaterThanOrEqual(0);
    }
    await archiver.drain();
    const stored = (await store.list("video-stream-archive/cam-a/")).map((o) => o.key);
    expect(stored).toEqual([`video-stream-archive/cam-a/${t0}-1.jpg`, `video-stream-archive/cam-a/${t0 + 100}-101.jpg`, `video-stream-archive/cam-a/${t0 + 200}-201.jpg`]);
    expect(await store.get(stored[1] as string)).toEqual(jpegs[100 % 3]);
    expect(archiver.stats()).toEqual({ archived: 3, dropped: 0, failed: 0, pending: 0 });
    expect(s.got[100]?.processingStats.archive_key).toBe(stored[1]);
  });

  it("a client flooding 2000 frames at a slow worker: received = processed + dropped exactly, pending never above maxPending", async () => {
    const w = await workerAndPool({ capacityFps: 25, initialCredits: 1 });
    closers.push(w.close);
    let final: FrameSessionStats | undefined;
    const { client } = await serve({ pool: w.pool, session: { maxPending: 2 } }, (st) => (final = st));
    const jpeg = await jpegWithQr("FLOOD", 320, 240);
    const s = open(client);
    for (let i = 0; i < 2000; i++) s.call.write(frame(jpeg, i));
    s.call.end();
    expect((await s.done).code).toBe(status.OK);
    if (!final) throw new Error("no final session stats");
    expect(final.received).toBe(2000);
    expect(final.rejected + final.lost + final.pending + final.inFlight).toBe(0);
    expect(final.processed + final.dropped).toBe(2000);
    expect(final.dropped).toBeGreaterThan(1000);
    expect(final.pendingHighWater).toBe(2);
    expect(s.got).toHaveLength(final.processed);
    expect(w.worker.stats.framesReceived).toBe(final.processed);
    // What the client saw last says the same.
    expect(s.got.at(-1)?.processingStats.frames_dropped).toBe(String(final.dropped));
  });

  it("maxFrameBytes at its edge: a frame of exactly the limit is processed, one byte more ends the stream RESOURCE_EXHAUSTED; garbage ends it INVALID_ARGUMENT", async () => {
    const w = await workerAndPool();
    closers.push(w.close);
    const jpeg = await jpegWithQr("EDGE", 320, 240);
    const { client } = await serve({ pool: w.pool, session: { maxFrameBytes: jpeg.length } });
    const ok = open(client);
    ok.call.write(frame(jpeg, 1));
    await ok.results(1);
    expect(ok.got[0]?.detections.find((d) => d.className === "qr_code")?.attributes.payload).toBe("EDGE");
    ok.call.write(frame(Buffer.concat([jpeg, Buffer.from([0])]), 2));
    const end = await ok.done;
    expect(end.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(end.details).toBe(`frame of ${jpeg.length + 1} bytes exceeds the limit of ${jpeg.length} bytes`);

    const bad = open(client);
    bad.call.write(frame(Buffer.from([0xff, 0xd8, 0xff, 1, 2, 3]), 1));
    const badEnd = await bad.done;
    expect(badEnd.code).toBe(status.INVALID_ARGUMENT);
    expect(badEnd.details).toMatch(/could not be decoded/);
    const png = open(client);
    png.call.write(frame(Buffer.from("GIF89a-not-accepted"), 1));
    expect((await png.done).code).toBe(status.INVALID_ARGUMENT);
  });

  it("no usable worker: UNAVAILABLE with retry-after-ms; no token: UNAUTHENTICATED; without pipeline:execute: PERMISSION_DENIED; HealthCheck", async () => {
    const empty = new WorkerPool({ endpoints: [], healthIntervalMs: 60_000, healthTimeoutMs: 1000, breakerFailures: 5, breakerOpenMs: 30_000, breakerSuccesses: 1, maxFrameBytes: 1024 }, silent);
    const { client } = await serve({ pool: empty, session: { noWorkerRetryAfterMs: 3000 } });
    const s = open(client);
    const end = await s.done;
    expect(end.code).toBe(status.UNAVAILABLE);
    expect(end.metadata?.get("retry-after-ms")).toEqual(["3000"]);
    expect((await open(client, md("")).done).code).toBe(status.UNAUTHENTICATED);
    await auth.users.add("vera", "viewer", "vera-password-1");
    const viewer = (await auth.auth.login("vera", "vera-password-1", "127.0.0.1")).access_token;
    expect((await open(client, md(viewer)).done).code).toBe(status.PERMISSION_DENIED);
    const health = await new Promise<{ status: number }>((resolve, reject) => client.healthCheck({ service: "" }, md(), (e, r) => (e ? reject(e) : resolve(r))));
    expect(health.status).toBe(2); // NOT_SERVING: no worker
  });

  it("maxSessions: one stream more than allowed is RESOURCE_EXHAUSTED", async () => {
    const w = await workerAndPool();
    closers.push(w.close);
    const { client, service } = await serve({ pool: w.pool, maxSessions: 1 });
    const first = open(client);
    first.call.write(frame(await jpegWithQr("ONE", 160, 120), 1));
    await first.results(1);
    expect(service.sessionCount).toBe(1);
    expect((await open(client).done).code).toBe(status.RESOURCE_EXHAUSTED);
    first.call.end();
    expect((await first.done).code).toBe(status.OK);
  });

  it("GrpcControlServer with `cameraStream` serves it beside IngestControl, and a frame over the control plane's 1 MiB message limit gets through", async () => {
    const w = await workerAndPool();
    closers.push(w.close);
    const off = () => () => undefined;
    // IngestControl's dependencies are not the subject: listeners that never fire.
    const services = { registry: { onStarted: off, onEnded: off, list: () => [] }, recorder: { onLifecycle: off, onManifestChange: off }, clips: { onCreated: off }, ingest: {}, ai: undefined, catalog: {}, maxTags: 10, maxPreRollMs: 0 } as unknown as Parameters<typeof GrpcControlServer.start>[0]["services"];
    const server = await GrpcControlServer.start({
      host: "127.0.0.1", port: 0, authenticator: auth.auth, anonymousNetworks: [], anonymousPermissions: [],
      rateLimit: { store: auth.rateLimits, perMinute: 0 }, audit: { record: () => undefined }, services, log: silent, shutdownGraceMs: 500,
      cameraStream: { pool: w.pool, log: silent },
    });
    closers.push(() => server.close());
    const big = await sharp({ create: { width: 1280, height: 720, channels: 3, background: "#808080", noise: { type: "gaussian", mean: 128, sigma: 60 } } }).jpeg({ quality: 100 }).toBuffer();
    expect(big.length).toBeGreaterThan(1024 * 1024);
    const client = new CameraStreamServiceClient(`127.0.0.1:${server.port}`, credentials.createInsecure(), { "grpc.max_send_message_length": 64 * 1024 * 1024 });
    closers.push(() => client.close());
    const s = open(client);
    s.call.write(frame(big, 5));
    await s.results(1);
    expect(s.got[0]).toMatchObject({ sequence: 1, streamId: "cam-a" });
    expect(server.cameraStream?.sessionCount).toBe(1);
    s.call.end();
    expect((await s.done).code).toBe(status.OK);
  });
});
