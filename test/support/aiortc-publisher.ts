import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { homedir } from "node:os";
import path from "node:path";
import { createInterface } from "node:readline";

/**
 * Runs test/peers/aiortc/whip_publish.py (aiortc, an independent WebRTC stack) as a WHIP
 * publisher and speaks its JSON-lines protocol. The Python comes from the venv that
 * `scripts/setup.sh test` makes (IFC_AIORTC_PYTHON overrides it).
 */
export function aiortcPython(): string {
  if (process.env.IFC_AIORTC_PYTHON) return process.env.IFC_AIORTC_PYTHON;
  const cache = process.env.XDG_CACHE_HOME ?? path.join(homedir(), ".cache");
  const python = path.join(cache, "imageflowcanvas", "venv-aiortc", "bin", "python");
  if (!existsSync(python)) throw new Error(`aiortc is not installed (${python} missing): run bash scripts/setup.sh test`);
  return python;
}

/** What the script reports after "stop": aiortc's own counters. */
export interface AiortcSent {
  framesSent: number;
  packetsSent: number;
  /** RTCP generic NACK packets that reached aiortc. */
  nackPackets: number;
  /** Sequence numbers those NACKs named (with repeats). */
  nackedSeqs: number;
  /** NACKed packets aiortc still had and sent again. */
  retransmitted: number;
  /** NACKed packets no longer in aiortc's 128-packet history. */
  retransmitMisses: number;
}

export interface AiortcPublisher {
  child: ChildProcess;
  /** Whether the answer negotiated RTX (known once connected). */
  connected: Promise<{ rtx: boolean }>;
  /** Stops the frames; resolves with what was sent. */
  stop(): Promise<AiortcSent>;
  /** Sends the WHIP DELETE; resolves with its HTTP status. */
  delete(): Promise<number>;
  /** Resolves with the exit code once the process ended. */
  exited: Promise<number | null>;
  /** Kills the process if it still runs (afterEach). */
  kill(): Promise<void>;
  /** Everything the script wrote on stderr (for failure messages). */
  stderr(): string;
}

const SCRIPT = path.resolve(import.meta.dirname, "../peers/aiortc/whip_publish.py");

export function startAiortcPublisher(url: string, opts: { token?: string; width?: number; height?: number; fps?: number; maxSeconds?: number } = {}): AiortcPublisher {
  const args = [SCRIPT, url, "--width", String(opts.width ?? 640), "--height", String(opts.height ?? 360), "--fps", String(opts.fps ?? 30), "--max-seconds", String(opts.maxSeconds ?? 90)];
  if (opts.token) args.push("--token", opts.token);
  const child = spawn(aiortcPython(), args, { stdio: ["pipe", "pipe", "pipe"] });
  let err = "";
  child.stderr?.on("data", (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const waiters = new Map<string, (v: Record<string, unknown>) => void>();
  const seen = new Map<string, Record<string, unknown>>();
  createInterface({ input: child.stdout! }).on("line", (line) => {
    let msg: Record<string, unknown>;
    try {
      msg = JSON.parse(line) as Record<string, unknown>;
    } catch {
      return;
    }
    const event = String(msg.event);
    seen.set(event, msg);
    waiters.get(event)?.(msg);
  });
  const next = (event: string): Promise<Record<string, unknown>> => {
    const got = seen.get(event);
    if (got) return Promise.resolve(got);
    return Promise.race([
      new Promise<Record<string, unknown>>((resolve) => waiters.set(event, resolve)),
      exited.then((code) => {
        const error = seen.get("error");
        throw new Error(`aiortc publisher exited (${code}) before "${event}": ${error ? JSON.stringify(error) : ""}\n${err}`);
      }),
    ]);
  };
  const connected = next("connected").then((m) => ({ rtx: m.rtx === true }));
  connected.catch(() => undefined);
  return {
    child,
    connected,
    stop: async () => {
      child.stdin?.write("stop\n");
      const m = await next("stopped");
      return {
        framesSent: Number(m.framesSent), packetsSent: Number(m.packetsSent), nackPackets: Number(m.nackPackets),
        nackedSeqs: Number(m.nackedSeqs), retransmitted: Number(m.retransmitted), retransmitMisses: Number(m.retransmitMisses),
      };
    },
    delete: async () => {
      child.stdin?.write("delete\n");
      return Number((await next("deleted")).status);
    },
    kill: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.kill("SIGKILL");
      await exited;
    },
    exited,
    stderr: () => err,
  };
}
