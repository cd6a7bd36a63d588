import { afterEach, describe, expect, it } from "vitest";
import { BadRequestError } from "../../../src/errors.js";
import type { ObjectStore } from "../../../src/ports/object-store.js";
import { ClipLimitError, ClipService, type ClipLimits } from "../../../src/recorder/clips.js";
import { CLIPS_PREFIX, RecordingCatalog } from "../../../src/recorder/recording-catalog.js";
import { SegmentLeases } from "../../../src/recorder/segment-leases.js";
import { GatedStore, SEGMENT_MS, idleRecorder, silent, storeRecording, tempStore } from "./stored-recordings.js";

const T0 = Date.UTC(2026, 10, 1, 12, 0, 0);
const DAY = 86_400_000;
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

/** Fails the n-th copy (1-based), once. */
class FailingCopyStore extends GatedStore {
  private copies = 0;
  constructor(
    inner: ObjectStore,
    private readonly failAt: number,
  ) {
    super(inner);
  }
  override async copy(fromKey: string, toKey: string): Promise<void> {
    if (++this.copies === this.failAt) throw new Error("copy failed (test)");
    await super.copy(fromKey, toKey);
  }
}

async function setup(limits: Partial<ClipLimits> = {}, wrap: (s: ObjectStore) => ObjectStore = (s) => s) {
  const t = await tempStore();
  cleanups.push(t.cleanup);
  const store = wrap(t.store);
  const recorder = idleRecorder(store);
  const leases = new SegmentLeases();
  const catalog = new RecordingCatalog(store, (s) => recorder.liveManifest(s), leases);
  let clock = T0 + DAY;
  const clips = new ClipService(store, catalog, leases, DAY, silent, limits, () => clock);
  await storeRecording(store, "cam1", "rec1", T0, 10, 1000);
  const clipObjects = async () => (await store.list(CLIPS_PREFIX)).map((o) => o.key);
  return { store, clips, leases, clipObjects, setClock: (ms: number) => (clock = ms) };
}

describe("clips store nothing until everything that can fail has passed", () => {
  it("a `to` of 1e20 ms is refused (400) and leaves no object behind", async () => {
    const h = await setup();
    await expect(h.clips.create("cam1", T0, Number("99999999999999999999"), {})).rejects.toBeInstanceOf(BadRequestError);
    await expect(h.clips.create("cam1", Number.NaN, T0, {})).rejects.toBeInstanceOf(BadRequestError);
    expect(await h.clipObjects()).toEqual([]);
    expect(await h.clips.list()).toEqual([]);
  });

  it("a copy failing half-way removes the copies made; no manifest, nothing listed", async () => {
    const h = await setup({}, (s) => new FailingCopyStore(s, 3));
    await expect(h.clips.create("cam1", T0, T0 + 3 * SEGMENT_MS, {})).rejects.toThrow("copy failed");
    expect(await h.clipObjects()).toEqual([]);
    expect(h.leases.size).toBe(0);
  });
});

describe("unreadable clip manifests are skipped, counted and logged", () => {
  it("a corrupt manifest.json and one whose times are out of range do not break listing or expiry", async () => {
    const h = await setup();
    const good = await h.clips.create("cam1", T0, T0 + SEGMENT_MS, {}, T0 + DAY);
    await h.store.put(`${CLIPS_PREFIX}aaaaaaaaaaaaaaaa/manifest.json`, Buffer.from("{not json"));
    // What the old code stored for `to` = "99999999999999999999": valid JSON, an impossible date.
    const stored = JSON.parse((await h.store.get(`${CLIPS_PREFIX}${good.id}/manifest.json`)).toString()) as { clip: { to: number; id: string } };
    stored.clip.to = 1e20;
    stored.clip.id = "bbbbbbbbbbbbbbbb";
    await h.store.put(`${CLIPS_PREFIX}bbbbbbbbbbbbbbbb/manifest.json`, Buffer.from(JSON.stringify(stored)));

    expect((await h.clips.list()).map((c) => c.id)).toEqual([good.id]);
    expect(h.clips.unreadableManifests).toBe(2);
    // The expiry pass goes on past them and deletes what has expired.
    expect(await h.clips.deleteExpired(T0 + 3 * DAY)).toBe(1);
    expect(await h.clips.list()).toEqual([]);
    // An unreadable clip can still be deleted by id.
    await h.clips.delete("aaaaaaaaaaaaaaaa");
    expect(await h.store.list(`${CLIPS_PREFIX}aaaaaaaaaaaaaaaa/`)).toEqual([]);
  });
});

