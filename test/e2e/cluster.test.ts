import { randomUUID } from "node:crypto";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { formatProductInfo } from "../../src/extractor/product-info.js";
import { publishTestStream, type TestStreamPublisher } from "../helpers/publish-test-stream.js";
import { whepWatch } from "../helpers/whep-client.js";
import { whipPublish, WhipHttpError } from "../helpers/whip-client.js";
import { sharedKafka } from "../support/kafka-broker.js";
import { startMinio, type MinioServer } from "../support/minio-server.js";
import { qrVideo } from "../support/qr-video.js";
import { RawRtspClient } from "../support/rtsp-raw-client.js";
import { sharedRedis } from "../support/redis-server.js";
import { spawnServer, startTestServer, type ServerProcess, type TestServer } from "../support/server-harness.js";
import { waitFor } from "../support/wait-for.js";

/**
 * Two ingest nodes on one machine sharing one Kafka, one Redis and one MinIO (issue 14): node A
 * is its own process (so it can be SIGKILLed), node B runs in this one. A camera publishes on A;
 * B lists it, redirects its WHEP viewers to A, passes their DELETE on, shows A's detections to
 * its WebSocket clients, refuses a second publisher; when A dies B forgets the stream within
 * the registry TTL and takes the camera's next publish, the recording going on under its name.
 */
const TTL_MS = 3000;
const run = randomUUID().slice(0, 8);
const STREAM = `cl-${run}`;
const PAYLOAD = formatProductInfo({ work_order: "WO777", instruction: "I1", product_type: "T1", machine_number: "M1", production_date: "2026-11-29", monthly_sequence: "7" });

let minio: MinioServer;
let dir: string;
let a: ServerProcess | undefined;
let b: TestServer;
let video: { file: string };
let pub: TestStreamPublisher | undefined;
const detections: { analysis_results: { detections: { class_name: string }[] } }[] = [];

interface Entry { name: string; node?: string; state: string }
const streamsOn = async (url: string): Promise<Entry[]> => ((await (await fetch(`${url}/api/v1/streams`)).json()) as { streams: Entry[] }).streams;

beforeAll(async () => {
  const [brokers, redis] = await Promise.all([sharedKafka(), sharedRedis()]);
  minio = await startMinio();
  dir = await mkdtemp(path.join(tmpdir(), "ifc-cluster-"));
  video = await qrVideo(dir, PAYLOAD, { width: 640, height: 360, fps: 30, seconds: 4, x: 200, y: 80, scale: 6 });
  const bucket = `ifc-cluster-${run}`;
  const env = {
    IFC_EVENT_BUS: "kafka", IFC_KAFKA_BROKERS: brokers.join(","), IFC_KAFKA_REPLICATION_FACTOR: "1",
    IFC_STATE: "redis", IFC_REDIS_URL: redis.url, IFC_REGISTRY_TTL_MS: String(TTL_MS),
    IFC_STORE: "s3", IFC_S3_URL: minio.url, IFC_S3_ACCESS_KEY: minio.accessKey, IFC_S3_SECRET_KEY: minio.secretKey, IFC_S3_BUCKET: bucket,
    IFC_SEGMENT_DURATION_MS: "1000", IFC_PART_DURATION_MS: "500",
  };
  a = await spawnServer({ ...env, IFC_NODE_ID: `a-${run}`, IFC_SPOOL_DIR: path.join(dir, "spool-a"), IFC_AI_ENABLED: "true", IFC_AI_MAX_PRESET: "high" });
  b = await startTestServer({
    nodeId: `b-${run}`, eventBus: "kafka", kafkaBrokers: brokers, kafkaReplicationFactor: 1, state: "redis", redisUrl: redis.url, registryTtlMs: TTL_MS,
    store: "s3", s3Url: minio.url, s3AccessKey: minio.accessKey, s3SecretKey: minio.secretKey, s3Bucket: bucket, spoolDir: path.join(dir, "spool-b"),
    segmentDurationMs: 1000, partDurationMs: 500,
  });
}, 120_000);

