import { credentials, makeGenericClientConstructor, status, type ServiceError } from "@grpc/grpc-js";
import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { service as healthService } from "grpc-health-check";
import sharp from "sharp";
import { afterEach, describe, expect, it } from "vitest";
import { pino } from "pino";
import { AIDetectionServiceClient, type DetectionResponse } from "../../src/generated/imageflow/v1/ai_detection.js";
import { spawnImageServices } from "../../src/worker/spawn-image-services.js";
import { HealthCheckResponse_ServingStatus, type HealthCheckResponse } from "../../src/generated/imageflow/v1/common.js";
import type { FilterResponse } from "../../src/generated/imageflow/v1/filter.js";
import { ResizeServiceClient, type ResizeResponse } from "../../src/generated/imageflow/v1/resize.js";
import { FsObjectStore } from "../../src/adapters/storage/fs-object-store.js";
import { DETECTION_SERVICE, FILTER_SERVICE, RESIZE_SERVICE } from "../../src/worker/services/image-services.js";
import { grpcError, unary } from "../support/grpc-client.js";
import { outputKey, startImageServices, type ImageServicesHarness } from "../support/image-services-harness.js";
import { partImage } from "../support/part-image.js";
import { waitFor, waitForValue } from "../support/wait-for.js";
import type { ObjectStore } from "../../src/ports/object-store.js";

let h: ImageServicesHarness | undefined;
afterEach(async () => {
  await h?.close();
  h = undefined;
});

type HealthClient = { check(req: { service: string }, cb: (err: ServiceError | null, res: { status: string }) => void): void; close(): void };

function healthOf(address: string): { check: (service: string) => Promise<string>; close: () => void } {
  const Client = makeGenericClientConstructor(healthService, "grpc.health.v1.Health");
  const c = new Client(address, credentials.createInsecure()) as unknown as HealthClient;
  return {
    check: (service) => new Promise((resolve, reject) => c.check({ service }, (err, res) => (err ? reject(err) : resolve(res.status)))),
    close: () => c.close(),
  };
}

