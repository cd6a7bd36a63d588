import { spawn, type ChildProcess } from "node:child_process";
import path from "node:path";
import { freePort } from "./free-port.js";

/** Debian's interpreter: gst-rtsp-server's bindings (python3-gi) are not in the pyenv one on PATH. */
export const SYSTEM_PYTHON = process.env.IFC_SYSTEM_PYTHON ?? "/usr/bin/python3";
const SCRIPT = path.resolve(import.meta.dirname, "../peers/gst-rtsp-server.py");

export interface GstRtspServerOptions {
  /** Mount path (default `/cam`). */
  path?: string;
  auth?: { method: "basic" | "digest"; user: string; password: string };
  width?: number;
  height?: number;
  fps?: number;
}

export interface GstRtspServer {
  port: number;
  /** `rtsp://127.0.0.1:<port><path>`, without credentials. */
  url: string;
  /** Stops the server (its whole process group); a later `start` serves again on the same port. */
  stop(): Promise<void>;
  start(): Promise<void>;
  /** What the process wrote (stderr and stdout), for failure messages. */
  output(): string;
}

/**
 * A camera that only serves: the gst-rtsp-server peer (test/peers/gst-rtsp-server.py) serving
 * a live 1280x720@30 H.264 + AAC test source. Resolves once it prints "ready <port>".
 */
export async function startGstRtspServer(opts: GstRtspServerOptions = {}): Promise<GstRtspServer> {
  const port = await freePort();
  const mount = opts.path ?? "/cam";
  const args = [SCRIPT, String(port), "--path", mount];
  if (opts.auth) args.push("--auth", opts.auth.method, "--user", opts.auth.user, "--password", opts.auth.password);
  if (opts.width) args.push("--width", String(opts.width));
  if (opts.height) args.push("--height", String(opts.height));
  if (opts.fps) args.push("--fps", String(opts.fps));
  let child: ChildProcess | undefined;
  let output = "";

  const start = async (): Promise<void> => {
    // Its own process group, so a stop takes GStreamer's threads and any helper with it.
    const c = spawn(SYSTEM_PYTHON, args, { stdio: ["ignore", "pipe", "pipe"], detached: true });
    child = c;
    // A detached group outlives a test process that dies without its afterEach: take it along.
    const reap = (): void => {
      if (c.pid !== undefined && c.exitCode === null && c.signalCode === null) {
        try {
          process.kill(-c.pid, "SIGKILL");
        } catch {
          // already gone
        }
      }
    };
    process.once("exit", reap);
    c.once("exit", () => process.off("exit", reap));
    c.stderr?.on("data", (d: Buffer) => (output += d.toString()));
    await new Promise<void>((resolve, reject) => {
      let seen = "";
      const onData = (d: Buffer): void => {
        const text = d.toString();
        output += text;
        seen += text;
        if (/^ready \d+$/m.test(seen)) {
          c.stdout?.off("data", onData);
          c.off("exit", onExit);
          resolve();
        }
      };
      const onExit = (code: number | null): void => reject(new Error(`gst-rtsp-server exited with ${code} before it was ready: ${output}`));
      c.stdout?.on("data", onData);
      c.once("exit", onExit);
      c.once("error", reject);
    });
    // Keep draining stdout so the pipe never fills.
    c.stdout?.on("data", (d: Buffer) => (output += d.toString()));
  };

  const stop = async (): Promise<void> => {
    const c = child;
    child = undefined;
    if (!c || c.exitCode !== null || c.signalCode !== null || c.pid === undefined) return;
    const exited = new Promise((r) => c.once("exit", r));
    const pgid = c.pid;
    const signal = (sig: NodeJS.Signals): void => {
      try {
        process.kill(-pgid, sig);
      } catch {
        // already gone
      }
    };
    signal("SIGTERM");
    const killer = setTimeout(() => signal("SIGKILL"), 5000);
    await exited;
    clearTimeout(killer);
  };

  await start();
  return { port, url: `rtsp://127.0.0.1:${port}${mount}`, stop, start, output: () => output };
}
