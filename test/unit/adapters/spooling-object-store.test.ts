import { mkdtemp, readdir, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { FsObjectStore } from "../../../src/adapters/storage/fs-object-store.js";
import { SpoolingObjectStore, type SpoolOptions } from "../../../src/adapters/storage/spooling-object-store.js";
import type { ObjectStore } from "../../../src/ports/object-store.js";

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
    await new Promise((r) => setTimeout(r, 50));
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
    await new Promise((r) => setTimeout(r, 150));
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

  it("backs off exponentially (with jitter) between retries", async () => {
    const attempts: number[] = [];
    const failing: ObjectStore = Object.assign(Object.create(backend) as ObjectStore, {
      put: async () => {
        attempts.push(Date.now());
        throw new Error("down");
      },
    });
    const s = new SpoolingObjectStore(failing, opts({ minBackoffMs: 40, maxBackoffMs: 160, random: () => 0.5 }));
    await s.init();
    await s.put("x/1", Buffer.alloc(10));
    await new Promise((r) => setTimeout(r, 700));
    await s.close();
    const gaps = attempts.slice(1).map((t, i) => t - (attempts[i] as number));
    expect(gaps.length).toBeGreaterThanOrEqual(4);
    // 40, 80, 160, 160 … (jitter fixed at its midpoint here)
    expect(gaps[0]).toBeGreaterThanOrEqual(35);
    expect(gaps[1]).toBeGreaterThanOrEqual(75);
    expect(gaps[2]).toBeGreaterThanOrEqual(150);
    expect(gaps[3]).toBeLessThan(250);
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
