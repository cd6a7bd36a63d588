import { afterEach, describe, expect, it } from "vitest";
import type { H264SpsInfo } from "../../../src/media/types.js";
import { ManifestStore, type ManifestChange } from "../../../src/recorder/manifest-store.js";
import { RecordingCatalog } from "../../../src/recorder/recording-catalog.js";
import { RecordingWriter } from "../../../src/recorder/recording-writer.js";
import { SegmentLeases } from "../../../src/recorder/segment-leases.js";
import { GatedStore, readStored, silent, storeRecording, tempStore } from "./stored-recordings.js";

const T0 = Date.UTC(2026, 10, 1, 12, 0, 0);
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

async function setup() {
  const t = await tempStore();
  cleanups.push(t.cleanup);
  return { store: t.store, manifests: new ManifestStore(t.store) };
}

const addTag =
  (k: string, v: string): ManifestChange =>
  (m) => ({ ...m, tags: { ...m.tags, [k]: v } });

describe("ManifestStore: one writer per recording", () => {
  it("concurrent changes to a stored manifest each apply to the newest version (no lost update)", async () => {
    const { store, manifests } = await setup();
    await storeRecording(store, "cam1", "rec1", T0, 2);
    await Promise.all(Array.from({ length: 20 }, (_, i) => manifests.update("cam1", "rec1", addTag(`k${i}`, String(i)))));
    expect(Object.keys((await readStored(store, "cam1", "rec1"))?.tags ?? {})).toHaveLength(20);
    expect(manifests.queued("cam1", "rec1")).toBe(0);
  });

  it("a change that throws writes nothing, and the changes after it still run", async () => {
    const { store, manifests } = await setup();
    await storeRecording(store, "cam1", "rec1", T0, 2);
    const bad = manifests.update("cam1", "rec1", () => {
      throw new Error("refused");
    });
    const good = manifests.update("cam1", "rec1", addTag("a", "1"));
    await expect(bad).rejects.toThrow("refused");
    await expect(good).resolves.toMatchObject({ tags: { a: "1" } });
    expect((await readStored(store, "cam1", "rec1"))?.tags).toEqual({ a: "1" });
  });

  it("an absent recording resolves undefined; `null` deletes a stored manifest", async () => {
    const { store, manifests } = await setup();
    expect(await manifests.update("cam1", "nope", addTag("a", "1"))).toBeUndefined();
    await storeRecording(store, "cam1", "rec1", T0, 1);
    expect(await manifests.update("cam1", "rec1", () => null)).toBeUndefined();
    expect(await readStored(store, "cam1", "rec1")).toBeUndefined();
  });

  it("a live recording's changes go through its writer: the next segment write keeps the tag and the dropped segment stays dropped", async () => {
    const { store, manifests } = await setup();
    const writer = new RecordingWriter(store, "cam1", "live", T0, silent);
    const detach = manifests.attach("cam1", "live", writer);
    const sps = { codecString: "avc1.42e01e", width: 320, height: 240 } as H264SpsInfo;
    writer.init({ index: 0, data: new Uint8Array(10), sps });
    const segment = (seq: number): void => {
      writer.part({ seq, part: 0, data: new Uint8Array(100), durationMs: 1000, independent: true, segmentStart: { startMs: T0 + seq * 1000, startDts: seq * 90_000, init: 0 } });
      writer.segmentClosed({ seq, durationMs: 1000 });
    };
    segment(0);
    segment(1);
    const tagged = await manifests.update("cam1", "live", addTag("lot", "A"));
    expect(tagged?.tags).toEqual({ lot: "A" });
    expect((await readStored(store, "cam1", "live"))?.tags).toEqual({ lot: "A" }); // stored at once
    await manifests.update("cam1", "live", (m, { live }) => {
      expect(live).toBe(true);
      return { ...m, segments: m.segments.filter((s) => s.seq !== 0) };
    });
    segment(2);
    await writer.flush();
    const stored = await readStored(store, "cam1", "live");
    expect(stored?.tags).toEqual({ lot: "A" });
    expect(stored?.segments.map((s) => s.seq)).toEqual([1, 2]);
    // A live manifest cannot be deleted.
    await expect(manifests.update("cam1", "live", () => null)).rejects.toThrow();

    await writer.close(T0 + 10_000);
    detach();
    // Ended: changes now read the stored version (which the writer's close wrote).
    const after = await manifests.update("cam1", "live", addTag("b", "2"));
    expect(after?.endedAt).toBe(T0 + 10_000);
    expect(after?.tags).toEqual({ lot: "A", b: "2" });
  });
});

describe("the catalog's cache follows the manifest's writer", () => {
  it("a same-size change within one listing-time tick is seen at once (S3 lists times by the second)", async () => {
    const t = await tempStore();
    cleanups.push(t.cleanup);
    // A store whose listing says every object was written at the same instant.
    class CoarseTimes extends GatedStore {
      override async list(prefix: string) {
        return (await super.list(prefix)).map((o) => ({ ...o, modifiedMs: 0 }));
      }
    }
    const store = new CoarseTimes(t.store);
    const manifests = new ManifestStore(store);
    const catalog = new RecordingCatalog(store, () => undefined, new SegmentLeases());
    manifests.onWrite((key) => catalog.forget(key));
    await storeRecording(store, "cam1", "rec1", T0, 1);
    await manifests.update("cam1", "rec1", addTag("a", "1"));
    expect((await catalog.manifests())[0]?.tags).toEqual({ a: "1" });
    await manifests.update("cam1", "rec1", addTag("a", "2"));
    expect((await catalog.manifests())[0]?.tags).toEqual({ a: "2" });
  });
});
