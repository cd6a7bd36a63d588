import { mkdtemp, readdir, rm, writeFile, mkdir } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { FsObjectStore } from "../../../src/adapters/storage/fs-object-store.js";
import { objectStoreContract } from "../../contract/object-store-contract.js";

objectStoreContract("fs", async () => {
  const dir = await mkdtemp(path.join(tmpdir(), "ifc-store-"));
  const store = new FsObjectStore(dir);
  await store.init();
  return { store, cleanup: () => rm(dir, { recursive: true, force: true }) };
});

describe("FsObjectStore specifics", () => {
  it("removes crash left-overs of interrupted writes on init and never lists them", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "ifc-store-"));
    await mkdir(path.join(dir, ".ifc-tmp"), { recursive: true });
    await writeFile(path.join(dir, ".ifc-tmp", "abc.part"), "half");
    const store = new FsObjectStore(dir);
    expect(await store.list("")).toEqual([]);
    await store.init();
    expect(await readdir(path.join(dir, ".ifc-tmp"))).toEqual([]);
    await rm(dir, { recursive: true, force: true });
  });

  it("prunes directories emptied by deletes", async () => {
    const dir = await mkdtemp(path.join(tmpdir(), "ifc-store-"));
    const store = new FsObjectStore(dir);
    await store.init();
    await store.put("cam/rec/a", Buffer.from("1"));
    await store.delete("cam/rec/a");
    expect((await readdir(dir)).filter((n) => !n.startsWith("."))).toEqual([]);
    await rm(dir, { recursive: true, force: true });
  });
});
