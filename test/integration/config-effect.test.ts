/**
 * A documented key that nothing reads is a lie in the README. The real server is started on a
 * read-tracking view of its config and driven through what reads config lazily (a publish, a
 * viewer, a clip, readiness, a retention pass, shutdown); afterwards every key in CONFIG_SPEC
 * must have been read by product code. Two runs, because some keys only matter in one mode:
 * fs with the bundled AI worker, and S3 (a real MinIO) with a remote worker and an ICE port range.
 */
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { pino } from "pino";
import { afterAll, describe, expect, it } from "vitest";
import { CONFIG_SPEC, loadConfig, type Config, type ConfigKey } from "../../src/config.js";
import { startServer, type Server } from "../../src/server.js";
import { publishTestStream, type TestStreamPublisher } from "../helpers/publish-test-stream.js";
import { whepWatch } from "../helpers/whep-client.js";
import { freePort } from "../support/free-port.js";
import { httpsFetch } from "../support/https-fetch.js";
import { sharedKafka } from "../support/kafka-broker.js";
import { startMinio, type MinioServer } from "../support/minio-server.js";
import { sharedRedis } from "../support/redis-server.js";
import { makeTestCertificate } from "../support/test-ca.js";
import { waitFor, waitForValue } from "../support/wait-for.js";

/**
 * Keys read outside startServer, each with the reason. Nothing else may be missing.
 * - logLevel: src/main.ts builds the logger from it; startServer receives the logger.
 * - heapGrowthPercent: src/main.ts sets V8's heap growth from it before the server starts (a
 *   process-wide setting; test/integration/v8-heap-growth.test.ts checks its effect).
 */
const READ_OUTSIDE_SERVER: readonly ConfigKey[] = ["logLevel", "heapGrowthPercent"];

const reads = new Set<string>();

/** The config as the server sees it, recording each key read. Enumerating it (a spread) would hide which keys are used, so it fails. */
function tracked(config: Config): Config {
  return new Proxy(config, {
    get(target, prop, receiver) {
      if (typeof prop === "string") reads.add(prop);
      return Reflect.get(target, prop, receiver) as unknown;
    },
    ownKeys() {
      throw new Error("the config was enumerated (spread or Object.keys): pass the keys a part needs, so each key's use stays visible");
    },
  });
}

const logger = pino({ level: process.env.IFC_TEST_LOG_LEVEL ?? "warn" });
const cleanup: (() => Promise<unknown>)[] = [];
afterAll(async () => {
  for (const step of cleanup.reverse()) await step();
});

async function scratch(): Promise<string> {
  const dir = await mkdtemp(path.join(tmpdir(), "ifc-config-effect-"));
  cleanup.push(() => rm(dir, { recursive: true, force: true }));
  return dir;
}

