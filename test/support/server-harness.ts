import { spawn, type ChildProcess } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { pino } from "pino";
import { loadConfig, type Config } from "../../src/config.js";
import { loggerRedaction } from "../../src/control/log-redaction.js";
import { startServer, type Server } from "../../src/server.js";

export interface TestServer {
  server: Server;
  url: string;
  dataDir: string;
  stop(): Promise<void>;
}

/** The real server, in this process, on an ephemeral port with its own data directory. */
export async function startTestServer(overrides: Partial<Config> = {}): Promise<TestServer> {
  const dataDir = await mkdtemp(path.join(tmpdir(), "ifc-data-"));
  // The AI feed (an ffmpeg decoder per stream) is off unless a test asks for it: tests of other
  // capabilities should not pay a decode per stream on a two-core CI machine. The gRPC control
  // server likewise (and on port 0 when asked for: tests run in parallel).
  // Nor is the REST rate limit on: a test polling at 50 Hz spends 1000 requests in 20 s, and a
  // fuzz run far more. Rate-limit tests set restRateLimitPerMinute themselves.
  const config = loadConfig({}, {
    httpHost: "127.0.0.1", httpPort: 0, rtspPort: 0, dataDir, logLevel: "warn", aiEnabled: false, restRateLimitPerMinute: 0,
    grpcEnabled: false, grpcHost: "127.0.0.1", grpcPort: 0, ...overrides,
  });
  const logger = pino({ level: process.env.IFC_TEST_LOG_LEVEL ?? config.logLevel, ...loggerRedaction() });
  const server = await startServer(config, logger);
  return {
    server,
    url: server.url,
    dataDir,
    stop: async () => {
      await server.close();
      if (!process.env.IFC_TEST_KEEP_DATA) await rm(dataDir, { recursive: true, force: true });
    },
  };
}

export interface ServerProcess {
  child: ChildProcess;
  url: string;
  dataDir: string;
  /** Everything the process wrote to stdout (pino JSON lines). */
  output(): string;
  /** Resolves with the exit code. */
  exited: Promise<number | null>;
}

/**
 * The real server as its own process (`src/main.ts` under tsx), for signal and crash tests.
 * `compiled`: `node dist/main.js` as `npm start` runs it (benchmarks; build first with `npm run build:server`).
 */
export async function spawnServer(env: Record<string, string>, dataDir?: string, opts: { nodeArgs?: string[]; compiled?: boolean } = {}): Promise<ServerProcess> {
  const dir = dataDir ?? (await mkdtemp(path.join(tmpdir(), "ifc-data-")));
  const entry = opts.compiled ? ["dist/main.js"] : ["--import", "tsx", "src/main.ts"];
  const child = spawn(process.execPath, [...(opts.nodeArgs ?? []), ...entry], {
    cwd: path.resolve(import.meta.dirname, "../.."),
    // info level at least: the "listening" line is how the harness learns the URL.
    env: { ...process.env, IFC_HTTP_HOST: "127.0.0.1", IFC_HTTP_PORT: "0", IFC_RTSP_PORT: "0", IFC_DATA_DIR: dir, IFC_AI_ENABLED: "false", IFC_GRPC_ENABLED: "false", ...env, IFC_LOG_LEVEL: "info" },
    stdio: ["ignore", "pipe", "pipe"],
  });
  let out = "";
  let err = "";
  child.stdout?.on("data", (d: Buffer) => (out += d.toString()));
  child.stderr?.on("data", (d: Buffer) => (err += d.toString()));
  const exited = new Promise<number | null>((resolve) => child.once("exit", (code) => resolve(code)));
  const url = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      child.kill("SIGKILL"); // never leave a half-started server behind
      reject(new Error(`server did not start in 30 s:\n${out}\n${err}`));
    }, 30_000);
    const check = (): void => {
      const m = /"url":"(https?:\/\/[^"]+)".*"msg":"ImageFlowCanvas Ingest listening"/.exec(out);
      if (m?.[1]) {
        clearTimeout(timer);
        resolve(m[1]);
      }
    };
    child.stdout?.on("data", check);
    void exited.then((code) => {
      clearTimeout(timer);
      reject(new Error(`server exited with ${code} before listening:\n${out}\n${err}`));
    });
  });
  return { child, url, dataDir: dir, output: () => out + err, exited };
}