describe("clip expiry (injected clock)", () => {
  it("keeps a clip until the ms it expires, deletes it then", async () => {
    const h = await setup();
    const made = T0 + DAY;
    h.setClock(made);
    const clip = await h.clips.create("cam1", T0, T0 + SEGMENT_MS, {});
    expect(Date.parse(clip.expiresAt)).toBe(made + DAY);
    h.setClock(made + DAY - 1);
    expect(await h.clips.deleteExpired()).toBe(0);
    h.setClock(made + DAY);
    expect(await h.clips.deleteExpired()).toBe(1);
    expect(await h.clipObjects()).toEqual([]);
  });
});

describe("clip limits, at their edges", () => {
  it("IFC_CLIP_MAX_DURATION_MS: exactly the span is kept, 1 ms more is refused", async () => {
    const h = await setup({ maxDurationMs: 8000 });
    await expect(h.clips.create("cam1", T0, T0 + 8000, {})).resolves.toMatchObject({ stream: "cam1" });
    const before = await h.clipObjects();
    await expect(h.clips.create("cam1", T0, T0 + 8001, {})).rejects.toMatchObject({ name: "ClipLimitError", limit: "span" });
    expect(await h.clipObjects()).toEqual(before);
  });

  it("IFC_CLIP_MAX_COUNT: the n-th clip is kept, the n+1-th refused with nothing stored", async () => {
    const h = await setup({ maxCount: 2 });
    await h.clips.create("cam1", T0, T0 + SEGMENT_MS, {});
    await h.clips.create("cam1", T0 + SEGMENT_MS, T0 + 2 * SEGMENT_MS, {});
    const before = await h.clipObjects();
    const err = await h.clips.create("cam1", T0, T0 + SEGMENT_MS, {}).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(ClipLimitError);
    expect((err as ClipLimitError).limit).toBe("count");
    expect(await h.clipObjects()).toEqual(before);
  });

  it("IFC_CLIP_TOTAL_BYTES: a clip that brings the total exactly to the cap is kept, one byte over is refused", async () => {
    // One segment's clip copies its init (100 B) and one part (1000 B), plus its manifest.
    const probe = await setup();
    await probe.clips.create("cam1", T0, T0 + SEGMENT_MS, {});
    const oneClip = (await probe.store.list(CLIPS_PREFIX)).reduce((n, o) => n + o.size, 0);
    const media = 1100;
    const manifestBytes = oneClip - media;

    const h = await setup({ maxTotalBytes: oneClip + media });
    await h.clips.create("cam1", T0, T0 + SEGMENT_MS, {});
    await expect(h.clips.create("cam1", T0 + SEGMENT_MS, T0 + 2 * SEGMENT_MS, {})).resolves.toMatchObject({ bytes: 1000 });

    const tight = await setup({ maxTotalBytes: oneClip + media - 1 });
    await tight.clips.create("cam1", T0, T0 + SEGMENT_MS, {});
    const before = await tight.clipObjects();
    await expect(tight.clips.create("cam1", T0 + SEGMENT_MS, T0 + 2 * SEGMENT_MS, {})).rejects.toMatchObject({ limit: "bytes" });
    expect(await tight.clipObjects()).toEqual(before);
    expect(manifestBytes).toBeGreaterThan(0);
  });
});
