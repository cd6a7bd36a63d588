/**
 * Out of disk, provoked with a probe whose free space the test sets (the real statfs is in
 * test/integration/disk-low.test.ts): the cleaner deletes the oldest rolling segments over all
 * streams until the shortfall is covered, never a leased segment or a kept clip, and logs the
 * alarm once per episode.
 */
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import type { FreeSpaceProbe } from "../../../src/ports/free-space.js";
import { RecordingCatalog } from "../../../src/recorder/recording-catalog.js";
import { RetentionCleaner } from "../../../src/recorder/retention.js";
import { SegmentLeases } from "../../../src/recorder/segment-leases.js";
import { idleRecorder, missingObjects, readStored, storeRecording, tempStore } from "./stored-recordings.js";

const T0 = Date.UTC(2026, 10, 1, 12, 0, 0);
const PART = 1000;
const MIN_FREE = 1_000_000;

class SetFreeSpace implements FreeSpaceProbe {
  readonly path = "/test-disk";
  free = MIN_FREE;
  async freeBytes(): Promise<number> {
    return this.free;
  }
}

interface LogLine { level: number; msg: string; freeBytes?: number; minFreeBytes?: number }

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

async function setup(minFreeBytes = MIN_FREE) {
  const t = await tempStore();
  cleanups.push(t.cleanup);
  const lines: LogLine[] = [];
  const log = pino({ level: "info" }, { write: (s: string) => lines.push(JSON.parse(s) as LogLine) });
  const recorder = idleRecorder(t.store);
  const leases = new SegmentLeases();
  const catalog = new RecordingCatalog(t.store, (s) => recorder.liveManifest(s), leases);
  const probe = new SetFreeSpace();
  const retention = new RetentionCleaner(t.store, catalog, recorder, leases, {
    maxAgeMs: () => Infinity, maxStreamBytes: 0, maxTotalBytes: 0, disk: { probe, minFreeBytes },
  }, log, () => T0 + 3_600_000);
  return { store: t.store, leases, retention, probe, lines };
}

const alarms = (lines: LogLine[]) => lines.filter((l) => l.level === 40 && l.msg.includes("IFC_RETENTION_MIN_FREE_BYTES"));

describe("retention when the disk is low", () => {
  it("deletes the oldest rolling segments over all streams until the shortfall is covered; leased ones and kept clips stay", async () => {
    const h = await setup();
    // cam1 from T0, cam2 from T0+2 s: by start time the order interleaves across streams.
    await storeRecording(h.store, "cam1", "rec1", T0, 5, PART);
    await storeRecording(h.store, "cam2", "rec2", T0 + 2000, 5, PART);
    await storeRecording(h.store, "clips", "c1", T0 - 60_000, 3, PART); // a kept clip's layout: clips/{id}/
    const clipObjects = await h.store.list("clips/");
    const release = h.leases.acquire("rec1", [1]); // a playback reads cam1's second segment

    // 3.5 parts short: four segments go (the fourth covers the half), the leased one is skipped.
    h.probe.free = MIN_FREE - 3.5 * PART;
    const r = await h.retention.runOnce();
    expect(r.diskLowEvictions).toBe(4);
    // By start: rec1#0 (T0), rec2#0 (T0+2), rec1#1 leased, rec2#1 (T0+6), rec1#2 (T0+8), rec2#2 (T0+10).
    expect((await readStored(h.store, "cam1", "rec1"))?.segments.map((s) => s.seq)).toEqual([1, 3, 4]);
    expect((await readStored(h.store, "cam2", "rec2"))?.segments.map((s) => s.seq)).toEqual([2, 3, 4]);
    for (const [s, id] of [["cam1", "rec1"], ["cam2", "rec2"]] as const) expect(await missingObjects(h.store, (await readStored(h.store, s, id))!)).toEqual([]);
    expect(await h.store.list("clips/")).toEqual(clipObjects);
    expect(h.retention.diskStats).toMatchObject({ path: "/test-disk", freeBytes: MIN_FREE - 3.5 * PART, minFreeBytes: MIN_FREE, low: true, lowEvictions: 4, lowEpisodes: 1 });
    expect(alarms(h.lines)).toEqual([expect.objectContaining({ freeBytes: MIN_FREE - 3.5 * PART, minFreeBytes: MIN_FREE })]);

    // Still low on the next pass (another writer filled it): more goes, no second alarm.
    const again = await h.retention.runOnce();
    expect(again.diskLowEvictions).toBe(4);
    expect(alarms(h.lines)).toHaveLength(1);

    // Back above: nothing more is deleted, the episode ends; a new one alarms again.
    h.probe.free = MIN_FREE;
    expect((await h.retention.runOnce()).deletedSegments).toBe(0);
    expect(h.retention.diskStats.low).toBe(false);
    expect(h.lines.some((l) => l.msg === "disk space is back above the minimum")).toBe(true);
    h.probe.free = MIN_FREE - 1;
    await h.retention.runOnce();
    expect(alarms(h.lines)).toHaveLength(2);
    expect(h.retention.diskStats.lowEpisodes).toBe(2);
    release();
  });

  it("exactly at the minimum is not low; 0 turns the check off", async () => {
    const at = await setup();
    await storeRecording(at.store, "cam1", "rec1", T0, 3, PART);
    at.probe.free = MIN_FREE;
    expect((await at.retention.runOnce()).deletedSegments).toBe(0);
    at.probe.free = MIN_FREE - 1;
    expect((await at.retention.runOnce()).diskLowEvictions).toBe(1);

    const off = await setup(0);
    await storeRecording(off.store, "cam1", "rec1", T0, 3, PART);
    off.probe.free = 0;
    expect((await off.retention.runOnce()).deletedSegments).toBe(0);
    expect(off.retention.diskStats.freeBytes).toBeUndefined();
  });

  it("with only leased segments left it deletes nothing and logs an error once", async () => {
    const h = await setup();
    await storeRecording(h.store, "cam1", "rec1", T0, 2, PART);
    const release = h.leases.acquire("rec1", [0, 1]);
    h.probe.free = 0;
    expect((await h.retention.runOnce()).deletedSegments).toBe(0);
    await h.retention.runOnce();
    expect(h.lines.filter((l) => l.level === 50 && l.msg.includes("no rolling segment left"))).toHaveLength(1);
    expect((await readStored(h.store, "cam1", "rec1"))?.segments).toHaveLength(2);
    release();
  });

  it("a probe that fails deletes nothing for space and does not stop the pass", async () => {
    const h = await setup();
    await storeRecording(h.store, "cam1", "rec1", T0, 2, PART);
    h.probe.freeBytes = () => Promise.reject(new Error("EIO"));
    await expect(h.retention.runOnce()).resolves.toMatchObject({ deletedSegments: 0 });
    expect(h.lines.some((l) => l.msg === "free space could not be read")).toBe(true);
  });
});
