import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { Logger } from "pino";

export interface EmbeddedWorker {
  readonly address: string;
  readonly pid: number | undefined;
  stop(): Promise<void>;
}

/**
 * Starts the bundled reference worker as a child process on 127.0.0.1 (an ephemeral port).
 * Its own process, not this one's event loop: QR decoding of a 720p frame takes tens of ms of
 * JavaScript, which in-process would stall ingest for every stream. The child exits when its
 * stdin closes, so it never outlives the server, even after a SIGKILL.
 */
export async function spawnReferenceWorker(o: { capacityFps: number; maxFrameBytes: number; log: Logger; startTimeoutMs?: number; detectors?: "qr+motion" | "motion" | "none" }): Promise<EmbeddedWorker> {
  const here = fileURLToPath(import.meta.url);
  const fromSource = here.endsWith(".ts");
  const main = fileURLToPath(new URL(fromSource ? "./main.ts" : "./main.js", import.meta.url));
  const child: ChildProcess = spawn(process.execPath, [...(fromSource ? ["--import", "tsx"] : []), main], {
    env: {
      ...process.env,
      IFC_WORKER_HOST: "127.0.0.1",
      IFC_WORKER_PORT: "0",
      IFC_WORKER_CAPACITY_FPS: String(o.capacityFps),
      IFC_WORKER_MAX_FRAME_BYTES: String(o.maxFrameBytes),
      IFC_WORKER_EXIT_WITH_STDIN: "1",
      ...(o.detectors ? { IFC_WORKER_DETECTORS: o.detectors } : {}),
      IFC_LOG_LEVEL: "info",
    },
    stdio: ["pipe", "pipe", "pipe"],
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  let out = "";
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`reference worker did not start within ${o.startTimeoutMs ?? 20_000} ms: ${out.slice(-2000)}`));
    }, o.startTimeoutMs ?? 20_000);
    const onData = (d: Buffer): void => {
      if (out.length < 100_000) out += d.toString();
      const m = /"port":(\d+).*"msg":"reference AI worker listening"/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`reference worker exited before listening: ${out.slice(-2000)}`));
    });
  });
  // From here on its log lines go to ours (JSON lines, already structured).
  const forward = (d: Buffer): void => {
    for (const line of d.toString().split("\n")) if (line.trim()) o.log.debug({ line: line.slice(0, 2000) }, "reference worker");
  };
  child.stdout?.removeAllListeners("data");
  child.stderr?.removeAllListeners("data");
  child.stdout?.on("data", forward);
  child.stderr?.on("data", forward);
  o.log.info({ port, pid: child.pid }, "bundled reference AI worker started");
  return {
    address: `127.0.0.1:${port}`,
    pid: child.pid,
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGTERM");
      const timer = setTimeout(() => child.kill("SIGKILL"), 3000);
      await exited;
      clearTimeout(timer);
    },
  };
}
