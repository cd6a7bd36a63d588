import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { connect } from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { freePort } from "./free-port.js";
import { stopChild } from "./process-tree.js";
import { waitFor } from "./wait-for.js";

export interface RedisServer {
  url: string;
  /** Stops the server (SIGTERM) and removes its directory. */
  stop(): Promise<void>;
  /** Stops it (if running) and starts it again on the same port, EMPTY (no persistence). */
  restart(): Promise<void>;
  /** SIGKILL: the store is down until restart(). */
  kill(): Promise<void>;
  /** SIGSTOP: connections stay open but nothing answers (a hung store) until thaw(). */
  freeze(): void;
  /** SIGCONT after freeze(). */
  thaw(): void;
}

const SETUP_HINT = 'run "bash scripts/setup.sh test" (it installs Debian\'s redis-server)';

/** True when a Redis at `url` answers PING within `timeoutMs` (raw RESP: no client, no reconnects). */
export function pingRedis(url: string, timeoutMs = 1000): Promise<boolean> {
  const u = new URL(url);
  return new Promise((resolve) => {
    const sock = connect({ host: u.hostname, port: Number(u.port || 6379) });
    let buf = "";
    const done = (ok: boolean): void => {
      clearTimeout(timer);
      sock.destroy();
      resolve(ok);
    };
    const timer = setTimeout(() => done(false), timeoutMs);
    sock.on("connect", () => {
      const auth = u.password ? `AUTH ${decodeURIComponent(u.username || "default")} ${decodeURIComponent(u.password)}\r\n` : "";
      sock.write(`${auth}PING\r\n`);
    });
    sock.on("data", (d: Buffer) => {
      buf += d.toString();
      if (buf.includes("+PONG")) done(true);
      else if (buf.includes("-")) done(false);
    });
    sock.on("error", () => done(false));
  });
}

/** A fresh redis-server on 127.0.0.1 and a free port, without persistence (tests own it). */
export async function startRedis(): Promise<RedisServer> {
  const dir = await mkdtemp(path.join(tmpdir(), "ifc-redis-"));
  const port = await freePort();
  const url = `redis://127.0.0.1:${port}`;
  let child: ChildProcess | undefined;
  let output = "";
  const launch = async (): Promise<void> => {
    output = "";
    const c = spawn("redis-server", ["--port", String(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", dir, "--loglevel", "warning"], {
      stdio: ["ignore", "pipe", "pipe"],
    });
    child = c;
    c.stdout?.on("data", (d: Buffer) => (output += d.toString()));
    c.stderr?.on("data", (d: Buffer) => (output += d.toString()));
    const spawnError = new Promise<Error>((r) => c.once("error", r));
    let failed: Error | undefined;
    void spawnError.then((e) => (failed = e));
    await waitFor(
      async () => {
        if (failed) throw new Error(`cannot start redis-server (${failed.message}): ${SETUP_HINT}`);
        if (c.exitCode !== null) throw new Error(`redis-server exited with ${c.exitCode}: ${output}`);
        return pingRedis(url, 500);
      },
      { timeoutMs: 20_000, intervalMs: 20, what: "redis-server answering PING" },
    );
  };
  const halt = (signal: NodeJS.Signals): Promise<void> => stopChild(child, signal);
  await launch();
  return {
    url,
    stop: async () => {
      await halt("SIGTERM");
      await rm(dir, { recursive: true, force: true });
    },
    restart: async () => {
      await halt("SIGTERM");
      await launch();
    },
    kill: () => halt("SIGKILL"),
    freeze: () => void child?.kill("SIGSTOP"),
    thaw: () => void child?.kill("SIGCONT"),
  };
}

/**
 * The run-wide Redis every integration test shares: IFC_TEST_REDIS_URL (set by the global setup,
 * or by hand). Fails loudly when there is none or it does not answer: a test needing Redis never
 * skips. Tests sharing it must use their own key prefix.
 */
export async function sharedRedis(): Promise<{ url: string }> {
  const url = process.env.IFC_TEST_REDIS_URL;
  if (!url) throw new Error(`IFC_TEST_REDIS_URL is not set: the test run's global setup starts Redis (${SETUP_HINT}), or point it at a running Redis`);
  if (!(await pingRedis(url, 2000))) throw new Error(`IFC_TEST_REDIS_URL=${url} does not answer PING`);
  return { url };
}

/**
 * For the run's global setup: uses the Redis at IFC_TEST_REDIS_URL when it answers, else starts
 * one (needs redis-server on PATH) and sets IFC_TEST_REDIS_URL for the test workers.
 */
export async function startRunRedis(): Promise<{ url: string; stop(): Promise<void> }> {
  const configured = process.env.IFC_TEST_REDIS_URL;
  if (configured) {
    if (!(await pingRedis(configured, 2000))) throw new Error(`IFC_TEST_REDIS_URL=${configured} does not answer PING`);
    return { url: configured, stop: async () => undefined };
  }
  const server = await startRedis();
  process.env.IFC_TEST_REDIS_URL = server.url;
  return {
    url: server.url,
    stop: async () => {
      await server.stop();
      if (process.env.IFC_TEST_REDIS_URL === server.url) delete process.env.IFC_TEST_REDIS_URL;
    },
  };
}
