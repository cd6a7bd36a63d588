import { afterEach, describe, expect, it } from "vitest";
import type { ObjectStore } from "../../../src/ports/object-store.js";
import { RecordingCatalog } from "../../../src/recorder/recording-catalog.js";
import type { Recorder } from "../../../src/recorder/recorder.js";
import { RetentionCleaner, type RetentionPolicy } from "../../../src/recorder/retention.js";
import { SegmentLeases } from "../../../src/recorder/segment-leases.js";
import { waitFor } from "../../support/wait-for.js";
import { GatedStore, SEGMENT_MS, idleRecorder, missingObjects, readStored, silent, storeRecording, tempStore } from "./stored-recordings.js";

const T0 = Date.UTC(2026, 10, 1, 12, 0, 0);
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

async function setup(policy: Partial<RetentionPolicy> = {}, wrap: (s: ObjectStore) => ObjectStore = (s) => s) {
  const t = await tempStore();
  cleanups.push(t.cleanup);
  const store = wrap(t.store);
  const recorder: Recorder = idleRecorder(store);
  const leases = new SegmentLeases();
  const catalog = new RecordingCatalog(store, (s) => recorder.liveManifest(s), leases);
  const retention = new RetentionCleaner(
    store,
    catalog,
    recorder,
    leases,
    { maxAgeMs: () => Infinity, maxStreamBytes: 0, maxTotalBytes: 0, ...policy },
    silent,
    () => {
      throw new Error("tests pass `now` explicitly");
    },
  );
  return { store, recorder, leases, catalog, retention };
}

// 10 segments from T0; with a 60 s window at this `now`, segments 0..4 (ending by T0+20 s) are past it.
const WINDOW_MS = 60_000;
const NOW = T0 + 22_000 + WINDOW_MS;

describe("retention and tags share one writer per manifest", () => {
  it("a tag change queued while retention writes the manifest keeps both: no dropped segment comes back, the tag stays", async () => {
    let gated!: GatedStore;
    const h = await setup({ maxAgeMs: () => WINDOW_MS }, (s) => (gated = new GatedStore(s)));
    await storeRecording(h.store, "cam1", "rec1", T0, 10);
    const hold = gated.hold("rec1/manifest.json");
    const pass = h.retention.runOnce(NOW);
    await hold.reached; // retention has read version 1 and is writing version 2
    const tagged = h.recorder.tag("cam1", "rec1", { lot: "A" });
    hold.release();
    const [result, afterTag] = await Promise.all([pass, tagged]);

    expect(result.deletedSegments).toBe(5);
    expect(afterTag?.segments.map((s) => s.seq)).toEqual([5, 6, 7, 8, 9]);
    const stored = await readStored(h.store, "cam1", "rec1");
    expect(stored?.tags).toEqual({ lot: "A" });
    expect(stored?.segments.map((s) => s.seq)).toEqual([5, 6, 7, 8, 9]);
    expect(await missingObjects(h.store, stored!)).toEqual([]);
  });

  it("retention queued while a tag change writes the manifest drops from the tagged version", async () => {
    let gated!: GatedStore;
    const h = await setup({ maxAgeMs: () => WINDOW_MS }, (s) => (gated = new GatedStore(s)));
    await storeRecording(h.store, "cam1", "rec1", T0, 10);
    const hold = gated.hold("rec1/manifest.json");
    const tagged = h.recorder.tag("cam1", "rec1", { lot: "B" });
    await hold.reached; // the tag change is writing; retention now reads the untagged version 1
    const pass = h.retention.runOnce(NOW);
    // Retention's read of version 1 must finish before the gate opens, or this test proves nothing:
    // it has once its change is queued behind the tag change.
    await waitFor(() => h.recorder.manifests.queued("cam1", "rec1") === 2, { what: "retention's change queued" });
    hold.release();
    await Promise.all([tagged, pass]);

    const stored = await readStored(h.store, "cam1", "rec1");
    expect(stored?.tags).toEqual({ lot: "B" });
    expect(stored?.segments.map((s) => s.seq)).toEqual([5, 6, 7, 8, 9]);
    expect(await missingObjects(h.store, stored!)).toEqual([]);
    expect(await h.store.stat("cam1/rec1/000000-00.m4s")).toBeUndefined();
  });
});

