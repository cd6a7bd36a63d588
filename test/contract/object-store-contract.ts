import { afterEach, beforeEach, describe, expect, it } from "vitest";
import { InvalidObjectKeyError, ObjectNotFoundError, type ObjectStore } from "../../src/ports/object-store.js";

export interface StoreFixture {
  store: ObjectStore;
  cleanup(): Promise<void>;
}

async function readAll(stream: NodeJS.ReadableStream): Promise<Buffer> {
  const chunks: Buffer[] = [];
  for await (const c of stream) chunks.push(Buffer.from(c as Buffer));
  return Buffer.concat(chunks);
}

/** The behaviour every ObjectStore implementation must share (fs, MinIO, ...). */
export function objectStoreContract(name: string, make: () => Promise<StoreFixture>): void {
  describe(`ObjectStore contract: ${name}`, () => {
    let fx: StoreFixture;
    beforeEach(async () => {
      fx = await make();
    });
    afterEach(async () => {
      await fx.cleanup();
    });

    it("puts, gets, stats and streams an object", async () => {
      const data = Buffer.from("hello fmp4");
      await fx.store.put("cam1/rec/000000-00.m4s", data);
      expect(await fx.store.get("cam1/rec/000000-00.m4s")).toEqual(data);
      const info = await fx.store.stat("cam1/rec/000000-00.m4s");
      expect(info?.size).toBe(data.length);
      expect(info?.key).toBe("cam1/rec/000000-00.m4s");
      expect(await readAll(await fx.store.getStream("cam1/rec/000000-00.m4s"))).toEqual(data);
    });

    it("overwrites an object whole", async () => {
      await fx.store.put("a/b.bin", Buffer.alloc(1000, 1));
      await fx.store.put("a/b.bin", Buffer.alloc(10, 2));
      expect(await fx.store.get("a/b.bin")).toEqual(Buffer.alloc(10, 2));
    });

    it("lists by prefix, sorted, without unrelated keys", async () => {
      for (const k of ["s1/r1/b", "s1/r1/a", "s1/r2/c", "s2/r1/a", "s10/x"]) await fx.store.put(k, Buffer.from(k));
      expect((await fx.store.list("s1/")).map((o) => o.key)).toEqual(["s1/r1/a", "s1/r1/b", "s1/r2/c"]);
      expect((await fx.store.list("s1/r1/")).map((o) => o.key)).toEqual(["s1/r1/a", "s1/r1/b"]);
      expect((await fx.store.list("s1")).map((o) => o.key)).toEqual(["s1/r1/a", "s1/r1/b", "s1/r2/c", "s10/x"]);
      expect(await fx.store.list("nothing/")).toEqual([]);
      const all = await fx.store.list("");
      expect(all.map((o) => o.key)).toEqual(["s1/r1/a", "s1/r1/b", "s1/r2/c", "s10/x", "s2/r1/a"]);
      expect(all[0]?.size).toBe("s1/r1/a".length);
    });

    it("deletes, and deleting an absent object is not an error", async () => {
      await fx.store.put("d/x", Buffer.from("x"));
      await fx.store.delete("d/x");
      expect(await fx.store.stat("d/x")).toBeUndefined();
      await expect(fx.store.delete("d/x")).resolves.toBeUndefined();
      expect(await fx.store.list("d/")).toEqual([]);
    });

    it("copies server-side", async () => {
      await fx.store.put("src/obj", Buffer.from("payload"));
      await fx.store.copy("src/obj", "clips/c1/obj");
      expect(await fx.store.get("clips/c1/obj")).toEqual(Buffer.from("payload"));
      expect(await fx.store.get("src/obj")).toEqual(Buffer.from("payload"));
    });

    it("reports absent objects with ObjectNotFoundError", async () => {
      await expect(fx.store.get("no/such")).rejects.toBeInstanceOf(ObjectNotFoundError);
      await expect(fx.store.getStream("no/such")).rejects.toBeInstanceOf(ObjectNotFoundError);
      await expect(fx.store.copy("no/such", "x/y")).rejects.toBeInstanceOf(ObjectNotFoundError);
      expect(await fx.store.stat("no/such")).toBeUndefined();
    });

    it("refuses keys that could escape the store", async () => {
      for (const bad of ["../x", "a/../../b", "/abs", "a//b", "", "a/.ifc-tmp/x", "sp ace"]) {
        await expect(fx.store.put(bad, Buffer.from("x"))).rejects.toBeInstanceOf(InvalidObjectKeyError);
      }
    });

    it("never lists an object before its write completed", async () => {
      // Writers and listers race: every listed object must be readable whole, at its final size.
      const big = Buffer.alloc(2 * 1024 * 1024, 7);
      const writes = Array.from({ length: 8 }, (_, i) => fx.store.put(`race/obj-${i}`, big));
      let done = false;
      const all = Promise.all(writes).then(() => {
        done = true;
      });
      while (!done) {
        for (const o of await fx.store.list("race/")) {
          expect(o.size).toBe(big.length);
        }
        await new Promise((r) => setImmediate(r));
      }
      await all;
      expect((await fx.store.list("race/")).length).toBe(8);
    });

    it("is writable (readiness probe)", async () => {
      await expect(fx.store.checkWritable()).resolves.toBeUndefined();
      expect(await fx.store.list("")).toEqual([]);
    });
  });
}
