import { afterEach, describe, expect, it } from "vitest";
import { migrate } from "../../../src/adapters/db/migrate.js";
import { ALL_MIGRATIONS } from "../../../src/adapters/db/migrations/index.js";
import { Conflict, NotFound } from "../../../src/core/errors.js";
import type { Database } from "../../../src/ports/database.js";
import { PipelineStore } from "../../../src/pipelines/pipeline-store.js";
import { openTestPglite } from "../../support/pglite.js";

interface Def {
  pipeline_id: string;
  name: string;
  version: string;
  execution_mode: string;
  description?: string;
  steps: { step_id: string; parameters?: Record<string, unknown> }[];
}

const def = (id: string, version = "1.0.0", over: Partial<Def> = {}): Def => ({ pipeline_id: id, name: `N ${id}`, version, execution_mode: "direct_grpc", steps: [{ step_id: "s", parameters: { b: 1, a: 2 } }], ...over });

describe("PipelineStore", () => {
  let db: Database | undefined;
  afterEach(async () => {
    await db?.close();
    db = undefined;
  });
  const store = async (): Promise<PipelineStore<Def>> => {
    db = await openTestPglite();
    await migrate(db, ALL_MIGRATIONS);
    return new PipelineStore<Def>(db);
  };

  it("keeps every version; the current one is the last saved, and old ones stay readable", async () => {
    const s = await store();
    await s.create(def("p"), "alice");
    await expect(s.create(def("p"), "alice")).rejects.toBeInstanceOf(Conflict);
    const updated = await s.update(def("p", "1.1.0", { name: "renamed" }), "bob");
    expect(updated.revision).toBe(2);
    expect((await s.get("p")).version).toBe("1.1.0");
    expect((await s.get("p", "1.0.0")).name).toBe("N p");
    expect((await s.versions("p")).map((v) => [v.version, v.created_by])).toEqual([["1.0.0", "alice"], ["1.1.0", "bob"]]);
    await expect(s.get("p", "9")).rejects.toBeInstanceOf(NotFound);
  });

  it("treats the same definition under a saved version as a retried PUT, and another one as a conflict", async () => {
    const s = await store();
    await s.create(def("p"), null);
    // JSONB reorders keys: the same definition with keys in another order is still the same.
    const again = await s.update({ ...def("p"), steps: [{ parameters: { a: 2, b: 1 }, step_id: "s" }] }, null);
    expect(again.revision).toBe(1);
    const err = await s.update(def("p", "1.0.0", { name: "changed" }), null).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(Conflict);
    expect((err as Conflict).slug).toBe("pipeline-version-exists");
    await expect(s.update(def("nope"), null)).rejects.toBeInstanceOf(NotFound);
  });

  it("hides a deleted pipeline but keeps its versions; re-creating it needs a new version", async () => {
    const s = await store();
    await s.create(def("p"), null);
    await s.delete("p");
    await expect(s.get("p")).rejects.toBeInstanceOf(NotFound);
    expect((await s.get("p", "1.0.0")).pipeline_id).toBe("p");
    await expect(s.delete("p")).rejects.toBeInstanceOf(NotFound);
    await expect(s.create(def("p"), null)).rejects.toBeInstanceOf(Conflict);
    expect((await s.create(def("p", "2.0.0"), null)).definition.version).toBe("2.0.0");
    expect((await s.list({ limit: 10 })).total).toBe(1);
  });

  it("pages by id with an opaque cursor and a total", async () => {
    const s = await store();
    for (const id of ["c", "a", "e", "b", "d"]) await s.create(def(id), null);
    const p1 = await s.list({ limit: 2 });
    expect(p1.items.map((i) => i.definition.pipeline_id)).toEqual(["a", "b"]);
    expect(p1.total).toBe(5);
    const p2 = await s.list({ limit: 2, cursor: p1.next_cursor! });
    expect(p2.items.map((i) => i.definition.pipeline_id)).toEqual(["c", "d"]);
    const p3 = await s.list({ limit: 2, cursor: p2.next_cursor! });
    expect(p3.items.map((i) => i.definition.pipeline_id)).toEqual(["e"]);
    expect(p3.next_cursor).toBeNull();
  });
});
