import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdtemp, rm } from "node:fs/promises";
import { homedir, tmpdir } from "node:os";
import path from "node:path";
import { freePort } from "./free-port.js";
import { stopChild } from "./process-tree.js";
import { waitFor } from "./wait-for.js";

export interface MinioServer {
  url: string;
  accessKey: string;
  secretKey: string;
  /** Stops (SIGTERM) the server this harness started; a no-op for an external one. */
  stop(): Promise<void>;
  /** Stops and starts it again on the same port and data (for outage tests). */
  pause(): Promise<void>;
  resume(): Promise<void>;
}

/** Where scripts/setup.sh puts the MinIO binary it builds with `go install`. */
export const MINIO_BIN = process.env.IFC_MINIO_BIN ?? path.join(process.env.XDG_CACHE_HOME ?? path.join(homedir(), ".cache"), "imageflowcanvas", "bin", "minio");

async function healthy(url: string): Promise<boolean> {
  try {
    return (await fetch(`${url}/minio/health/live`, { signal: AbortSignal.timeout(1000) })).ok;
  } catch {
    return false;
  }
}

/**
 * A real MinIO for tests: the one at IFC_TEST_S3_URL when it answers, else a fresh server from
 * the cached binary on 127.0.0.1 with a temporary data directory. Fails loudly when neither is
 * there — storage tests never fall back to a fake.
 */
export async function startMinio(): Promise<MinioServer> {
  const external = process.env.IFC_TEST_S3_URL;
  if (external) {
    if (!(await healthy(external))) throw new Error(`IFC_TEST_S3_URL=${external} does not answer /minio/health/live`);
    return {
      url: external,
      accessKey: process.env.IFC_TEST_S3_ACCESS_KEY ?? "minioadmin",
      secretKey: process.env.IFC_TEST_S3_SECRET_KEY ?? "minioadmin",
      stop: async () => undefined,
      pause: async () => {
        throw new Error("cannot pause an external MinIO");
      },
      resume: async () => undefined,
    };
  }
  if (!existsSync(MINIO_BIN)) {
    throw new Error(`MinIO binary not found at ${MINIO_BIN}: run "bash scripts/setup.sh test" (it builds it with go install), or set IFC_TEST_S3_URL`);
  }
  const dir = await mkdtemp(path.join(tmpdir(), "ifc-minio-"));
  const port = await freePort();
  const consolePort = await freePort();
  const url = `http://127.0.0.1:${port}`;
  const accessKey = "ifctest";
  const secretKey = "ifctest-secret-key";
  let child: ChildProcess | undefined;
  let output = "";
  const launch = async (): Promise<void> => {
    child = spawn(MINIO_BIN, ["server", dir, "--address", `127.0.0.1:${port}`, "--console-address", `127.0.0.1:${consolePort}`, "--quiet"], {
      env: { ...process.env, MINIO_ROOT_USER: accessKey, MINIO_ROOT_PASSWORD: secretKey, MINIO_BROWSER: "off", MINIO_UPDATE: "off" },
      stdio: ["ignore", "pipe", "pipe"],
    });
    child.stdout?.on("data", (d: Buffer) => (output += d.toString()));
    child.stderr?.on("data", (d: Buffer) => (output += d.toString()));
    const c = child;
    await waitFor(
      async () => {
        if (c.exitCode !== null) throw new Error(`MinIO exited with ${c.exitCode}: ${output}`);
        return healthy(url);
      },
      { timeoutMs: 30_000, intervalMs: 100, what: "MinIO healthy" },
    ).catch((err: unknown) => {
      throw new Error(`${(err as Error).message}: ${output}`);
    });
  };
  const halt = (): Promise<void> => stopChild(child);
  await launch();
  return {
    url,
    accessKey,
    secretKey,
    stop: async () => {
      await halt();
      await rm(dir, { recursive: true, force: true });
    },
    pause: halt,
    resume: launch,
  };
}
