import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrate } from "../../src/adapters/db/migrate.js";
import { ALL_MIGRATIONS } from "../../src/adapters/db/migrations/index.js";
import { MasterStore } from "../../src/inspection/master-store.js";
import { SessionStore } from "../../src/inspection/session-store.js";
import { InspectionStatistics, statisticsRange } from "../../src/inspection/statistics.js";
import type { Database } from "../../src/ports/database.js";

export interface InspectionStoresFixture {
  db: Database;
  cleanup(): Promise<void>;
}

const DAY = 86_400_000;

/** The error `p` rejects with; a fulfilled promise fails the test. */
async function thrown(p: Promise<unknown>): Promise<Error> {
  try {
    await p;
  } catch (err) {
    return err as Error;
  }
  throw new Error("expected a rejection");
}

/** The inspection stores over one engine: the same suite for PGlite and PostgreSQL. */
export function inspectionStoresContract(engine: string, open: () => Promise<InspectionStoresFixture>): void {
  describe(`inspection stores on ${engine}`, () => {
    let fx: InspectionStoresFixture;
    let master: MasterStore;
    let sessions: SessionStore;
    let stats: InspectionStatistics;
    beforeAll(async () => {
      fx = await open();
      await migrate(fx.db, ALL_MIGRATIONS);
      master = new MasterStore(fx.db);
      sessions = new SessionStore(fx.db);
      stats = new InspectionStatistics(fx.db);
    }, 60_000);
    afterAll(async () => {
      await fx?.cleanup();
    });

    it("targets and items: revision + 1 on every write, soft delete, paged lists with opaque cursors", async () => {
      for (const name of ["Cover", "Base", "Arm", "Door", "Engine"]) await master.createTarget({ target_id: `t-${name}`, name });
      const t = await master.updateTarget("t-Arm", { name: "Arm", product_type: "TX-1", metadata: { line: 3 } });
      expect(t).toMatchObject({ revision: 2, product_type: "TX-1", metadata: { line: 3 } });
      expect((await thrown(master.createTarget({ target_id: "t-Arm", name: "again" }))).name).toBe("Conflict");

      const p1 = await master.listTargets({ limit: 2 });
      expect(p1.items.map((x) => x.name)).toEqual(["Arm", "Base"]);
      expect(p1.total).toBe(5);
      const p2 = await master.listTargets({ limit: 2, cursor: p1.next_cursor! });
      const p3 = await master.listTargets({ limit: 2, cursor: p2.next_cursor! });
      expect([...p2.items, ...p3.items].map((x) => x.name)).toEqual(["Cover", "Door", "Engine"]);
      expect(p3.next_cursor).toBeNull();
      // Exactly a page: no next cursor.
      expect((await master.listTargets({ limit: 5 })).next_cursor).toBeNull();
      expect((await thrown(master.listTargets({ cursor: "not-ours" }))).name).toBe("InvalidInput");
      expect((await thrown(master.listTargets({ limit: 501 }))).name).toBe("InvalidInput");

      for (let i = 0; i < 3; i++) await master.createItem("t-Arm", { item_id: `i-${i}`, name: `Item ${i}`, order_index: 3 - i });
      const items = await master.listItems("t-Arm", { limit: 2 });
      expect(items.items.map((x) => x.item_id)).toEqual(["i-2", "i-1"]);
      expect((await master.listItems("t-Arm", { limit: 2, cursor: items.next_cursor! })).items.map((x) => x.item_id)).toEqual(["i-0"]);
      const bound = await master.setItemPipeline("i-0", "p1", "1.0.0");
      expect(bound).toMatchObject({ pipeline_id: "p1", pipeline_version: "1.0.0", revision: 2 });

      await master.deleteTarget("t-Arm");
      expect((await thrown(master.getTarget("t-Arm"))).name).toBe("NotFound");
      expect((await thrown(master.getItem("i-0"))).name).toBe("NotFound");
      // The rows stay, deleted and a revision later, for devices to sync on.
      const row = await fx.db.query<{ revision: number; deleted: boolean }>("SELECT revision, deleted_at IS NOT NULL AS deleted FROM inspection_items WHERE item_id = 'i-0'");
      expect(row.rows[0]).toEqual({ revision: 3, deleted: true });
      expect((await master.listTargets({})).total).toBe(4);
    });

    it("sessions keep a client's id; completion takes each item's final result (a person's over the AI's); twice is a conflict", async () => {
      await master.createTarget({ target_id: "t-s", name: "S" });
      const id = "7c1e1c52-0f7e-4a43-9d7e-1a1b2c3d4e5f";
      const s = await sessions.create({ session_id: id, target_id: "t-s", inspector: "otto" });
      expect(s).toMatchObject({ session_id: id, status: "in_progress", overall_result: null });
      expect((await thrown(sessions.create({ session_id: id, target_id: "t-s" }))).name).toBe("Conflict");
      expect((await thrown(sessions.create({ target_id: "nowhere" }))).name).toBe("NotFound");

      const ai = await sessions.addResult({ session_id: id, item_id: "a", source: "ai", result: "NG", defect_types: ["scratch"], detections: [{ class_name: "scratch", confidence: 0.9, bbox: { x: 1, y: 2, width: 3, height: 4 } }] });
      await sessions.addResult({ session_id: id, item_id: "a", source: "human", result: "OK", verifies_result_id: ai.result_id });
      // A later AI run does not override the person.
      await sessions.addResult({ session_id: id, item_id: "a", source: "ai", result: "NG" });
      await sessions.addResult({ session_id: id, item_id: "b", source: "ai", result: "OK" });
      const finals = await sessions.finalResults(id);
      expect(finals.map((f) => [f.item_id, f.source, f.result])).toEqual([["a", "human", "OK"], ["b", "ai", "OK"]]);
      expect((await sessions.getResult(ai.result_id)).detections[0]!.bbox).toEqual({ x: 1, y: 2, width: 3, height: 4 });

      const u = await sessions.update(id, { notes: "checked", product_id: "P-1" });
      expect(u).toMatchObject({ notes: "checked", product_id: "P-1", revision: 2, metadata: {} });
      const done = await sessions.complete(id);
      expect(done).toMatchObject({ status: "completed", overall_result: "OK", revision: 3 });
      expect((await thrown(sessions.complete(id))).name).toBe("Conflict");
      expect((await thrown(sessions.open(id))).name).toBe("Conflict");

      const ng = await sessions.create({ target_id: "t-s" });
      await sessions.addResult({ session_id: ng.session_id, item_id: "a", source: "ai", result: "OK" });
      await sessions.addResult({ session_id: ng.session_id, item_id: "a", source: "human", result: "NG", defect_types: ["dent"] });
      expect((await sessions.complete(ng.session_id)).overall_result).toBe("NG");
    });

    it("statistics count final results by the day the inspection began, within the range's edges", async () => {
      await master.createTarget({ target_id: "t-st", name: "St" });
      const day0 = Date.parse("2025-07-27T00:00:00Z");
      const at = (ms: number) => new Date(ms).toISOString();
      const mk = async () => (await sessions.create({ target_id: "t-st", inspector: "i1" })).session_id;
      // Day 0: an AI NG a person overrides to OK the next day (still day 0's inspection), and an AI NG kept.
      const s1 = await mk();
      await sessions.addResult({ session_id: s1, item_id: "a", source: "ai", result: "NG", defect_types: ["scratch"], created_at: at(day0 + 1000) });
      await sessions.addResult({ session_id: s1, item_id: "a", source: "human", result: "OK", created_at: at(day0 + DAY + 1000) });
      const s2 = await mk();
      await sessions.addResult({ session_id: s2, item_id: "a", source: "ai", result: "NG", defect_types: ["scratch", "dark_spot"], created_at: at(day0 + 2000) });
      // Day 1, last millisecond: counted on day 1.
      await sessions.addResult({ session_id: s2, item_id: "b", source: "ai", result: "OK", created_at: at(day0 + 2 * DAY - 1) });
      // Day 2: outside a range ending on day 1.
      const s3 = await mk();
      await sessions.addResult({ session_id: s3, item_id: "a", source: "human", result: "NG", defect_types: ["dent"], created_at: at(day0 + 2 * DAY) });

      const got = await stats.statistics(statisticsRange("2025-07-27", "2025-07-28", 0));
      expect(got).toEqual({
        summary: { total_inspections: 3, ok_count: 2, ng_count: 1, ok_rate: 66.7 },
        daily_trends: [{ date: "2025-07-27", total: 2, ok: 1, ng: 1 }, { date: "2025-07-28", total: 1, ok: 1, ng: 0 }],
        defect_analysis: { dark_spot: 1, scratch: 1 },
      });
      // A range starting on day 1 does not count day 0's inspection, though its override was made on day 1.
      expect((await stats.statistics(statisticsRange("2025-07-28", "2025-07-29", 0))).summary).toEqual({ total_inspections: 2, ok_count: 1, ng_count: 1, ok_rate: 50 });
      const empty = await stats.statistics(statisticsRange("2024-01-01", "2024-01-31", 0));
      expect(empty).toEqual({ summary: { total_inspections: 0, ok_count: 0, ng_count: 0, ok_rate: null }, daily_trends: [], defect_analysis: {} });

      const hours = await stats.hourly({ from: day0, to: day0 + 3 * 3_600_000 });
      expect(hours.map((h) => [h.total, h.ng])).toEqual([[2, 1], [0, 0], [0, 0]]);
      const recent = await stats.recentFinals({ from: day0, to: day0 + DAY });
      expect(recent.map((r) => [r.ng, r.inspector])).toEqual([[false, "i1"], [true, "i1"]]);
    });
  });
}
