import { pino } from "pino";
import { ReferenceWorker } from "./reference-worker.js";

/** `npm run worker`: the bundled reference AI worker as its own process. */
const port = Number(process.env.IFC_WORKER_PORT ?? 50054);
const host = process.env.IFC_WORKER_HOST ?? "0.0.0.0";
const log = pino({ level: process.env.IFC_LOG_LEVEL ?? "info", base: { service: "ifc-reference-worker" } });
const worker = new ReferenceWorker({
  capacityFps: Number(process.env.IFC_WORKER_CAPACITY_FPS ?? 30),
  initialCredits: Number(process.env.IFC_WORKER_INITIAL_CREDITS ?? 4),
  maxFrameBytes: Number(process.env.IFC_WORKER_MAX_FRAME_BYTES ?? 32 * 1024 * 1024),
}, log);
await worker.listen(`${host}:${port}`);
const stop = (): void => {
  void worker.close().then(() => process.exit(0));
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
