import { pino } from "pino";
import { FsObjectStore } from "../adapters/storage/fs-object-store.js";
import { MinioObjectStore } from "../adapters/storage/minio-object-store.js";
import type { ObjectStore } from "../ports/object-store.js";
import { ReferenceWorker } from "./reference-worker.js";
import { ImageServices, type ImageServiceKind } from "./services/image-services.js";
import { parseServe, positiveInt } from "./services/serve-env.js";

/**
 * `npm run worker`: the bundled reference AI worker (CameraStreamService) as its own process,
 * and/or the resident image services (IFC_WORKER_SERVE, see serve-env.ts).
 */
const port = Number(process.env.IFC_WORKER_PORT ?? 50054);
const host = process.env.IFC_WORKER_HOST ?? "0.0.0.0";
const log = pino({ level: process.env.IFC_LOG_LEVEL ?? "info", base: { service: "ifc-reference-worker" } });
const serve = parseServe(process.env.IFC_WORKER_SERVE);
const worker = serve.includes("camera")
  ? new ReferenceWorker({
      capacityFps: Number(process.env.IFC_WORKER_CAPACITY_FPS ?? 30),
      initialCredits: Number(process.env.IFC_WORKER_INITIAL_CREDITS ?? 4),
      maxFrameBytes: Number(process.env.IFC_WORKER_MAX_FRAME_BYTES ?? 32 * 1024 * 1024),
      detectors: parseDetectors(process.env.IFC_WORKER_DETECTORS),
    }, log)
  : undefined;

function parseDetectors(v: string | undefined): "qr+motion" | "motion" | "none" {
  if (v === undefined || v === "" || v === "qr+motion") return "qr+motion";
  if (v === "motion" || v === "none") return v;
  throw new Error(`IFC_WORKER_DETECTORS must be qr+motion, motion or none, got "${v}"`);
}

/** The image services' object store: S3/MinIO when IFC_WORKER_S3_URL is set, else files under IFC_WORKER_STORE_DIR. */
async function imageStore(bucket: string): Promise<ObjectStore> {
  const s3 = process.env.IFC_WORKER_S3_URL;
  if (s3) {
    const store = new MinioObjectStore({
      url: s3,
      accessKey: process.env.IFC_WORKER_S3_ACCESS_KEY ?? "minioadmin",
      secretKey: process.env.IFC_WORKER_S3_SECRET_KEY ?? "minioadmin",
      region: process.env.IFC_WORKER_S3_REGION ?? "us-east-1",
      bucket,
      pathStyle: true,
    });
    await store.init();
    return store;
  }
  const store = new FsObjectStore(process.env.IFC_WORKER_STORE_DIR ?? "data/objects");
  await store.init();
  return store;
}

const imageKinds = serve.filter((r): r is ImageServiceKind => r !== "camera");
let images: ImageServices | undefined;
if (imageKinds.length > 0) {
  const bucket = process.env.IFC_WORKER_BUCKET ?? "imageflow";
  images = new ImageServices({
    store: await imageStore(bucket),
    bucket,
    services: imageKinds,
    maxEdge: positiveInt("IFC_WORKER_MAX_EDGE", process.env.IFC_WORKER_MAX_EDGE, 8192),
    maxInputBytes: positiveInt("IFC_WORKER_MAX_INPUT_BYTES", process.env.IFC_WORKER_MAX_INPUT_BYTES, 32 * 1024 * 1024),
  });
  const imagePort = await images.listen(`${host}:${process.env.IFC_WORKER_IMAGE_PORT ?? 50051}`);
  log.info({ port: imagePort, services: imageKinds, bucket }, "image services listening");
}
if (worker) await worker.listen(`${host}:${port}`);
const stop = (): void => {
  void Promise.all([worker?.close(), images?.close()]).then(() => process.exit(0));
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
// Started by the server (embedded default): go when the server goes, however it went.
if (process.env.IFC_WORKER_EXIT_WITH_STDIN === "1") {
  process.stdin.on("end", stop);
  process.stdin.on("error", stop);
  process.stdin.resume();
}
