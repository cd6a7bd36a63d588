import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MinioObjectStore } from "../../src/adapters/storage/minio-object-store.js";
import { parseManifest } from "../../src/recorder/manifest.js";
import { publishTestStream } from "../helpers/publish-test-stream.js";
import { startMinio, type MinioServer } from "../support/minio-server.js";
import { assembleFromStore, decodeErrors, probeVideoFrames } from "../support/recording-probe.js";
import { startTestServer, type TestServer } from "../support/server-harness.js";

/** 3 minutes of publishing into MinIO with a 1-minute rolling window. */
let minio: MinioServer;
let ts: TestServer;
let direct: MinioObjectStore;
let scratch: string;
const BUCKET = "ifc-retention";

beforeAll(async () => {
  minio = await startMinio();
  scratch = await mkdtemp(path.join(tmpdir(), "ifc-ret-"));
  const s3 = { s3Url: minio.url, s3AccessKey: minio.accessKey, s3SecretKey: minio.secretKey, s3Bucket: BUCKET };
  ts = await startTestServer({ store: "s3", ...s3, spoolDir: path.join(scratch, "spool"), retentionMinutes: 1, retentionIntervalMs: 2000 });
  direct = new MinioObjectStore({ url: minio.url, accessKey: minio.accessKey, secretKey: minio.secretKey, bucket: BUCKET, region: "us-east-1", pathStyle: true });
});

afterAll(async () => {
  await ts?.stop();
  await minio?.stop();
  await rm(scratch, { recursive: true, force: true });
});

describe("rolling retention in MinIO", () => {
  it("keeps only the last minute (± one segment); kept segments decode; the manifest matches the objects exactly", async () => {
    const pub = await publishTestStream(`${ts.url}/whip/roll`, { width: 320, height: 240, fps: 30, gopSeconds: 1, durationSeconds: 200, audio: true, preset: "ultrafast" });
    await new Promise((r) => setTimeout(r, 180_000));
    // One last pass, then no more: the checks below read the kept segments one by one, and a
    // cleaner still running would (rightly) delete the oldest of them meanwhile.
    await ts.server.retention.stop();
    await ts.server.retention.runOnce();
    await ts.server.spool?.flush();

    const objects = await direct.list("roll/");
    const manifestObj = objects.find((o) => o.key.endsWith("/manifest.json"));
    expect(manifestObj).toBeDefined();
    const m = parseManifest(await direct.get(manifestObj!.key));
    expect(m.endedAt).toBeNull(); // still live
    const complete = m.segments.filter((s) => s.complete);
    const keptMs = complete.reduce((n, s) => n + s.durationMs, 0);
    console.log(`after 180 s: ${m.segments.length} segments in MinIO (${(keptMs / 1000).toFixed(1)} s complete), first starts ${((Date.now() - (m.segments[0]?.startMs ?? 0)) / 1000).toFixed(1)} s ago`);
    // the window is 60 s; segments of 4 s; the cleaner runs every 2 s
    expect(keptMs).toBeGreaterThanOrEqual(60_000 - 4000);
    expect(keptMs).toBeLessThanOrEqual(60_000 + 2 * 4000 + 2000);
    expect(m.segments[0]!.seq).toBeGreaterThan(20); // the first two minutes are gone

    // exactly the objects the manifest names, plus the newest parts of the open segment, which
    // are stored every part while the stored manifest is rewritten per segment
    const named = new Set([manifestObj!.key, ...m.inits.map((i) => i.key), ...m.segments.flatMap((s) => s.parts.map((p) => p.key))]);
    for (const k of named) expect(objects.some((o) => o.key === k)).toBe(true);
    const lastNamedSeq = Math.max(...m.segments.map((s) => s.seq));
    for (const k of objects.map((o) => o.key).filter((key) => !named.has(key))) {
      const part = /\/(\d{6})-\d{2}\.m4s$/.exec(k);
      expect(part).not.toBeNull(); // no stray init, manifest or old part
      expect(Number(part![1])).toBeGreaterThanOrEqual(lastNamedSeq);
    }

    for (const seg of complete) {
      const file = await assembleFromStore(direct, m, [seg], path.join(scratch, `seg-${seg.seq}.mp4`));
      const frames = await probeVideoFrames(file);
      expect(frames[0]?.keyFrame).toBe(true);
      expect(frames.length).toBe(Math.round((seg.durationMs * 30) / 1000));
    }
    const all = await assembleFromStore(direct, m, complete, path.join(scratch, "window.mp4"));
    expect(await decodeErrors(all)).toBe("");
    await pub.stop();
  }, 260_000);
});