afterAll(async () => {
  await pub?.stop().catch(() => undefined);
  a?.child.kill("SIGKILL");
  await a?.exited;
  await b?.stop();
  await minio?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("two nodes, one Kafka, one Redis, one MinIO", () => {
  it("A's stream: listed on B, WHEP through B redirected to A and playing, detections on B's WebSocket, a second publisher on B refused", async () => {
    if (!a) throw new Error("node A did not start");
    const nodeA = a;
    const ws = new WebSocket(`${b.url.replace("http", "ws")}/ws/streams/${STREAM}/detections`);
    await new Promise((resolve, reject) => ws.once("open", resolve).once("error", reject));
    ws.on("message", (data: Buffer) => detections.push(JSON.parse(data.toString()) as (typeof detections)[number]));
    try {
      pub = await publishTestStream(`${nodeA.url}/whip/${STREAM}`, { width: 640, height: 360, fps: 30, gopSeconds: 1, durationSeconds: 60, audio: false, input: video.file });

      // A's figures reach B over Kafka within a second or two of A going live.
      await waitFor(async () => (await streamsOn(b.url)).some((s) => s.name === STREAM && s.node === `a-${run}` && s.state === "live"), { what: "B to list A's stream as live", timeoutMs: 15_000 });
      const one = (await (await fetch(`${b.url}/api/v1/streams/${STREAM}`)).json()) as Entry & { framesReceived: number };
      expect(one).toMatchObject({ name: STREAM, node: `a-${run}`, state: "live" });

      // A's figures on B's WebSocket (stream_stats), as for a stream of its own.
      const statsWs = new WebSocket(`${b.url.replace("http", "ws")}/ws/streams/${STREAM}`);
      const statsSeen: Record<string, unknown>[] = [];
      statsWs.on("message", (data: Buffer) => statsSeen.push(JSON.parse(data.toString()) as Record<string, unknown>));
      const withFrames = (m: Record<string, unknown>): boolean => m.type === "stream_stats" && m.live === true && Number(m.frames_received) > 0;
      await waitFor(() => statsSeen.some(withFrames), { what: "A's stream_stats with frames on B's WebSocket", timeoutMs: 15_000 });
      statsWs.close();
      expect(statsSeen.find(withFrames)).toMatchObject({ stream: STREAM, live: true, state: "live" });

      // WHEP through B: 307 to A, which answers; the viewer plays A's stream.
      const probe = await fetch(`${b.url}/whep/${STREAM}`, { method: "POST", headers: { "content-type": "application/sdp" }, body: "v=0\r\n", redirect: "manual" });
      expect(probe.status).toBe(307);
      expect(probe.headers.get("location")).toBe(`${nodeA.url}/whep/${STREAM}`);
      const viewer = await whepWatch(`${b.url}/whep/${STREAM}`, { audio: false });
      await viewer.waitUnits(30, 20_000);
      expect(viewer.units.some((u) => u.isKeyframe)).toBe(true);
      // Its DELETE reaches B (the resource URL is resolved on the URL it POSTed to): passed on to A.
      const del = await fetch(viewer.resourceUrl, { method: "DELETE" });
      expect(del.status).toBe(200);
      await viewer.pc.close();

      // HLS through B: 307 to A's live playlist, which answers there.
      const hls = await fetch(`${b.url}/hls/${STREAM}/index.m3u8`, { redirect: "manual" });
      expect(hls.status).toBe(307);
      expect(hls.headers.get("location")).toBe(`${nodeA.url}/hls/${STREAM}/index.m3u8`);
      await waitFor(async () => (await fetch(`${b.url}/hls/${STREAM}/index.m3u8`)).status === 200, { what: "A's playlist through the redirect", timeoutMs: 15_000 });
      // RTSP read through B: 302 to A's RTSP port, where DESCRIBE answers the stream's SDP.
      const rtspB = await RawRtspClient.open(b.server.rtsp?.port as number);
      const moved = await rtspB.request("DESCRIBE", `rtsp://127.0.0.1:${b.server.rtsp?.port}/${STREAM}`, { Accept: "application/sdp" });
      rtspB.close();
      expect(moved.status).toBe(302);
      const target = new URL(moved.headers.get("Location") ?? "");
      expect(target.pathname).toBe(`/${STREAM}`);
      const rtspA = await RawRtspClient.open(Number(target.port), target.hostname);
      const described = await rtspA.request("DESCRIBE", target.toString(), { Accept: "application/sdp" });
      rtspA.close();
      expect(described.status).toBe(200);
      expect(described.body.toString()).toContain("H264");

      // Detections made on A (its decoder and bundled worker) reach B's WebSocket client through Kafka.
      await waitFor(() => detections.some((d) => d.analysis_results.detections.some((x) => x.class_name === "qr_code")), { what: "a QR detection from A on B's WebSocket", timeoutMs: 30_000 });

      // Other credentials on B: 409, whichever node they ask.
      await b.server.auth.userStore.add("bob", "admin", "bob-password-1234");
      const login = (await (await fetch(`${b.url}/api/v1/auth/login`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ username: "bob", password: "bob-password-1234" }) })).json()) as { access_token: string };
      const refused = await whipPublish(`${b.url}/whip/${STREAM}`, { audio: false, headers: { authorization: `Bearer ${login.access_token}` } }).then(
        async (p) => {
          await p.close();
          return 201;
        },
        (err: unknown) => (err instanceof WhipHttpError ? err.status : Promise.reject(err)),
      );
      expect(refused).toBe(409);
    } finally {
      ws.close();
    }
  }, 120_000);

  it("SIGKILL of A: within the TTL B no longer lists the stream; the camera republishes to B and the recording goes on under the same name", async () => {
    if (!a) throw new Error("node A did not start");
    const recordingIds = async (): Promise<Set<string>> =>
      new Set(((await (await fetch(`${b.url}/api/v1/recordings?stream=${STREAM}`)).json()) as { recordings: { recordingId: string }[] }).recordings.map((s) => s.recordingId));
    // A's recording is in the shared bucket (B lists it) before A dies.
    await waitFor(async () => (await recordingIds()).size >= 1, { what: "A's recording listed through B", timeoutMs: 15_000 });
    a.child.kill("SIGKILL");
    await a.exited;
    const killedAt = Date.now();
    await pub?.stop().catch(() => undefined);
    pub = undefined;
    await waitFor(async () => !(await streamsOn(b.url)).some((s) => s.name === STREAM), { what: "A's stream to expire from the registry", timeoutMs: TTL_MS + 10_000 });
    // Expiry comes from the TTL, not from anything A said: it cannot take much longer than it.
    expect(Date.now() - killedAt).toBeLessThan(TTL_MS + 5000);

    pub = await publishTestStream(`${b.url}/whip/${STREAM}`, { width: 640, height: 360, fps: 30, gopSeconds: 1, durationSeconds: 4, audio: false });
    await waitFor(async () => (await streamsOn(b.url)).some((s) => s.name === STREAM && s.node === `b-${run}` && s.state === "live"), { what: "the stream live on B", timeoutMs: 15_000 });
    await pub.done;
    await pub.stop();
    pub = undefined;
    await b.server.recorder.flush();
    // Both nodes recorded into the one bucket under the stream's name: A's recording (cut by the kill) and B's.
    await waitFor(async () => (await recordingIds()).size >= 2, { what: "A's and B's recordings under the stream's name", timeoutMs: 15_000 });
  }, 120_000);
});
