import { afterAll, beforeAll, beforeEach, describe, expect, it } from "vitest";
import { migrate } from "../../src/adapters/db/migrate.js";
import { ALL_MIGRATIONS } from "../../src/adapters/db/migrations/index.js";
import type { Database } from "../../src/ports/database.js";
import { InvalidCursor, ProductNotFound, RevisionConflict } from "../../src/products/product-errors.js";
import type { ProductInput } from "../../src/products/product-fields.js";
import { ProductStore, type ProductSearch } from "../../src/products/product-store.js";

/** What `p` rejected with; a fulfilled promise fails the test. */
export async function thrown(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error("expected a rejection");
}

export interface ProductStoreFixture {
  db: Database;
  cleanup(): Promise<void>;
}

const P = (id: string, over: Partial<ProductInput> = {}): ProductInput => ({
  product_id: id, work_order_id: `WO-${id}`, product_type: "TYPE-A", machine_number: "M1", production_date: "2026-01-10", status: "active", ...over,
});

/** What the product master does alike on every engine (PGlite, PostgreSQL). */
export function productStoreContract(name: string, make: () => Promise<ProductStoreFixture>): void {
  describe(`ProductStore contract: ${name}`, () => {
    let fx: ProductStoreFixture;
    let store: ProductStore;
    beforeAll(async () => {
      fx = await make();
      await migrate(fx.db, ALL_MIGRATIONS);
      store = new ProductStore(fx.db);
    });
    afterAll(async () => {
      await fx?.cleanup();
    });
    beforeEach(async () => {
      for (const t of ["inspection_results", "inspection_sessions", "inspection_targets", "product_specs", "products", "inspection_rules", "quality_standards"]) await fx.db.query(`DELETE FROM ${t}`);
    });

    it("upserts (revision + 1, specifications replaced), gets, gets many in order, soft-deletes", async () => {
      const a = await store.upsert(P("a", { instruction_id: "I1", monthly_sequence: 7, model: "X", specifications: { weight: "1.5kg", colour: "red" } }));
      expect(a.previous).toBeUndefined();
      expect(a.product).toMatchObject({ product_id: "a", work_order_id: "WO-a", instruction_id: "I1", production_date: "2026-01-10", monthly_sequence: 7, model: "X", version: null, status: "active", revision: 1, specifications: { colour: "red", weight: "1.5kg" } });
      expect(Date.parse(a.product.created_at)).not.toBeNaN();
      const again = await store.upsert(P("a", { specifications: { weight: "2kg" } }));
      expect(again.previous?.revision).toBe(1);
      expect(again.product).toMatchObject({ revision: 2, instruction_id: null, specifications: { weight: "2kg" } });
      expect(again.product.created_at).toBe(a.product.created_at);
      expect(Date.parse(again.product.updated_at)).toBeGreaterThanOrEqual(Date.parse(a.product.updated_at));
      // Without `specifications` the stored ones stay.
      expect((await store.upsert(P("a"))).product.specifications).toEqual({ weight: "2kg" });
      await store.upsert(P("b"));
      expect((await store.getMany(["b", "zz", "a", "b"])).map((p) => p.product_id)).toEqual(["b", "a", "b"]);
      const deleted = await store.delete("a");
      expect(deleted.revision).toBe(3);
      expect(await store.get("a")).toBeUndefined();
      expect(await thrown(store.delete("a"))).toBeInstanceOf(ProductNotFound);
      // An upsert brings a deleted id back.
      expect((await store.upsert(P("a"))).product.revision).toBe(5);
    });

    it("updates only the fields given; optimistic on revision (conflict names both revisions)", async () => {
      await store.upsert(P("u", { model: "M", specifications: { k: "v" } }));
      const w = await store.update("u", { machine_number: "M9", production_date: null }, 1);
      expect(w.previous?.machine_number).toBe("M1");
      expect(w.product).toMatchObject({ machine_number: "M9", production_date: null, model: "M", revision: 2, specifications: { k: "v" } });
      const err = await thrown(store.update("u", { model: "N" }, 1));
      expect(err).toBeInstanceOf(RevisionConflict);
      expect((err as RevisionConflict).details).toMatchObject({ expected_revision: 1, current_revision: 2 });
      expect((await store.get("u"))!.model).toBe("M");
      expect((await store.update("u", { model: "N" })).product.revision).toBe(3);
      expect(await thrown(store.delete("u", 2))).toBeInstanceOf(RevisionConflict);
      expect(await thrown(store.update("nope", { model: "N" }))).toBeInstanceOf(ProductNotFound);
    });

    it("finds by QR: work order plus whichever of instruction, machine and sequence the code carries; newest production date wins", async () => {
      await store.upsertMany([
        P("old", { work_order_id: "WO1", instruction_id: "I1", machine_number: "M1", monthly_sequence: 1, production_date: "2026-01-01" }),
        P("new", { work_order_id: "WO1", instruction_id: "I2", machine_number: "M1", monthly_sequence: 2, production_date: "2026-02-01" }),
        P("undated", { work_order_id: "WO1", instruction_id: "I3", machine_number: "M2", production_date: null }),
      ]);
      const id = async (f: Parameters<ProductStore["findByQr"]>[0]) => (await store.findByQr(f))?.product_id;
      expect(await id({ work_order_id: "WO1" })).toBe("new");
      expect(await id({ work_order_id: "WO1", instruction_id: "I1" })).toBe("old");
      expect(await id({ work_order_id: "WO1", machine_number: "M2" })).toBe("undated");
      expect(await id({ work_order_id: "WO1", monthly_sequence: 1 })).toBe("old");
      expect(await id({ work_order_id: "WO1", instruction_id: "I1", monthly_sequence: 2 })).toBeUndefined();
      // Type and date on the code are for people: not matched.
      expect(await id({ work_order_id: "WO1", instruction_id: "I1", product_type: "OTHER", production_date: "1999-01-01" })).toBe("old");
      expect(await id({ work_order_id: "WO2" })).toBeUndefined();
      await store.delete("new");
      expect(await id({ work_order_id: "WO1" })).toBe("old");
    });

    describe("search", () => {
      const all = async (q: Omit<ProductSearch, "limit" | "cursor">, limit: number) => {
        const ids: string[] = [];
        let cursor: string | undefined;
        let pages = 0;
        for (;;) {
          const page = await store.search({ ...q, limit, ...(cursor ? { cursor } : {}) });
          pages++;
          ids.push(...page.items.map((p) => p.product_id));
          if (!page.next_cursor) return { ids, pages, total: page.total };
          cursor = page.next_cursor;
        }
      };

      beforeEach(async () => {
        await store.upsertMany([
          P("p1", { work_order_id: "WO100", product_type: "A", machine_number: "M1", production_date: "2026-01-01" }),
          P("p2", { work_order_id: "WO101", product_type: "A", machine_number: "M2", production_date: "2026-01-02" }),
          P("p3", { work_order_id: "WO200", product_type: "B", machine_number: "M1", production_date: "2026-01-02" }),
          P("p4", { work_order_id: "W_O%1", product_type: "A", machine_number: "M1", production_date: "2026-01-03", status: "scrapped" }),
          P("p5", { work_order_id: "WO102", product_type: "A", machine_number: "M1", production_date: null }),
          P("p6", { work_order_id: "WO103", product_type: "A", machine_number: "M1", production_date: null }),
        ]);
      });

      it("filters by type, machine, date range (inclusive), work order prefix (literal), status; orders by date then id, undated last", async () => {
        expect((await all({}, 500)).ids).toEqual(["p1", "p2", "p3", "p4", "p5", "p6"]);
        expect((await all({ product_type: "A" }, 500)).ids).toEqual(["p1", "p2", "p4", "p5", "p6"]);
        expect((await all({ product_type: "A", machine_number: "M1" }, 500)).ids).toEqual(["p1", "p4", "p5", "p6"]);
        expect((await all({ from: "2026-01-02" }, 500)).ids).toEqual(["p2", "p3", "p4"]);
        expect((await all({ to: "2026-01-02" }, 500)).ids).toEqual(["p1", "p2", "p3"]);
        expect((await all({ from: "2026-01-02", to: "2026-01-02" }, 500)).ids).toEqual(["p2", "p3"]);
        expect((await all({ work_order_prefix: "WO1" }, 500)).ids).toEqual(["p1", "p2", "p5", "p6"]);
        // `_` and `%` are literal in a prefix, not wildcards.
        expect((await all({ work_order_prefix: "W_" }, 500)).ids).toEqual(["p4"]);
        expect((await all({ work_order_prefix: "W%" }, 500)).ids).toEqual([]);
        expect((await all({ status: "scrapped" }, 500)).ids).toEqual(["p4"]);
        expect((await all({ status: "active", product_type: "B" }, 500)).ids).toEqual(["p3"]);
      });

      it("pages: empty result, exactly one page, across dated and undated rows, last page has no cursor; total counts every match", async () => {
        const empty = await store.search({ product_type: "none", limit: 10 });
        expect(empty).toEqual({ items: [], next_cursor: null, total: 0 });
        const one = await store.search({ product_type: "A", limit: 5 });
        expect(one.items).toHaveLength(5);
        expect(one.next_cursor).toBeNull();
        expect(one.total).toBe(5);
        for (const limit of [1, 2, 3, 4]) {
          const got = await all({ product_type: "A" }, limit);
          expect(got.ids).toEqual(["p1", "p2", "p4", "p5", "p6"]);
          expect(got.pages).toBe(Math.ceil(5 / limit));
          expect(got.total).toBe(5);
        }
        const first = await store.search({ limit: 4 });
        expect(first.next_cursor).not.toBeNull();
        const last = await store.search({ limit: 4, cursor: first.next_cursor! });
        expect(last.items.map((p) => p.product_id)).toEqual(["p5", "p6"]);
        expect(last.next_cursor).toBeNull();
        expect(last.total).toBe(6);
      });

      it("refuses a cursor it did not hand out, and a limit outside 1–500", async () => {
        for (const bad of ["x", "!!", Buffer.from("[1,2]").toString("base64url"), Buffer.from('["2026-13-45","p1"]').toString("base64url"), Buffer.from('[null,""]').toString("base64url"), Buffer.from("{}").toString("base64url")]) {
          expect(await thrown(store.search({ limit: 10, cursor: bad })), bad).toBeInstanceOf(InvalidCursor);
        }
        for (const limit of [0, 501, 1.5]) expect((await thrown(store.search({ limit }))) as Error).toMatchObject({ slug: "invalid-limit" });
        expect((await store.search({ limit: 500 })).items).toHaveLength(6);
      });

      it("carries each hit's aggregates: judgements counted, a person's verification overriding the AI's, OK share 0–100, null without any", async () => {
        await fx.db.query("INSERT INTO inspection_targets (target_id, name) VALUES ('t', 'T')");
        await fx.db.query("INSERT INTO inspection_sessions (session_id, target_id, product_id) VALUES ('s1', 't', 'p1'), ('s2', 't', 'p1'), ('s3', 't', 'p2')");
        await fx.db.query(`INSERT INTO inspection_results (result_id, session_id, source, result, verifies_result_id) VALUES
          ('r1', 's1', 'ai', 'OK', NULL), ('r2', 's1', 'ai', 'NG', NULL), ('r3', 's2', 'pipeline', 'OK', NULL), ('r4', 's2', 'ai', 'NG', NULL),
          ('h1', 's2', 'human', 'OK', 'r4'), ('r5', 's3', 'ai', 'NG', NULL)`);
        const page = await store.search({ limit: 3 });
        const by = Object.fromEntries(page.items.map((p) => [p.product_id, [p.inspection_count, p.quality_score]]));
        expect(by).toEqual({ p1: [4, 75], p2: [1, 0], p3: [0, null] });
      });
    });

    it("keeps inspection rules and quality standards per product type: a PUT makes the set, others soft-deleted", async () => {
      const r1 = await store.putRules("A", [{ category: "scratch", threshold: 0.5 }, { category: "dent", threshold: 0.7, enabled: false, parameters: { min_area: 20 } }]);
      expect(r1.map((r) => [r.category, r.threshold, r.enabled, r.parameters, r.revision])).toEqual([["dent", 0.7, false, { min_area: 20 }, 1], ["scratch", 0.5, true, {}, 1]]);
      const r2 = await store.putRules("A", [{ category: "scratch", threshold: 0.5 }, { category: "crack", threshold: 0.9 }]);
      expect(r2.map((r) => [r.category, r.revision])).toEqual([["crack", 1], ["scratch", 1]]);
      expect(await store.rules("B")).toEqual([]);
      const changed = await store.putRules("A", [{ category: "scratch", threshold: 0.6 }]);
      expect(changed.map((r) => [r.category, r.threshold, r.revision, r.rule_id])).toEqual([["scratch", 0.6, 2, r1[1]!.rule_id]]);
      let n = 0;
      const s = await store.putStandards("A", [{ name: "length", metric: "mm", min_value: 9.5, max_value: 10.5, unit: "mm" }], () => `std-${++n}`);
      expect(s).toMatchObject([{ standard_id: "std-1", product_type: "A", min_value: 9.5, max_value: 10.5, unit: "mm", parameters: {} }]);
      const s2 = await store.putStandards("A", [{ standard_id: "std-1", name: "length", metric: "mm", min_value: 9 }, { name: "weight", metric: "g" }], () => `std-${++n}`);
      expect(s2.map((x) => [x.standard_id, x.min_value, x.max_value, x.revision])).toEqual([["std-1", 9, null, 2], ["std-2", null, null, 1]]);
      expect((await thrown(store.putStandards("B", [{ standard_id: "std-1", name: "x", metric: "y" }], () => "z"))) as Error).toMatchObject({ slug: "standard-of-another-type" });
      expect(await store.putStandards("A", [], () => "z")).toEqual([]);
    });
  });
}