describe("ImageServices (resize, AI detection, filter on one gRPC server)", () => {
  it("chains resize → detect → filter by reference, each output under the caller's key", async () => {
    h = await startImageServices({ bucket: "imageflow" });
    const img = await partImage({ qr: { payload: "PART-77", x: 1400, y: 320, moduleSize: 8 } });
    const input = await h.put("uploads/part.jpg", img.data);
    const resized = await unary<ResizeResponse>(h.resize, "resize", { inputImage: input, targetWidth: 1280, targetHeight: 720, resizeMode: "fill", maintainAspectRatio: true }, outputKey("executions/e1/resize.jpg"));
    const detected = await unary<DetectionResponse>(h.detection, "detect", { inputImage: resized.result!.outputImage, modelName: "reference", confidenceThreshold: 0.5, targetClasses: [] });
    expect(detected.detections.map((d) => d.className).sort()).toEqual(["dark_spot", "dark_spot", "qr_code", "scratch", "scratch"]);
    expect(detected.detections.find((d) => d.className === "qr_code")!.attributes.payload).toBe("PART-77");
    const filtered = await unary<FilterResponse>(h.filter, "applyFilter", { inputImage: detected.result!.outputImage, filterType: "sharpen", parameters: {} }, outputKey("executions/e1/filter.jpg"));
    const out = filtered.result!.outputImage!;
    expect(out).toMatchObject({ bucket: "imageflow", objectKey: "executions/e1/filter.jpg", contentType: "image/jpeg", width: 1280, height: 720 });
    expect(await sharp(await h.store.get(out.objectKey)).metadata()).toMatchObject({ width: 1280, height: 720, format: "jpeg" });
    expect((await h.store.list("executions/e1/")).map((o) => o.key)).toEqual(["executions/e1/filter.jpg", "executions/e1/resize.jpg"]);
    expect(filtered.result!.processingTimeSeconds).toBeGreaterThan(0);
    expect(h.services.stats.calls).toEqual({ resize: 1, detection: 1, filter: 1 });
  });

  it("reports SERVING per service and for the server in grpc.health.v1 and HealthCheck, and NOT_SERVING when told", async () => {
    const hs = (h = await startImageServices());
    const health = healthOf(hs.services.address);
    try {
      for (const name of ["", RESIZE_SERVICE, DETECTION_SERVICE, FILTER_SERVICE]) expect(await health.check(name), name).toBe("SERVING");
      const own = (client: typeof hs.resize | typeof hs.filter | typeof hs.detection) => unary<HealthCheckResponse>(client, "healthCheck", { service: "" });
      expect((await own(h.detection)).status).toBe(HealthCheckResponse_ServingStatus.SERVING_STATUS_SERVING);

      h.services.setServing(false, DETECTION_SERVICE);
      expect(await health.check(DETECTION_SERVICE)).toBe("NOT_SERVING");
      expect(await health.check(RESIZE_SERVICE)).toBe("SERVING");
      expect((await own(h.detection)).status).toBe(HealthCheckResponse_ServingStatus.SERVING_STATUS_NOT_SERVING);
      expect((await own(h.resize)).status).toBe(HealthCheckResponse_ServingStatus.SERVING_STATUS_SERVING);

      h.services.setServing(false);
      for (const name of ["", RESIZE_SERVICE, FILTER_SERVICE]) expect(await health.check(name), name).toBe("NOT_SERVING");
      h.services.setServing(true);
      for (const name of ["", RESIZE_SERVICE, DETECTION_SERVICE, FILTER_SERVICE]) expect(await health.check(name), name).toBe("SERVING");
      await expect(health.check("imageflow.v1.Unknown")).rejects.toMatchObject({ code: status.NOT_FOUND });
    } finally {
      health.close();
    }
  });

  it("serves only the services asked for", async () => {
    h = await startImageServices({ services: ["resize"] });
    const health = healthOf(h.services.address);
    try {
      expect(await health.check(RESIZE_SERVICE)).toBe("SERVING");
      await expect(health.check(DETECTION_SERVICE)).rejects.toMatchObject({ code: status.NOT_FOUND });
    } finally {
      health.close();
    }
    expect(() => h!.services.setServing(false, FILTER_SERVICE)).toThrow(RangeError);
    const input = await h.put("in/x.png", await sharp({ create: { width: 8, height: 8, channels: 3, background: "#fff" } }).png().toBuffer(), "image/png");
    const err = await grpcError(unary(h.detection, "detect", { inputImage: input, modelName: "", confidenceThreshold: 0, targetClasses: [] }));
    expect(err.code).toBe(status.UNIMPLEMENTED);
  });
});

describe("capacity", () => {
  it("processes maxConcurrentCalls at once and refuses one more with RESOURCE_EXHAUSTED, counted", async () => {
    // The gate holds every input read until released: calls pile up in flight deterministically.
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    let held = 0;
    const hs = (h = await startImageServices({
      maxConcurrentCalls: 2,
      wrapStore: (s: ObjectStore): ObjectStore => Object.assign(Object.create(s) as ObjectStore, {
        stat: async (key: string) => {
          held++;
          await gate;
          return s.stat(key);
        },
      }),
    }));
    const input = await hs.put("in/x.png", await sharp({ create: { width: 16, height: 16, channels: 3, background: "#888" } }).png().toBuffer(), "image/png");
    const call = () => unary<ResizeResponse>(hs.resize, "resize", { inputImage: input, targetWidth: 8, targetHeight: 8, resizeMode: "fit", maintainAspectRatio: true });
    const first = [call(), call()];
    await waitFor(() => held === 2, { what: "two calls in flight" });
    const err = await grpcError(call());
    expect(err.code).toBe(status.RESOURCE_EXHAUSTED);
    expect(err.details).toMatch(/busy: 2 calls in progress/);
    expect(hs.services.stats).toMatchObject({ rejectedBusy: 1, inFlight: 2 });
    release();
    for (const r of await Promise.all(first)) expect(r.result!.outputImage!.width).toBe(8);
    expect((await call()).result!.outputImage!.width).toBe(8);
    expect(hs.services.stats).toMatchObject({ rejectedBusy: 1, inFlight: 0 });
  });
});

