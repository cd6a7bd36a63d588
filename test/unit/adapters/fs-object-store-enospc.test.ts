/**
 * Out of disk at the fs boundary: the file system fills mid-write (ENOSPC after half the bytes).
 * What was written before — parts, init, the manifest naming them — is unchanged, the failed
 * write leaves nothing behind (no object, no staging file), and writes work once space is back.
 */
import { open, readdir, readFile } from "node:fs/promises";
import path from "node:path";
import { afterEach, describe, expect, it } from "vitest";
import { FsObjectStore, type OpenForWrite } from "../../../src/adapters/storage/fs-object-store.js";
import { manifestKey } from "../../../src/ports/recording-manifest.js";
import { partKey } from "../../../src/recorder/manifest.js";
import { missingObjects, readStored, storeRecording, tempStore } from "../recorder/stored-recordings.js";

const cleanups: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0)) await c();
});

/** Real files; while `full`, a write stores half its bytes, then fails as a full disk does. */
function fillingDisk(): { openForWrite: OpenForWrite; full: { on: boolean }; failures: number[] } {
  const full = { on: false };
  const failures: number[] = [];
  const openForWrite: OpenForWrite = async (file, flags) => {
    const fh = await open(file, flags);
    return {
      sync: () => fh.sync(),
      close: () => fh.close(),
      writeFile: async (data) => {
        if (!full.on) return fh.writeFile(data);
        const bytes = data as Uint8Array;
        await fh.writeFile(bytes.subarray(0, bytes.length >> 1));
        failures.push(bytes.length);
        throw Object.assign(new Error("ENOSPC: no space left on device, write"), { code: "ENOSPC", errno: -28, syscall: "write" });
      },
    };
  };
  return { openForWrite, full, failures };
}

describe("FsObjectStore when the disk fills", () => {
  it("a write failing with ENOSPC corrupts nothing already written and leaves no partial file; writes resume when space is back", async () => {
    const t = await tempStore();
    cleanups.push(t.cleanup);
    const disk = fillingDisk();
    const store = new FsObjectStore(t.dir, disk.openForWrite);
    await store.init();
    const m = await storeRecording(store, "cam1", "rec1", Date.UTC(2026, 0, 1), 3);
    const before = new Map<string, Buffer>();
    for (const o of await store.list("")) before.set(o.key, await readFile(path.join(t.dir, o.key)));

    disk.full.on = true;
    // The recorder's next writes: a new part, then the manifest naming it (an overwrite).
    const next = partKey("cam1", "rec1", 3, 0);
    await expect(store.put(next, Buffer.alloc(1000, 3))).rejects.toMatchObject({ code: "ENOSPC" });
    const grown = { ...m, segments: [...m.segments, { ...m.segments[2]!, seq: 3, parts: [{ ...m.segments[2]!.parts[0]!, key: next }] }] };
    await expect(store.put(manifestKey("cam1", "rec1"), Buffer.from(JSON.stringify(grown)))).rejects.toMatchObject({ code: "ENOSPC" });
    expect(disk.failures).toEqual([1000, expect.any(Number)]);

    // Byte for byte what was there; the failed part is not there at all; no staging left-over.
    const after = await store.list("");
    expect(after.map((o) => o.key)).toEqual([...before.keys()]);
    for (const [key, bytes] of before) expect((await readFile(path.join(t.dir, key))).equals(bytes), key).toBe(true);
    expect(await store.stat(next)).toBeUndefined();
    expect(await readdir(path.join(t.dir, ".ifc-tmp"))).toEqual([]);
    const stored = await readStored(store, "cam1", "rec1");
    expect(stored?.segments.map((s) => s.seq)).toEqual([0, 1, 2]);
    expect(await missingObjects(store, stored!)).toEqual([]);

    disk.full.on = false;
    await store.put(next, Buffer.alloc(1000, 3));
    await store.put(manifestKey("cam1", "rec1"), Buffer.from(JSON.stringify(grown)));
    expect((await readStored(store, "cam1", "rec1"))?.segments.map((s) => s.seq)).toEqual([0, 1, 2, 3]);
    expect(await missingObjects(store, (await readStored(store, "cam1", "rec1"))!)).toEqual([]);
  });
});
