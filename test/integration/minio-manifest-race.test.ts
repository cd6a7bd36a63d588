import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MinioObjectStore } from "../../src/adapters/storage/minio-object-store.js";
import { RecordingCatalog } from "../../src/recorder/recording-catalog.js";
import { RetentionCleaner } from "../../src/recorder/retention.js";
import { SegmentLeases } from "../../src/recorder/segment-leases.js";
import { startMinio, type MinioServer } from "../support/minio-server.js";
import { waitFor } from "../support/wait-for.js";
import { GatedStore, idleRecorder, missingObjects, readStored, silent, storeRecording } from "../unit/recorder/stored-recordings.js";

/**
 * Tagging racing retention on MinIO, where a PUT is a network round trip and listings report
 * second-granular times: the interleaving is forced with a held write, not left to timing.
 */
const T0 = Date.UTC(2026, 10, 1, 12, 0, 0);
const NOW = T0 + 22_000 + 60_000; // segments 0..4 are past a 60 s window
let minio: MinioServer;
let bucketNo = 0;

beforeAll(async () => {
  minio = await startMinio();
});
afterAll(async () => {
  await minio?.stop();
});

async function setup() {
  const s3 = new MinioObjectStore({ url: minio.url, accessKey: minio.accessKey, secretKey: minio.secretKey, bucket: `ifc-race-${++bucketNo}`, region: "us-east-1", pathStyle: true });
  await s3.init();
  const store = new GatedStore(s3);
  const recorder = idleRecorder(store);
  const leases = new SegmentLeases();
  const catalog = new RecordingCatalog(store, (s) => recorder.liveManifest(s), leases);
  const retention = new RetentionCleaner(store, catalog, recorder, leases, { maxAgeMs: () => 60_000, maxStreamBytes: 0, maxTotalBytes: 0 }, silent);
  await storeRecording(store, "cam1", "rec1", T0, 10);
  return { store, recorder, retention };
}

describe("one writer per manifest on MinIO", () => {
  it("tag queued while retention writes: both kept, nothing named is missing", async () => {
    const h = await setup();
    const hold = h.store.hold("rec1/manifest.json");
    const pass = h.retention.runOnce(NOW);
    await hold.reached;
    const tagged = h.recorder.tag("cam1", "rec1", { lot: "A" });
    hold.release();
    await Promise.all([pass, tagged]);
    const m = await readStored(h.store, "cam1", "rec1");
    expect(m?.tags).toEqual({ lot: "A" });
    expect(m?.segments.map((s) => s.seq)).toEqual([5, 6, 7, 8, 9]);
    expect(await missingObjects(h.store, m!)).toEqual([]);
  });

  it("retention queued while a tag is written: drops from the tagged version", async () => {
    const h = await setup();
    const hold = h.store.hold("rec1/manifest.json");
    const tagged = h.recorder.tag("cam1", "rec1", { lot: "B" });
    await hold.reached;
    const pass = h.retention.runOnce(NOW);
    await waitFor(() => h.recorder.manifests.queued("cam1", "rec1") === 2, { what: "retention's change queued" });
    hold.release();
    await Promise.all([tagged, pass]);
    const m = await readStored(h.store, "cam1", "rec1");
    expect(m?.tags).toEqual({ lot: "B" });
    expect(m?.segments.map((s) => s.seq)).toEqual([5, 6, 7, 8, 9]);
    expect(await missingObjects(h.store, m!)).toEqual([]);
  });
});
