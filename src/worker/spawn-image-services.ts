import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { Logger } from "pino";
import type { EmbeddedWorker } from "./spawn-worker.js";
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
  const here = fileURLToPath(import.meta.url);
  const fromSource = here.endsWith(".ts");
  const main = fileURLToPath(new URL(fromSource ? "./main.ts" : "./main.js", import.meta.url));
  const startTimeoutMs = o.startTimeoutMs ?? 20_000;
  const child: ChildProcess = spawn(process.execPath, [...(fromSource ? ["--import", "tsx"] : []), main], {
    env: {
      ...process.env,
      IFC_WORKER_SERVE: (o.services ?? ["resize", "detection", "filter"]).join(","),
      IFC_WORKER_HOST: "127.0.0.1",
      IFC_WORKER_IMAGE_PORT: "0",
      IFC_WORKER_STORE_DIR: o.storeDir,
      IFC_WORKER_BUCKET: o.bucket ?? "imageflow",
      ...(o.maxEdge !== undefined ? { IFC_WORKER_MAX_EDGE: String(o.maxEdge) } : {}),
      ...(o.maxInputBytes !== undefined ? { IFC_WORKER_MAX_INPUT_BYTES: String(o.maxInputBytes) } : {}),
      IFC_WORKER_S3_URL: "",
      IFC_WORKER_EXIT_WITH_STDIN: "1",
      IFC_LOG_LEVEL: "info",
    },
    stdio: ["pipe", "pipe", "pipe"],
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  let out = "";
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`image services did not start within ${startTimeoutMs} ms: ${out.slice(-2000)}`));
    }, startTimeoutMs);
    const onData = (d: Buffer): void => {
      if (out.length < 100_000) out += d.toString();
      const m = /"port":(\d+).*"msg":"image services listening"/.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`image services exited before listening: ${out.slice(-2000)}`));
    });
  });
  const forward = (d: Buffer): void => {
    for (const line of d.toString().split("\n")) if (line.trim()) o.log.debug({ line: line.slice(0, 2000) }, "image services");
  };
  child.stdout?.removeAllListeners("data");
  child.stderr?.removeAllListeners("data");
  child.stdout?.on("data", forward);
  child.stderr?.on("data", forward);
  o.log.info({ port, pid: child.pid, services: o.services ?? "all" }, "image services started");
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
