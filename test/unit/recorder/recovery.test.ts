import { afterEach, describe, expect, it } from "vitest";
import { manifestKey } from "../../../src/ports/recording-manifest.js";
import { ManifestStore } from "../../../src/recorder/manifest-store.js";
import { recoverInterruptedRecordings } from "../../../src/recorder/recovery.js";
import { SEGMENT_MS, readStored, silent, storeRecording, tempStore } from "./stored-recordings.js";

const T0 = Date.UTC(2026, 10, 1, 12, 0, 0);
const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

describe("recovery at start-up", () => {
  it("closes a recording a crash left open, through the manifest's one writer, and steps over an unreadable manifest", async () => {
    const t = await tempStore();
    cleanups.push(t.cleanup);
    const m = await storeRecording(t.store, "cam1", "open1", T0, 3);
    const last = m.segments[2]!;
    last.complete = false;
    await t.store.put(manifestKey("cam1", "open1"), Buffer.from(JSON.stringify({ ...m, endedAt: null, tags: { lot: "A" } })));
    await t.store.put("cam2/broken/manifest.json", Buffer.from("{"));
    const manifests = new ManifestStore(t.store);

    expect(await recoverInterruptedRecordings(t.store, silent, manifests)).toBe(1);
    const stored = await readStored(t.store, "cam1", "open1");
    expect(stored?.endedAt).toBe(T0 + 3 * SEGMENT_MS);
    expect(stored?.segments.every((s) => s.complete)).toBe(true);
    expect(stored?.tags).toEqual({ lot: "A" });
    // Ended recordings are left alone on the next start.
    expect(await recoverInterruptedRecordings(t.store, silent, manifests)).toBe(0);
  });
});
