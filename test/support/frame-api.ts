import { pino } from "pino";
import sharp from "sharp";
import { WorkerPool } from "../../src/extractor/worker-pool.js";
import { ReferenceWorker, type ReferenceWorkerOptions } from "../../src/worker/reference-worker.js";
import { grayFrameWithQr } from "./qr-frame.js";

export const silent = pino({ level: "silent" });

/** A JPEG of `width`×`height` with a QR code of `text` (what a camera client would send). */
export async function jpegWithQr(text: string, width = 640, height = 360, quality = 85): Promise<Buffer> {
  const scale = Math.max(4, Math.floor(Math.min(width, height) / 60));
  const g = grayFrameWithQr(text, { width, height, x: Math.floor(width / 3), y: Math.floor(height / 4), scale });
  return sharp(g.data, { raw: { width, height, channels: 1 } }).jpeg({ quality }).toBuffer();
}

/** A real reference worker on 127.0.0.1:0 and a real WorkerPool over it (health timer not started: it is healthy until told otherwise). */
export async function workerAndPool(o: Partial<ReferenceWorkerOptions> = {}): Promise<{ worker: ReferenceWorker; pool: WorkerPool; close(): Promise<void> }> {
  const worker = new ReferenceWorker({ capacityFps: 1000, initialCredits: 4, maxFrameBytes: 64 * 1024 * 1024, ...o }, silent);
  await worker.listen();
  const pool = new WorkerPool(
    { endpoints: [worker.address], healthIntervalMs: 60_000, healthTimeoutMs: 2_000, breakerFailures: 5, breakerOpenMs: 30_000, breakerSuccesses: 1, maxFrameBytes: 64 * 1024 * 1024 },
    silent,
  );
  return {
    worker,
    pool,
    close: async () => {
      pool.close();
      await worker.close(500);
    },
  };
}