describe("npm run worker with IFC_WORKER_SERVE", () => {
  let child: ChildProcess | undefined;
  let dir: string | undefined;
  afterEach(async () => {
    if (child && child.exitCode === null) {
      const exited = new Promise((resolve) => child!.once("exit", resolve));
      child.kill("SIGTERM");
      await exited;
    }
    if (dir) await rm(dir, { recursive: true, force: true });
    child = undefined;
    dir = undefined;
  });

  it("serves the image services alone over an fs store, and exits on SIGTERM", async () => {
    dir = await mkdtemp(path.join(tmpdir(), "ifc-worker-main-"));
    const store = new FsObjectStore(dir);
    await store.init();
    await store.put("in/a.png", await sharp({ create: { width: 40, height: 20, channels: 3, background: "#123456" } }).png().toBuffer());
    const proc = (child = spawn(process.execPath, ["--import", "tsx", "src/worker/main.ts"], {
      env: { ...process.env, IFC_WORKER_SERVE: "resize,filter", IFC_WORKER_HOST: "127.0.0.1", IFC_WORKER_IMAGE_PORT: "0", IFC_WORKER_STORE_DIR: dir, IFC_WORKER_BUCKET: "b1" },
      stdio: ["ignore", "pipe", "pipe"],
    }));
    let out = "";
    proc.stdout?.on("data", (d: Buffer) => (out += d.toString()));
    proc.stderr?.on("data", (d: Buffer) => (out += d.toString()));
    const port = await waitForValue(() => /"port":(\d+).*"msg":"image services listening"/.exec(out)?.[1], { timeoutMs: 15_000, what: "image services listening" });
    expect(out).not.toMatch(/reference AI worker listening/);
    const client = new ResizeServiceClient(`127.0.0.1:${port}`, credentials.createInsecure());
    try {
      const res = await unary<ResizeResponse>(client, "resize", { inputImage: { bucket: "b1", objectKey: "in/a.png", contentType: "", sizeBytes: 0, width: 0, height: 0, createdAtMs: 0 }, targetWidth: 20, targetHeight: 0, resizeMode: "fit", maintainAspectRatio: true }, outputKey("out/a.png"));
      expect(res.result!.outputImage).toMatchObject({ bucket: "b1", objectKey: "out/a.png", width: 20, height: 10 });
      expect((await store.stat("out/a.png"))?.size).toBe(res.result!.outputImage!.sizeBytes);
    } finally {
      client.close();
    }
    const code = new Promise<number | null>((resolve) => proc.once("exit", resolve));
    proc.kill("SIGTERM");
    expect(await code).toBe(0);
  });

  it("spawnImageServices starts a child serving detection over the server's store, and stops it", async () => {
    dir = await mkdtemp(path.join(tmpdir(), "ifc-worker-spawn-"));
    const store = new FsObjectStore(dir);
    await store.init();
    const img = await partImage({ width: 960, height: 540, defects: [{ kind: "dark_spot", cx: 300, cy: 250, radius: 12 }], qr: { payload: "CHILD", x: 600, y: 150, moduleSize: 6 } });
    await store.put("in/p.jpg", img.data);
    const worker = await spawnImageServices({ services: ["detection"], storeDir: dir, log: pino({ level: "silent" }) });
    const client = new AIDetectionServiceClient(worker.address, credentials.createInsecure());
    try {
      const res = await unary<DetectionResponse>(client, "detect", { inputImage: { bucket: "imageflow", objectKey: "in/p.jpg", contentType: "", sizeBytes: 0, width: 0, height: 0, createdAtMs: 0 }, modelName: "", confidenceThreshold: 0, targetClasses: [] });
      expect(res.detections.map((d) => [d.className, d.attributes.payload ?? ""]).sort()).toEqual([["dark_spot", ""], ["qr_code", "CHILD"]]);
    } finally {
      client.close();
      await worker.stop();
    }
    expect(() => process.kill(worker.pid!, 0)).toThrow();
  });
});
