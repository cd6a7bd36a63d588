import { credentials, makeGenericClientConstructor, status, type ServiceError } from "@grpc/grpc-js";
import { service as healthService } from "grpc-health-check";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { CameraStreamServiceClient, ModelTier, PixelFormat, type ProcessedFrame, type VideoFrame } from "../../src/generated/imageflow/v1/camera_stream.js";
import { HealthCheckResponse_ServingStatus } from "../../src/generated/imageflow/v1/common.js";
import { ReferenceWorker, type ReferenceWorkerOptions } from "../../src/worker/reference-worker.js";
import { grayFrameWithQr } from "../support/qr-frame.js";
import { waitFor } from "../support/wait-for.js";

let worker: ReferenceWorker | undefined;
let client: InstanceType<typeof CameraStreamServiceClient> | undefined;
afterEach(async () => {
  client?.close();
  await worker?.close();
  worker = undefined;
  client = undefined;
});

async function start(o: Partial<ReferenceWorkerOptions> = {}): Promise<InstanceType<typeof CameraStreamServiceClient>> {
  worker = new ReferenceWorker({ capacityFps: 100, initialCredits: 3, maxFrameBytes: 4 * 1024 * 1024, ...o }, pino({ level: "silent" }));
  await worker.listen();
  client = new CameraStreamServiceClient(worker.address, credentials.createInsecure());
  return client;
}

const W = 640;
const H = 360;
const frame = (seq: number, data: Buffer, tier = ModelTier.MODEL_TIER_FULL): VideoFrame => ({
  frameData: data, timestampMs: Date.now(), metadata: {}, streamId: "cam1", sequence: seq, width: W, height: H, pixelFormat: PixelFormat.PIXEL_FORMAT_GRAY8, modelTier: tier,
});

/** Opens a stream and collects everything the worker sends (with when it arrived). */
function open(c: InstanceType<typeof CameraStreamServiceClient>) {
  const call = c.processVideoStream();
  const got: ProcessedFrame[] = [];
  const gotAt: number[] = [];
  let error: ServiceError | undefined;
  call.on("data", (m: ProcessedFrame) => {
    got.push(m);
    gotAt.push(Date.now());
  });
  call.on("error", (e: ServiceError) => (error = e));
  const until = (pred: () => boolean, timeoutMs = 10_000): Promise<void> => waitFor(pred, { timeoutMs, what: "the worker's answer" });
  return { call, got, gotAt, until, error: () => error };
}

