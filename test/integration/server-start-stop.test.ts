import { mkdtemp, rm } from "node:fs/promises";
import net from "node:net";
import { tmpdir } from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { pino } from "pino";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { loadConfig } from "../../src/config.js";
import { StartError, startServer } from "../../src/server.js";
import { childProcesses } from "../support/process-tree.js";
import { waitFor } from "../support/wait-for.js";

/** Open handles by kind (sockets, child processes, pipes, timers), from Node itself. */
function handles(): Map<string, number> {
  const out = new Map<string, number>();
  for (const kind of process.getActiveResourcesInfo()) out.set(kind, (out.get(kind) ?? 0) + 1);
  return out;
}

/** Kinds of which more are open now than in `before`, with how many more. */
function leakedSince(before: Map<string, number>): Record<string, number> {
  const out: Record<string, number> = {};
  for (const [kind, n] of handles()) if (n > (before.get(kind) ?? 0)) out[kind] = n - (before.get(kind) ?? 0);
  return out;
}

/** A logger whose JSON lines the test can read. */
function capturedLogger(level: string) {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({
    write(chunk: Buffer, _enc, done) {
      for (const line of chunk.toString().split("\n")) if (line.trim()) lines.push(JSON.parse(line) as Record<string, unknown>);
      done();
    },
  });
  return { logger: pino({ level }, sink), lines };
}

const referenceWorkers = () => childProcesses().filter((p) => p.argv.some((a) => a.includes("worker/main")));

describe("server start and stop", () => {
  let dataDir: string;
  beforeEach(async () => {
    dataDir = await mkdtemp(path.join(tmpdir(), "ifc-start-"));
  });
  afterEach(async () => {
    await rm(dataDir, { recursive: true, force: true });
  });

  it("a start that fails at listen (port in use) rejects naming the step and leaves no child process and no open handle", async () => {
    const blocker = net.createServer();
    await new Promise<void>((resolve) => blocker.listen(0, "127.0.0.1", resolve));
    const port = (blocker.address() as net.AddressInfo).port;
    try {
      expect(referenceWorkers()).toEqual([]);
      const before = handles();
      // AI on with no external workers: the bundled reference worker is spawned before listen.
      const config = loadConfig({}, { httpHost: "127.0.0.1", httpPort: port, grpcHost: "127.0.0.1", grpcPort: 0, dataDir, aiEnabled: true, aiWorkers: [], aiEmbeddedWorker: true });
      const { logger, lines } = capturedLogger("info");
      const started = startServer(config, logger);
      await expect(started).rejects.toThrow(StartError);
      await expect(started).rejects.toThrow(new RegExp(`^server start failed at http listen on 127\\.0\\.0\\.1:${port}: .*EADDRINUSE`));
      // The worker did start (so there was something to clean up), and is gone now.
      expect(lines.some((l) => l.msg === "bundled reference AI worker started")).toBe(true);
      expect(referenceWorkers()).toEqual([]);
      await waitFor(() => Object.keys(leakedSince(before)).length === 0, { what: "no handle left open by the failed start", timeoutMs: 5000 }).catch(() => undefined);
      expect(leakedSince(before)).toEqual({});
    } finally {
      await new Promise((resolve) => blocker.close(resolve));
    }
  });

  it("a start that fails at an early step (S3 unreachable) closes the HTTP app it had made and rejects naming the step", async () => {
    const before = handles();
    // Port 1 on loopback: nothing listens, the bucket check is refused at once.
    const config = loadConfig({}, { httpHost: "127.0.0.1", httpPort: 0, rtspPort: 0, dataDir, store: "s3", s3Url: "http://127.0.0.1:1", spoolDir: path.join(dataDir, "spool"), aiEnabled: false });
    const { logger, lines } = capturedLogger("debug");
    await expect(startServer(config, logger)).rejects.toThrow(/^server start failed at object store: /);
    expect(lines.filter((l) => l.msg === "closed").map((l) => l.resource)).toEqual(["http server"]);
    await waitFor(() => Object.keys(leakedSince(before)).length === 0, { what: "no handle left open by the failed start", timeoutMs: 5000 }).catch(() => undefined);
    expect(leakedSince(before)).toEqual({});
  });

  it("close() after a good start closes everything once, newest first, and may be called again", async () => {
    const before = handles();
    const config = loadConfig({}, { httpHost: "127.0.0.1", httpPort: 0, rtspPort: 0, grpcHost: "127.0.0.1", grpcPort: 0, dataDir, aiEnabled: true, aiWorkers: [], aiEmbeddedWorker: true });
    const { logger, lines } = capturedLogger("debug");
    const server = await startServer(config, logger);
    const workerPid = server.embeddedWorker?.pid;
    expect(referenceWorkers().map((p) => p.pid)).toEqual([workerPid]);
    expect((await fetch(`${server.url}/health`)).status).toBe(200);

    const first = server.close();
    const second = server.close();
    expect(second).toBe(first);
    await first;
    await server.close();

    const closed = lines.filter((l) => l.msg === "closed").map((l) => l.resource);
    expect(closed).toEqual(["rtsp server", "grpc control server", "inspection quality monitor", "product links", "auth sessions", "pipelines", "embedded image services", "pipeline progress", "pipeline service registry", "metadata database", "pull sources", "whep egress", "whip ingest", "ai feed", "decoders", "reference worker", "clip expiry", "retention", "recorder", "cluster registry", "event bus", "http server"]);
    expect(referenceWorkers()).toEqual([]);
    await expect(fetch(`${server.url}/health`)).rejects.toThrow();
    await waitFor(() => Object.keys(leakedSince(before)).length === 0, { what: "no handle left open after close", timeoutMs: 5000 }).catch(() => undefined);
    expect(leakedSince(before)).toEqual({});
  });
});
