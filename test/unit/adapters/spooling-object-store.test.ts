import { mkdir, mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { FsObjectStore } from "../../../src/adapters/storage/fs-object-store.js";
import { SpoolingObjectStore, type SpoolOptions } from "../../../src/adapters/storage/spooling-object-store.js";
import type { ObjectStore } from "../../../src/ports/object-store.js";
import { waitFor } from "../../support/wait-for.js";

/** A real fs store behind a switch that makes every write fail, as an unreachable S3 would. */
class FlakyStore extends FsObjectStore implements ObjectStore {
  down = false;
  /** Keys in the order their (successful) uploads started. */
  readonly putOrder: string[] = [];
  override async put(key: string, data: Uint8Array): Promise<void> {
    if (this.down) throw new Error("connect ECONNREFUSED");
    this.putOrder.push(key);
    await super.put(key, data);
  }
}

let dir: string;
let backend: FlakyStore;
const opts = (o: Partial<SpoolOptions> = {}): SpoolOptions => ({
  spoolDir: path.join(dir, "spool"),
  maxQueueBytes: 1000,
  concurrency: 2,
  minBackoffMs: 20,
  maxBackoffMs: 80,
  isBarrier: (k) => k.endsWith("manifest.json"),
  ...o,
});

beforeEach(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "ifc-spool-"));
  backend = new FlakyStore(path.join(dir, "backend"));
  await backend.init();
});
afterEach(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("SpoolingObjectStore", () => {
  it("accepts at once, uploads everything, and keeps a manifest behind the objects it names", async () => {
    const s = new SpoolingObjectStore(backend, opts());
    await s.init();
    for (let i = 0; i < 5; i++) await s.put(`cam/r/00000${i}-00.m4s`, Buffer.alloc(100, i));
    await s.put("cam/r/manifest.json", Buffer.from("{}"));
    await s.put("cam/r/000005-00.m4s", Buffer.alloc(100, 5));
    await s.flush();
    expect(backend.putOrder.indexOf("cam/r/manifest.json")).toBe(5);
    expect((await backend.list("cam/r/")).length).toBe(7);
    expect(s.stats).toMatchObject({ queuedObjects: 0, memoryBytes: 0, spoolBytes: 0, uploaded: 7, failures: 0 });
  });

  it("keeps at most maxQueueBytes in memory: exactly the bound stays in memory, one byte more spools", async () => {
    // a slow store (uploads hang, nothing fails), so the bound is what we see
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const slow: ObjectStore = Object.assign(Object.create(backend) as ObjectStore, {
      put: async (k: string, d: Uint8Array) => {
        await gate;
        await backend.put(k, d);
      },
    });
    const s = new SpoolingObjectStore(slow, opts({ maxQueueBytes: 1000 }));
    await s.init();
    await s.put("a/1", Buffer.alloc(600));
    await s.put("a/2", Buffer.alloc(400));
    expect(s.stats).toMatchObject({ memoryBytes: 1000, spoolBytes: 0 });
    await s.put("a/3", Buffer.alloc(1));
    expect(s.stats).toMatchObject({ memoryBytes: 1000, spoolBytes: 1, spooledObjects: 1 });
    release();
    await s.flush();
    expect((await backend.list("a/")).map((o) => o.key)).toEqual(["a/1", "a/2", "a/3"]);
  });

  it("on the first failed upload writes what waits in memory to the spool (a crash then loses nothing)", async () => {
    backend.down = true;
    const s = new SpoolingObjectStore(backend, opts({ maxQueueBytes: 10_000, minBackoffMs: 60_000, maxBackoffMs: 60_000 }));
    await s.init();
    for (let i = 0; i < 5; i++) await s.put(`b/${i}`, Buffer.alloc(100, i));
    await waitFor(() => s.stats.spooledObjects === 5, { what: "memory spilled to the spool" });
    expect(s.stats).toMatchObject({ memoryBytes: 0, spoolBytes: 500, spooledObjects: 5, degraded: true });
    expect((await readdir(path.join(dir, "spool"))).filter((n) => n.endsWith(".obj")).length).toBe(5);
    await s.close();
  });

  it("spills to the spool during an outage and delivers everything, in order, when the store returns", async () => {
    const s = new SpoolingObjectStore(backend, opts({ concurrency: 1 }));
    await s.init();
    backend.down = true;
    const keys: string[] = [];
    for (let i = 0; i < 30; i++) {
      const k = `cam/r/${String(i).padStart(6, "0")}-00.m4s`;
      keys.push(k);
      await s.put(k, Buffer.alloc(200, i));
    }
    await waitFor(() => s.stats.failures > 1 && s.stats.spooledObjects > 20, { what: "uploads failing and the queue spooled" });
    const during = s.stats;
    expect(during.degraded).toBe(true);
    expect(during.failures).toBeGreaterThan(1);
    expect(during.memoryBytes).toBeLessThanOrEqual(1000);
    expect(during.spooledObjects).toBeGreaterThan(20);
    // reads see the accepted objects meanwhile
    expect((await s.get(keys[29] as string)).equals(Buffer.alloc(200, 29))).toBe(true);
    expect((await s.list("cam/r/")).map((o) => o.key)).toEqual(keys);
    backend.down = false;
    await s.flush();
    expect(backend.putOrder).toEqual(keys);
    expect(s.stats).toMatchObject({ queuedObjects: 0, spoolBytes: 0, degraded: false });
    expect((await readdir(path.join(dir, "spool"))).length).toBe(0);
  });

  it("backs off exponentially (with jitter) between retries, and retries only when the backoff is over", async () => {
    // The backoff is the subject, so its clock is injected: the test reads each delay the spool
    // asks for and fires the retry itself, instead of measuring gaps on a busy machine.
    let attempts = 0;
    const failing: ObjectStore = Object.assign(Object.create(backend) as ObjectStore, {
      put: async () => {
        attempts++;
        throw new Error("down");
      },
    });
    const run = async (random: () => number): Promise<number[]> => {
      attempts = 0;
      const scheduled: { fn: () => void; delayMs: number }[] = [];
      const s = new SpoolingObjectStore(
        failing,
        opts({ spoolDir: path.join(dir, `spool-${random()}`), minBackoffMs: 40, maxBackoffMs: 160, random, schedule: (fn, delayMs) => (scheduled.push({ fn, delayMs }), () => undefined) }),
      );
      await s.init();
      await s.put("x/1", Buffer.alloc(10));
      for (let n = 1; n <= 5; n++) {
        await waitFor(() => scheduled.length === n, { what: `retry ${n} scheduled` });
        expect(attempts).toBe(n); // nothing retried before its backoff was over
        scheduled[n - 1]?.fn();
      }
      await waitFor(() => scheduled.length === 6, { what: "retry 6 scheduled" });
      await s.close();
      return scheduled.map((x) => x.delayMs);
    };
    // 40, 80, 160, 160 … with the jitter at its midpoint, then at both ends of its ±25 %
    expect(await run(() => 0.5)).toEqual([40, 80, 160, 160, 160, 160]);
    expect(await run(() => 0)).toEqual([30, 60, 120, 120, 120, 120]);
    expect(await run(() => 0.999)).toEqual([40, 80, 160, 160, 160, 160].map((d) => d * (0.75 + 0.5 * 0.999)));
  });

  it("a restart picks the spool up again and nothing is lost", async () => {
    const first = new SpoolingObjectStore(backend, opts());
    await first.init();
    backend.down = true;
    for (let i = 0; i < 10; i++) await first.put(`cam/r/${i}`, Buffer.alloc(300, i));
    await first.close(); // as a crash would, minus the memory: close() spools it
    backend.down = false;
    const second = new SpoolingObjectStore(backend, opts());
    await second.init();
    await second.flush();
    expect(backend.putOrder.join(","), backend.putOrder.join(",")).toEqual([...Array(10).keys()].map((i) => `cam/r/${i}`).join(","));
    for (let i = 0; i < 10; i++) expect((await backend.get(`cam/r/${i}`)).equals(Buffer.alloc(300, i))).toBe(true);
  });
});

describe("SpoolingObjectStore when the disk is low", () => {
  it("deleting an object still waiting in the spool frees its file at once, during the outage", async () => {
    backend.down = true;
    const spool = new SpoolingObjectStore(backend, opts({ maxQueueBytes: 0 }));
    await spool.init();
    await spool.put("cam1/rec1/000000-00.m4s", Buffer.alloc(500, 1));
    await spool.put("cam1/rec1/000001-00.m4s", Buffer.alloc(500, 2));
    await waitFor(() => spool.stats.failures > 0, { what: "an upload failing" });
    const files = async () => (await readdir(path.join(dir, "spool"))).filter((n) => n.endsWith(".obj")).length;
    expect(await files()).toBe(2);
    // Retention deletes the newer one (not being uploaded): its spool file goes before the store answers.
    await spool.delete("cam1/rec1/000001-00.m4s").catch(() => undefined);
    expect(await files()).toBe(1);
    expect(spool.stats.spoolBytes).toBe(500);
    expect(await spool.stat("cam1/rec1/000001-00.m4s")).toBeUndefined();
    backend.down = false;
    await spool.flush();
    expect(backend.putOrder).toEqual(["cam1/rec1/000000-00.m4s"]);
    await spool.close();
  });
});

describe("SpoolingObjectStore when the spool cannot be written", () => {
  it("a failed spill (disk full) keeps the object in memory, reports it, never rejects unhandled, and delivers it when the store is back", async () => {
    const errors: string[] = [];
    const spool = new SpoolingObjectStore(backend, opts({ maxQueueBytes: 10_000 }), (err) => errors.push((err as NodeJS.ErrnoException).code ?? (err as Error).message));
    await spool.init();
    // The spill of the first object (seq 0) cannot be written: its staging path is taken by a directory.
    await mkdir(path.join(dir, "spool", `${"0".repeat(12)}-${encodeURIComponent("cam1/rec1/000000-00.m4s")}.obj.tmp`));
    const unhandled: unknown[] = [];
    const onUnhandled = (r: unknown) => unhandled.push(r);
    process.on("unhandledRejection", onUnhandled);
    try {
      backend.down = true;
      await spool.put("cam1/rec1/000000-00.m4s", Buffer.alloc(500, 1));
      await waitFor(() => errors.includes("EISDIR"), { what: "the failed spill reported" });
      await new Promise<void>((r) => setImmediate(r));
    } finally {
      process.off("unhandledRejection", onUnhandled);
    }
    expect(unhandled).toEqual([]);
    expect(spool.stats).toMatchObject({ memoryBytes: 500, spoolBytes: 0, queuedObjects: 1 });
    backend.down = false;
    await spool.flush();
    expect((await backend.get("cam1/rec1/000000-00.m4s")).equals(Buffer.alloc(500, 1))).toBe(true);
    await spool.close();
  });
});