describe("reference AI worker (gRPC)", () => {
  it("grants credits when a stream opens, decodes a QR code and locates it", async () => {
    const s = open(await start());
    await s.until(() => s.got.length >= 1);
    expect(s.got[0]?.demand?.credits).toBe(3);
    expect(s.got[0]?.sequence).toBe(0);
    const payload = "IFC1;wo=WO-1234;inst=IN-77;type=TX-9;machine=M7;date=2026-11-23;seq=0042";
    const qr = grayFrameWithQr(payload, { width: W, height: H, x: 200, y: 80, scale: 5 });
    s.call.write(frame(1, qr.data));
    await s.until(() => s.got.some((m) => m.sequence === 1));
    const result = s.got.find((m) => m.sequence === 1) as ProcessedFrame;
    const code = result.detections.find((d) => d.className === "qr_code");
    expect(code?.attributes.payload).toBe(payload);
    // the box covers the drawn code to within a module or two
    expect(Math.abs((code?.bbox?.x ?? 0) - qr.box.x)).toBeLessThanOrEqual(10);
    expect(Math.abs((code?.bbox?.y ?? 0) - qr.box.y)).toBeLessThanOrEqual(10);
    expect(Math.abs((code?.bbox?.width ?? 0) - qr.box.size)).toBeLessThanOrEqual(15);
    expect(result.demand?.credits).toBe(1);
    expect(result.streamId).toBe("cam1");
    s.call.end();
  });

  it("finds the moving region between frames; the light tier skips QR decoding", async () => {
    const s = open(await start());
    const still = Buffer.alloc(W * H, 100);
    const moved = Buffer.from(still);
    for (let y = 96; y < 160; y++) moved.fill(250, y * W + 320, y * W + 400);
    s.call.write(frame(1, still));
    s.call.write(frame(2, moved));
    const qr = grayFrameWithQr("light tier", { width: W, height: H, x: 40, y: 40, scale: 5 });
    s.call.write(frame(3, qr.data, ModelTier.MODEL_TIER_LIGHT));
    await s.until(() => s.got.some((m) => m.sequence === 3));
    const motion = s.got.find((m) => m.sequence === 2)?.detections.filter((d) => d.className === "motion") ?? [];
    expect(motion.length).toBe(1);
    const b = motion[0]?.bbox;
    expect(b?.x).toBeLessThanOrEqual(320);
    expect((b?.x ?? 0) + (b?.width ?? 0)).toBeGreaterThanOrEqual(400);
    expect(b?.y).toBeLessThanOrEqual(96);
    expect((b?.y ?? 0) + (b?.height ?? 0)).toBeGreaterThanOrEqual(160);
    expect(s.got.find((m) => m.sequence === 1)?.detections).toEqual([]);
    expect(s.got.find((m) => m.sequence === 3)?.detections.some((d) => d.className === "qr_code")).toBe(false);
    s.call.end();
  });

  it("paces credits to its capacity (5 fps): a greedy sender gets no more than that", async () => {
    // A rate bound that holds under load, not a count in a fixed window: load can only delay a
    // credit, never bring one forward. The worker returns the credit of its j-th frame no sooner
    // than (j - 1) × 200 ms after the first, so counted from before the stream opened, the j-th
    // paced credit cannot arrive before t0 + (j - 1) × 200 ms. That it keeps granting at all is
    // the liveness half: the greedy sender reaches 12 frames (a generous timeout, not a rate).
    const t0 = Date.now();
    const s = open(await start({ capacityFps: 5, initialCredits: 2 }));
    let sent = 0;
    const blank = Buffer.alloc(W * H, 50);
    s.call.on("data", (m: ProcessedFrame) => {
      for (let credits = m.demand?.credits ?? 0; credits > 0 && sent < 12; credits--) s.call.write(frame(++sent, blank));
    });
    await s.until(() => sent === 12 && s.got.filter((m) => m.sequence > 0).length === 12, 20_000);
    // the first message grants the 2 up-front credits; each result then returns one (at once or later)
    expect(s.got[0]?.demand?.credits).toBe(2);
    const paced = s.gotAt.filter((_, i) => i > 0 && (s.got[i]?.demand?.credits ?? 0) > 0);
    expect(paced.length).toBeGreaterThanOrEqual(10);
    const TIMER_SLACK_MS = 5; // a timer may fire a millisecond early; Date.now() rounds
    paced.forEach((at, j) => expect(at - t0, `paced credit ${j + 1}`).toBeGreaterThanOrEqual(j * 200 - TIMER_SLACK_MS));
    s.call.end();
  });

  it("refuses frames that are not what they claim: INVALID_ARGUMENT; oversized: RESOURCE_EXHAUSTED", async () => {
    const c = await start({ maxFrameBytes: W * H });
    const bad = open(c);
    bad.call.write({ ...frame(1, Buffer.alloc(100)) });
    await bad.until(() => bad.error() !== undefined);
    expect(bad.error()?.code).toBe(status.INVALID_ARGUMENT);
    expect(bad.error()?.details).toMatch(/GRAY8 frame of 640x360 must hold 230400 bytes, got 100/);
    const big = open(c);
    big.call.write({ ...frame(1, Buffer.alloc(W * H + 1)) });
    await big.until(() => big.error() !== undefined);
    expect(big.error()?.code).toBe(status.RESOURCE_EXHAUSTED);
    const wrongFormat = open(c);
    wrongFormat.call.write({ ...frame(1, Buffer.alloc(10)), pixelFormat: PixelFormat.PIXEL_FORMAT_JPEG });
    await wrongFormat.until(() => wrongFormat.error() !== undefined);
    expect(wrongFormat.error()?.code).toBe(status.INVALID_ARGUMENT);
  });

  it("answers standard grpc.health.v1 checks and its own HealthCheck", async () => {
    const c = await start();
    const HealthClient = makeGenericClientConstructor(healthService, "grpc.health.v1.Health");
    const health = new HealthClient(worker!.address, credentials.createInsecure()) as unknown as {
      check(req: { service: string }, cb: (err: ServiceError | null, res: { status: string }) => void): void;
      close(): void;
    };
    const check = (service: string) => new Promise<{ status: string }>((resolve, reject) => health.check({ service }, (err, res) => (err ? reject(err) : resolve(res))));
    expect((await check("imageflow.v1.CameraStreamService")).status).toBe("SERVING");
    worker!.setServing(false);
    expect((await check("")).status).toBe("NOT_SERVING");
    await expect(check("nope")).rejects.toMatchObject({ code: status.NOT_FOUND });
    health.close();
    const own = await new Promise<{ status: number }>((resolve, reject) => c.healthCheck({ service: "" }, (err, res) => (err ? reject(err) : resolve(res))));
    expect(own.status).toBe(HealthCheckResponse_ServingStatus.SERVING_STATUS_SERVING);
  });
});
