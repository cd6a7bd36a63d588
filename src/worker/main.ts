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
  detectors: parseDetectors(process.env.IFC_WORKER_DETECTORS),
}, log);

function parseDetectors(v: string | undefined): "qr+motion" | "motion" | "none" {
  if (v === undefined || v === "" || v === "qr+motion") return "qr+motion";
  if (v === "motion" || v === "none") return v;
  throw new Error(`IFC_WORKER_DETECTORS must be qr+motion, motion or none, got "${v}"`);
}
await worker.listen(`${host}:${port}`);
const stop = (): void => {
  void worker.close().then(() => process.exit(0));
};
process.on("SIGTERM", stop);
process.on("SIGINT", stop);
// Started by the server (embedded default): go when the server goes, however it went.
if (process.env.IFC_WORKER_EXIT_WITH_STDIN === "1") {
  process.stdin.on("end", stop);
  process.stdin.on("error", stop);
  process.stdin.resume();
}
