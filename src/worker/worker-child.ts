import { spawn, type ChildProcess } from "node:child_process";
import { fileURLToPath } from "node:url";
import type { Logger } from "pino";

export interface EmbeddedWorker {
  readonly address: string;
  readonly pid: number | undefined;
  stop(): Promise<void>;
}

export interface WorkerChildOptions {
  /** The child's environment on top of ours (IFC_WORKER_*). */
  env: Record<string, string>;
  /** The log message the child prints, with its `port`, once it listens. */
  listeningMsg: string;
  /** How the child is named in our logs and errors. */
  name: string;
  log: Logger;
  startTimeoutMs?: number;
}

/**
 * Starts `src/worker/main` as a child process and waits until it says it listens (its port, read
 * from its JSON log line). The child exits when its stdin closes, so it never outlives us, even
 * after a SIGKILL; from the listening line on its log lines go to ours.
 */
export async function startWorkerChild(o: WorkerChildOptions): Promise<EmbeddedWorker & { port: number }> {
  const here = fileURLToPath(import.meta.url);
  const fromSource = here.endsWith(".ts");
  const main = fileURLToPath(new URL(fromSource ? "./main.ts" : "./main.js", import.meta.url));
  const startTimeoutMs = o.startTimeoutMs ?? 20_000;
  const child: ChildProcess = spawn(process.execPath, [...(fromSource ? ["--import", "tsx"] : []), main], {
    env: { ...process.env, ...o.env, IFC_WORKER_EXIT_WITH_STDIN: "1" },
    stdio: ["pipe", "pipe", "pipe"],
  });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  let out = "";
  const listening = new RegExp(`"port":(\\d+).*"msg":"${o.listeningMsg}"`);
  const port = await new Promise<number>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL");
      reject(new Error(`${o.name} did not start within ${startTimeoutMs} ms: ${out.slice(-2000)}`));
    }, startTimeoutMs);
    const onData = (d: Buffer): void => {
      if (out.length < 100_000) out += d.toString();
      const m = listening.exec(out);
      if (m) {
        clearTimeout(timer);
        resolve(Number(m[1]));
      }
    };
    child.stdout?.on("data", onData);
    child.stderr?.on("data", onData);
    void exited.then(() => {
      clearTimeout(timer);
      reject(new Error(`${o.name} exited before listening: ${out.slice(-2000)}`));
    });
  });
  const forward = (d: Buffer): void => {
    for (const line of d.toString().split("\n")) if (line.trim()) o.log.debug({ line: line.slice(0, 2000) }, o.name);
  };
  child.stdout?.removeAllListeners("data");
  child.stderr?.removeAllListeners("data");
  child.stdout?.on("data", forward);
  child.stderr?.on("data", forward);
  return {
    port,
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