describe("every config key does something", () => {
  it("fs store, bundled AI worker: publish, watch, clip; Location headers and page links are absolute on IFC_PUBLIC_URL", async () => {
    const dataDir = await scratch();
    const port = await freePort();
    const publicUrl = `http://127.0.0.1:${port}`;
    const server: Server = await startServer(tracked(loadConfig({}, {
      httpHost: "127.0.0.1", httpPort: port, rtspHost: "127.0.0.1", rtspPort: 0, grpcHost: "127.0.0.1", grpcPort: 0, publicUrl, dataDir,
      segmentDurationMs: 1000, partDurationMs: 500, retentionIntervalMs: 100,
      // Another stream's window: "cfg" falls back to IFC_RETENTION_MINUTES, so both are read.
      retentionMinutesByStream: new Map([["dock", 60]]), aiPriorities: new Map([["cfg", 2]]),
    })), logger);
    let stopped = false;
    const stop = async (): Promise<void> => {
      if (!stopped) await server.close();
      stopped = true;
    };
    cleanup.push(stop);
    const api = (p: string, init?: RequestInit): Promise<Response> => fetch(`${server.url}${p}`, init);

    expect((await api("/ready")).status).toBe(200);
    let pub: TestStreamPublisher | undefined;
    try {
      pub = await publishTestStream(`${server.url}/whip/cfg`, { width: 320, height: 240, fps: 15, gopSeconds: 1, durationSeconds: 60, audio: false, preset: "ultrafast" });
      expect(pub.resourceUrl).toMatch(new RegExp(`^${publicUrl}/whip/cfg/sessions/[^/]+$`));

      const viewer = await whepWatch(`${server.url}/whep/cfg`, { audio: false });
      try {
        expect(viewer.location).toMatch(new RegExp(`^${publicUrl}/whep/cfg/sessions/[^/]+$`));
      } finally {
        await viewer.close();
      }

      // Two finished one-second segments, then a clip of the first.
      const span = await waitForValue(async () => {
        const body = (await (await api("/api/v1/recordings?stream=cfg")).json()) as { recordings: { startMs: number; durationMs: number }[] };
        const s = body.recordings[0];
        return s && s.durationMs >= 2000 ? s : undefined;
      }, { timeoutMs: 30_000, what: "two seconds recorded" });
      const clip = await api("/api/v1/streams/cfg/clips", {
        method: "POST",
        headers: { "content-type": "application/json" },
        body: JSON.stringify({ from: span.startMs, to: span.startMs + 1000 }),
      });
      const body = (await clip.json()) as { id: string };
      expect(clip.status, JSON.stringify(body)).toBe(201);
      expect(clip.headers.get("location")).toBe(`${publicUrl}/api/v1/clips/${body.id}`);

      // A retention pass reads the windows lazily, per stream with a recording.
      await waitFor(() => reads.has("retentionMinutes"), { timeoutMs: 10_000, what: "a retention pass" });
    } finally {
      await pub?.stop();
    }

    const watch = await (await api("/streams/cfg")).text();
    expect(watch).toContain(`const BASE = ${JSON.stringify(publicUrl)};`);
    const publish = await (await api("/publish/cfg")).text();
    expect(publish).toContain(`const BASE = ${JSON.stringify(publicUrl)};`);
    expect(publish).toContain(`<a href="${publicUrl}/streams/cfg"`);
    await stop();
  }, 120_000);

  it("S3 store (MinIO), Kafka events, Redis state, a remote AI worker, an ICE port range, HTTPS: start, readiness, shutdown", async () => {
    const minio: MinioServer = await startMinio();
    const [brokers, redis] = await Promise.all([sharedKafka(), sharedRedis()]);
    cleanup.push(() => minio.stop());
    const dir = await scratch();
    const cert = await makeTestCertificate(path.join(dir, "tls"));
    const server = await startServer(tracked(loadConfig({}, {
      httpHost: "127.0.0.1", httpPort: 0, rtspPort: 0, grpcHost: "127.0.0.1", grpcPort: 0, dataDir: dir, store: "s3",
      s3Url: minio.url, s3AccessKey: minio.accessKey, s3SecretKey: minio.secretKey, s3Bucket: "ifc-config-effect", spoolDir: path.join(dir, "spool"),
      // Nothing listens on port 1: the pool reports the worker unhealthy, the server still runs.
      aiWorkers: ["127.0.0.1:1"], rtcPortMin: 40000, rtcPortMax: 40100,
      tlsCert: cert.certFile, tlsKey: cert.keyFile,
      // An external identity provider's JWKS is fetched on first use only: nothing listens here.
      authJwksUrl: "http://127.0.0.1:1/.well-known/jwks.json",
      nodeId: `config-effect-${process.pid}`, eventBus: "kafka", kafkaBrokers: brokers, kafkaReplicationFactor: 1, state: "redis", redisUrl: redis.url,
    })), logger);
    let closed = false;
    cleanup.push(async () => closed || server.close());
    expect(server.spool).toBeDefined();
    const ready = await httpsFetch(cert.ca)(`${server.url}/ready`);
    expect(ready.status, await ready.text()).toBe(200);
    expect(ready.headers.get("strict-transport-security")).toMatch(/^max-age=\d+$/);
    await server.close();
    closed = true;
  }, 60_000);

  it("together the runs read every key in CONFIG_SPEC", () => {
    const unread = (Object.keys(CONFIG_SPEC) as ConfigKey[]).filter((k) => !reads.has(k) && !READ_OUTSIDE_SERVER.includes(k));
    expect(unread, "documented keys that the server never read").toEqual([]);
    // The exemptions stay honest: a key read by the server needs no exemption.
    for (const k of READ_OUTSIDE_SERVER) expect(reads.has(k), `${k} is read by the server now: drop its exemption`).toBe(false);
  });
});