describe("retention", () => {
  it("skips a leased segment and takes it on a later pass once released", async () => {
    const h = await setup({ maxAgeMs: () => WINDOW_MS });
    await storeRecording(h.store, "cam1", "rec1", T0, 10);
    const release = h.leases.acquire("rec1", [0]);
    const first = await h.retention.runOnce(NOW);
    expect(first.skippedLeased).toBe(1);
    expect(first.deletedSegments).toBe(4);
    let stored = await readStored(h.store, "cam1", "rec1");
    expect(stored?.segments.map((s) => s.seq)).toEqual([0, 5, 6, 7, 8, 9]);
    expect(await missingObjects(h.store, stored!)).toEqual([]);

    release();
    const second = await h.retention.runOnce(NOW);
    expect(second.skippedLeased).toBe(0);
    expect(second.deletedSegments).toBe(1);
    stored = await readStored(h.store, "cam1", "rec1");
    expect(stored?.segments.map((s) => s.seq)).toEqual([5, 6, 7, 8, 9]);
  });

  it("keeps a segment that ends exactly at the window's edge, drops it 1 ms later (injected clock)", async () => {
    const h = await setup({ maxAgeMs: () => WINDOW_MS });
    await storeRecording(h.store, "cam1", "rec1", T0, 3);
    const firstEnd = T0 + SEGMENT_MS;
    expect((await h.retention.runOnce(firstEnd + WINDOW_MS)).deletedSegments).toBe(0);
    expect((await h.retention.runOnce(firstEnd + WINDOW_MS + 1)).deletedSegments).toBe(1);
  });

  it("per-stream windows (IFC_RETENTION_MINUTES_BY_STREAM) apply to their stream only", async () => {
    const h = await setup({ maxAgeMs: (stream) => (stream === "dock" ? 60_000 : 15 * 60_000) });
    await storeRecording(h.store, "dock", "recd", T0, 10);
    await storeRecording(h.store, "cam1", "recc", T0, 10);
    const r = await h.retention.runOnce(NOW);
    expect(r.deletedSegments).toBe(5);
    expect((await readStored(h.store, "dock", "recd"))?.segments.map((s) => s.seq)).toEqual([5, 6, 7, 8, 9]);
    expect((await readStored(h.store, "cam1", "recc"))?.segments).toHaveLength(10);
  });

  it("IFC_RETENTION_TOTAL_BYTES: at the cap nothing goes; one byte under it the oldest segment over all streams goes", async () => {
    for (const [cap, expected] of [
      [6000, { cam1: [0, 1, 2], cam2: [0, 1, 2] }],
      [5999, { cam1: [1, 2], cam2: [0, 1, 2] }],
      [4000, { cam1: [1, 2], cam2: [1, 2] }],
    ] as const) {
      const h = await setup({ maxTotalBytes: cap });
      await storeRecording(h.store, "cam1", "rec1", T0, 3, 1000);
      await storeRecording(h.store, "cam2", "rec2", T0 + 2000, 3, 1000);
      await h.retention.runOnce(NOW);
      expect((await readStored(h.store, "cam1", "rec1"))?.segments.map((s) => s.seq), `cap ${cap}`).toEqual(expected.cam1);
      expect((await readStored(h.store, "cam2", "rec2"))?.segments.map((s) => s.seq), `cap ${cap}`).toEqual(expected.cam2);
    }
  });

  it("a recording that ages out entirely loses its manifest first, then every object", async () => {
    const h = await setup({ maxTotalBytes: 3000 });
    await storeRecording(h.store, "cam1", "old", T0, 3, 1000);
    await storeRecording(h.store, "cam1", "new", T0 + 60_000, 3, 1000);
    const r = await h.retention.runOnce(NOW);
    expect(r.deletedRecordings).toBe(1);
    expect(await h.store.list("cam1/old/")).toEqual([]);
    expect((await readStored(h.store, "cam1", "new"))?.segments).toHaveLength(3);
  });
});
