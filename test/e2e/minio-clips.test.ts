import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { problemType } from "../../src/errors.js";
import { publishTestStream, type TestStreamPublisher } from "../helpers/publish-test-stream.js";
import { startMinio, type MinioServer } from "../support/minio-server.js";
import { decodeErrors, probeVideoFrames } from "../support/recording-probe.js";
import { startTestServer, type TestServer } from "../support/server-harness.js";

let minio: MinioServer;
let ts: TestServer;
let scratch: string;
let pub: TestStreamPublisher;

const json = async (res: Response): Promise<Record<string, unknown>> => (await res.json()) as Record<string, unknown>;
const api = (p: string, init?: RequestInit): Promise<Response> => fetch(`${ts.url}${p}`, init);
const postJson = (p: string, body: unknown): Promise<Response> => api(p, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) });

beforeAll(async () => {
  minio = await startMinio();
  scratch = await mkdtemp(path.join(tmpdir(), "ifc-clips-"));
  ts = await startTestServer({
    store: "s3", s3Url: minio.url, s3AccessKey: minio.accessKey, s3SecretKey: minio.secretKey, s3Bucket: "ifc-clips",
    spoolDir: path.join(scratch, "spool"),
    // a cleaner that is always busy: ~15 s of this stream (~2 Mbit/s) fit the byte cap; it runs every 100 ms
    retentionStreamBytes: 4_000_000, retentionIntervalMs: 100,
  });
  pub = await publishTestStream(`${ts.url}/whip/line1`, { width: 640, height: 360, fps: 30, gopSeconds: 1, durationSeconds: 60, audio: true, preset: "ultrafast" });
});

afterAll(async () => {
  await pub?.stop();
  await ts?.stop();
  await minio?.stop();
  await rm(scratch, { recursive: true, force: true });
});

describe("clips, recording control and tags (MinIO)", () => {
  it("exports a clip while the cleaner runs: complete, playable, kept after the window moves on", async () => {
    await new Promise((r) => setTimeout(r, 20_000));
    const spans = (await json(await api("/api/v1/recordings?stream=line1"))).recordings as { startMs: number; durationMs: number; bytes: number }[];
    expect(spans.length).toBe(1);
    expect(spans[0]!.bytes).toBeLessThanOrEqual(4_000_000 + 1_500_000); // the cap holds (± the open segment)
    // 9 s behind live: the segments the cleaner will reach within seconds, as the clip is copied
    const from = spans[0]!.startMs + spans[0]!.durationMs - 9000;
    const res = await postJson("/api/v1/streams/line1/clips", { from: new Date(from).toISOString(), to: from + 6000, tags: { workOrder: "WO-1234", machine: "M7" } });
    const clip = await json(res);
    expect(res.status, JSON.stringify(clip)).toBe(201);
    expect(res.headers.get("location")).toBe(`/api/v1/clips/${clip.id as string}`);
    expect(clip.durationMs as number).toBeGreaterThanOrEqual(6000);

    // the window moves on and deletes the source segments; the clip stays whole
    await new Promise((r) => setTimeout(r, 14_000));
    const nowSpans = (await json(await api("/api/v1/recordings?stream=line1"))).recordings as { startMs: number }[];
    expect(nowSpans[0]!.startMs).toBeGreaterThan(from + 6000);
    const play = await api(`/api/v1/clips/${clip.id as string}/play`);
    expect(play.status).toBe(200);
    const file = path.join(scratch, "clip.mp4");
    await writeFile(file, Buffer.from(await play.arrayBuffer()));
    const frames = await probeVideoFrames(file);
    expect(frames[0]?.keyFrame).toBe(true);
    expect(frames.length).toBe(Math.round(((clip.durationMs as number) * 30) / 1000));
    expect(await decodeErrors(file)).toBe("");

    const byTag = (await json(await api("/api/v1/clips?tag=workOrder:WO-1234"))).clips as { id: string }[];
    expect(byTag.map((c) => c.id)).toEqual([clip.id]);
    expect(((await json(await api("/api/v1/clips?tag=workOrder:WO-9"))).clips as unknown[]).length).toBe(0);
    expect((await api(`/api/v1/clips/${clip.id as string}`, { method: "DELETE" })).status).toBe(200);
    expect((await api(`/api/v1/clips/${clip.id as string}/play`)).status).toBe(404);
  }, 90_000);

  it("refuses bad clip requests with problem details", async () => {
    const now = Date.now();
    const bad = await postJson("/api/v1/streams/line1/clips", { from: now, to: now - 1000 });
    expect(bad.status).toBe(400);
    expect((await json(bad)).type).toBe(problemType("invalid-range"));
    const outside = await postJson("/api/v1/streams/line1/clips", { from: "2000-01-01T00:00:00Z", to: "2000-01-01T00:01:00Z" });
    expect(outside.status).toBe(404);
    expect((await json(outside)).type).toBe(problemType("recording-not-found"));
    const unknown = await postJson("/api/v1/streams/nosuch/clips", { from: now - 5000, to: now });
    expect(unknown.status).toBe(404);
    expect((await postJson("/api/v1/streams/line1/clips", { to: now })).status).toBe(400);
    const badTag = await postJson("/api/v1/streams/line1/clips", { from: now - 5000, to: now, tags: { "bad key!": "x" } });
    expect(badTag.status).toBe(400);
    expect((await json(badTag)).type).toBe(problemType("invalid-tag"));
    expect((await api("/api/v1/clips/0123456789abcdef/play")).status).toBe(404);
    expect((await api("/api/v1/clips?tag=novalue")).status).toBe(400);
  });

  it("stops and starts recording of a live stream, with tags that filter the listing", async () => {
    const stop = await api("/api/v1/streams/line1/recording", { method: "DELETE" });
    expect(stop.status).toBe(200);
    expect((await json(await api("/api/v1/streams/line1"))).recording).toBe(false);
    expect((await api("/api/v1/streams/line1/recording", { method: "DELETE" })).status).toBe(404);
    const start = await postJson("/api/v1/streams/line1/recording", { tags: { productType: "TX-9", productionDate: "2026-11-23" } });
    expect(start.status).toBe(201);
    const { recordingId } = await json(start);
    expect((await postJson("/api/v1/streams/line1/recording", {})).status).toBe(200);
    expect((await postJson("/api/v1/streams/ghost/recording", {})).status).toBe(404);
    await new Promise((r) => setTimeout(r, 6000));
    const tagged = (await json(await api("/api/v1/recordings?stream=line1&tag=productType:TX-9"))).recordings as { recordingId: string; tags: Record<string, string> }[];
    expect(tagged.map((r) => r.recordingId)).toEqual([recordingId]);
    expect(tagged[0]?.tags.productionDate).toBe("2026-11-23");
    const put = await api(`/api/v1/recordings/line1/${recordingId as string}/tags`, { method: "PUT", headers: { "content-type": "application/json" }, body: JSON.stringify({ tags: { machine: "M7" } }) });
    expect(put.status).toBe(200);
    expect(((await json(put)).tags as Record<string, string>).machine).toBe("M7");
  }, 30_000);
});
