/**
 * Per-call latency of the resident image services (resize, AI detection, filter) on a 1920×1080
 * JPEG (a part with four defects and a QR code), one call at a time over gRPC on 127.0.0.1 with
 * the fs object store in a temp dir: round trip at the client and processing time at the service.
 *   npx tsx bench/image-services.ts [calls=20]
 */
import { credentials, Metadata } from "@grpc/grpc-js";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { FsObjectStore } from "../src/adapters/storage/fs-object-store.js";
import { AIDetectionServiceClient, type DetectionResponse } from "../src/generated/imageflow/v1/ai_detection.js";
import type { ImageData, ProcessingResult } from "../src/generated/imageflow/v1/common.js";
import { FilterServiceClient, type FilterResponse } from "../src/generated/imageflow/v1/filter.js";
import { ResizeServiceClient, type ResizeResponse } from "../src/generated/imageflow/v1/resize.js";
import { ImageServices, OUTPUT_KEY_METADATA } from "../src/worker/services/image-services.js";
import { unary } from "../test/support/grpc-client.js";
import { partImage } from "../test/support/part-image.js";
import { machine, numArg, writeResults } from "./lib/results.js";
import { median, pct, round } from "./lib/stats.js";

const calls = numArg(0, 20, 5);
const m = machine();
const dir = await mkdtemp(path.join(tmpdir(), "ifc-bench-imgsvc-"));
const store = new FsObjectStore(dir);
await store.init();
const services = new ImageServices({ store });
await services.listen("127.0.0.1:0");
const creds = credentials.createInsecure();
const clients = {
  resize: new ResizeServiceClient(services.address, creds),
  detection: new AIDetectionServiceClient(services.address, creds),
  filter: new FilterServiceClient(services.address, creds),
};
const img = await partImage({ qr: { payload: "BENCH-0001", x: 1480, y: 280, moduleSize: 8 } });
await store.put("bench/in.jpg", img.data);
// Without a QR code the detector searches twice (shrunk, then full resolution): the worst case.
await store.put("bench/clean.jpg", (await partImage()).data);
const input: ImageData = { bucket: "", objectKey: "bench/in.jpg", contentType: "image/jpeg", sizeBytes: img.data.length, width: 1920, height: 1080, createdAtMs: 0 };
const md = (key: string): Metadata => {
  const meta = new Metadata();
  meta.set(OUTPUT_KEY_METADATA, key);
  return meta;
};

const cases: Record<string, (i: number) => Promise<{ result?: ProcessingResult | undefined }>> = {
  "resize 1920x1080 → 1280x720 fit": (i) => unary<ResizeResponse>(clients.resize, "resize", { inputImage: input, targetWidth: 1280, targetHeight: 720, resizeMode: "fit", maintainAspectRatio: true }, md(`bench/out/r${i}.jpg`)),
  "detect (reference: QR + defects)": () => unary<DetectionResponse>(clients.detection, "detect", { inputImage: input, modelName: "reference", confidenceThreshold: 0.5, targetClasses: [] }),
  "detect, no QR code (two QR searches)": () => unary<DetectionResponse>(clients.detection, "detect", { inputImage: { ...input, objectKey: "bench/clean.jpg" }, modelName: "reference", confidenceThreshold: 0.5, targetClasses: [] }),
  "filter blur sigma 2": (i) => unary<FilterResponse>(clients.filter, "applyFilter", { inputImage: input, filterType: "blur", parameters: {} }, md(`bench/out/b${i}.jpg`)),
  "filter sharpen sigma 1": (i) => unary<FilterResponse>(clients.filter, "applyFilter", { inputImage: input, filterType: "sharpen", parameters: {} }, md(`bench/out/s${i}.jpg`)),
  "filter edge": (i) => unary<FilterResponse>(clients.filter, "applyFilter", { inputImage: input, filterType: "edge", parameters: {} }, md(`bench/out/e${i}.jpg`)),
};

const results: Record<string, unknown> = {};
try {
  for (const [name, call] of Object.entries(cases)) {
    await call(-1); // warm-up: first-call costs (sharp's thread pool, jsQR's buffers) are not steady state
    const rtt: number[] = [];
    const server: number[] = [];
    for (let i = 0; i < calls; i++) {
      const t = performance.now();
      const res = await call(i);
      rtt.push(performance.now() - t);
      server.push((res.result?.processingTimeSeconds ?? 0) * 1000);
    }
    results[name] = { calls, rttMedianMs: round(median(rtt)), rttP95Ms: round(pct(rtt, 95)), serviceMedianMs: round(median(server)) };
    console.log(name.padEnd(36), JSON.stringify(results[name]));
  }
  console.log("written", await writeResults("image-services", m, { input: { width: 1920, height: 1080, format: "jpeg", quality: 90, bytes: img.data.length }, results }));
} finally {
  for (const c of Object.values(clients)) c.close();
  await services.close();
  await rm(dir, { recursive: true, force: true });
}
