import type { Logger } from "pino";
import { startWorkerChild, type EmbeddedWorker } from "./worker-child.js";

export type { EmbeddedWorker } from "./worker-child.js";

/**
 * Starts the bundled reference worker as a child process on 127.0.0.1 (an ephemeral port).
 * Its own process, not this one's event loop: QR decoding of a 720p frame takes tens of ms of
 * JavaScript, which in-process would stall ingest for every stream.
 */
export async function spawnReferenceWorker(o: { capacityFps: number; maxFrameBytes: number; log: Logger; startTimeoutMs?: number; detectors?: "qr+motion" | "motion" | "none" }): Promise<EmbeddedWorker> {
  const worker = await startWorkerChild({
    env: {
      IFC_WORKER_HOST: "127.0.0.1",
      IFC_WORKER_PORT: "0",
      IFC_WORKER_CAPACITY_FPS: String(o.capacityFps),
      IFC_WORKER_MAX_FRAME_BYTES: String(o.maxFrameBytes),
      ...(o.detectors ? { IFC_WORKER_DETECTORS: o.detectors } : {}),
      IFC_LOG_LEVEL: "info",
    },
    listeningMsg: "reference AI worker listening",
    name: "reference worker",
    log: o.log,
    ...(o.startTimeoutMs !== undefined ? { startTimeoutMs: o.startTimeoutMs } : {}),
  });
  o.log.info({ port: worker.port, pid: worker.pid }, "bundled reference AI worker started");
  return worker;
}
