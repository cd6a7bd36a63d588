import type { Logger } from "pino";
import { startWorkerChild, type EmbeddedWorker } from "./worker-child.js";
import type { ImageServiceKind } from "./services/image-services.js";

export interface SpawnImageServicesOptions {
  /** Which services the child serves (default all three). */
  services?: readonly ImageServiceKind[];
  /** The fs object store's root the child reads and writes (the server's own store directory). */
  storeDir: string;
  /** Bucket the child serves (default "imageflow"). */
  bucket?: string;
  maxEdge?: number;
  maxInputBytes?: number;
  log: Logger;
  /** Give up when the child has not said it listens within this (default 20 s). */
  startTimeoutMs?: number;
}

/**
 * Starts the resident image services as a child process on 127.0.0.1 (an ephemeral port), over
 * an fs store shared with the server. Its own process because detection is tens of ms of
 * JavaScript per image, which in-process would stall the server's event loop. The child exits
 * when its stdin closes, so it never outlives the server.
 */
export async function spawnImageServices(o: SpawnImageServicesOptions): Promise<EmbeddedWorker> {
  const worker = await startWorkerChild({
    env: {
      IFC_WORKER_SERVE: (o.services ?? ["resize", "detection", "filter"]).join(","),
      IFC_WORKER_HOST: "127.0.0.1",
      IFC_WORKER_IMAGE_PORT: "0",
      IFC_WORKER_STORE_DIR: o.storeDir,
      IFC_WORKER_BUCKET: o.bucket ?? "imageflow",
      ...(o.maxEdge !== undefined ? { IFC_WORKER_MAX_EDGE: String(o.maxEdge) } : {}),
      ...(o.maxInputBytes !== undefined ? { IFC_WORKER_MAX_INPUT_BYTES: String(o.maxInputBytes) } : {}),
      IFC_WORKER_S3_URL: "",
      IFC_LOG_LEVEL: "info",
    },
    listeningMsg: "image services listening",
    name: "image services",
    log: o.log,
    ...(o.startTimeoutMs !== undefined ? { startTimeoutMs: o.startTimeoutMs } : {}),
  });
  o.log.info({ port: worker.port, pid: worker.pid, services: o.services ?? "all" }, "image services started");
  return worker;
}
