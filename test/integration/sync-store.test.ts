import { randomUUID } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PgDatabase } from "../../src/adapters/db/pg-database.js";
import { migrate } from "../../src/adapters/db/migrate.js";
import { ALL_MIGRATIONS } from "../../src/adapters/db/migrations/index.js";
import { InvalidInput, NotFound } from "../../src/core/errors.js";
import { DeviceStore } from "../../src/inspection/sync/device-store.js";
import { SyncStore, type DeviceChange } from "../../src/inspection/sync/sync-store.js";
import type { Database } from "../../src/ports/database.js";
import { openTestPglite } from "../support/pglite.js";
import { sharedPostgresDatabase } from "../support/postgres-server.js";

const change = (entity: string, id: string, data: Record<string, unknown>, base: number | null = null, op: "upsert" | "delete" = "upsert"): DeviceChange =>
  ({ change_id: randomUUID(), entity, op, id, base_revision: base, data, changed_at: new Date().toISOString() });

function syncStoreSuite(engine: string, open: () => Promise<{ db: Database; cleanup(): Promise<void> }>): void {
  describe(`SyncStore on ${engine}`, () => {
    let db: Database;
    let cleanup: () => Promise<void>;
    let sync: SyncStore;

    beforeAll(async () => {
      ({ db, cleanup } = await open());
      await migrate(db, ALL_MIGRATIONS);
      sync = new SyncStore(async () => db);
      const r = await sync.apply("user:admin", [
        change("inspection_target", "T1", { name: "Housing" }),
        change("inspection_item", "I1", { target_id: "T1", name: "a" }),
        change("inspection_item", "I2", { target_id: "T1", name: "b" }),
        ...["P1", "P2", "P3"].map((id) => change("product", id, { work_order_id: `WO-${id}` })),
      ]);
      expect(r.applied).toHaveLength(6);
      await db.query("INSERT INTO product_specs (product_id, key, value) VALUES ('P2', 'colour', 'red')");
    });
    afterAll(async () => cleanup?.());

    it("downloads products in pages with their specs, the rest whole on the first page", async () => {
      const first = await sync.download({ pageSize: 2 });
      expect(first.masters!.inspection_item!.map((r) => r.item_id)).toEqual(["I1", "I2"]);
      expect(first.products.map((p) => p.product_id)).toEqual(["P1", "P2"]);
      expect(first.products[1]!.specs).toEqual({ colour: "red" });
      expect(first.total_products).toBe(3);
      const second = await sync.download({ pageSize: 2, cursor: first.next_cursor! });
      expect(second.masters).toBeUndefined();
      expect(second.products.map((p) => p.product_id)).toEqual(["P3"]);
      expect(second.next_cursor).toBeNull();
      await expect(sync.download({ pageSize: 2, cursor: "e30" })).rejects.toBeInstanceOf(InvalidInput);
    });

    it("lists changes after a time by (updated_at, entity, id), tombstones included, across pages", async () => {
      const since = new Date(Date.now() - 60_000).toISOString();
      const del = await sync.apply("user:admin", [change("product", "P3", {}, 1, "delete")]);
      expect(del.applied).toHaveLength(1);
      const seen: { entity: string; id: string; deleted: boolean; updated_at: string }[] = [];
      let page = await sync.changes({ since, limit: 2 });
      for (;;) {
        expect(page.items.length).toBeLessThanOrEqual(2);
        seen.push(...page.items);
        if (!page.next_cursor) break;
        page = await sync.changes({ cursor: page.next_cursor, limit: 2 });
      }
      expect(seen.map((c) => `${c.entity}/${c.id}`).sort()).toEqual(["inspection_item/I1", "inspection_item/I2", "inspection_target/T1", "product/P1", "product/P2", "product/P3"]);
      expect(seen.find((c) => c.id === "P3")).toMatchObject({ deleted: true, revision: 2 });
      expect(seen.find((c) => c.id === "P3")).not.toHaveProperty("data");
      // Pages follow updated_at (the order's first key; ties go by entity, id within a microsecond).
      const times = seen.map((c) => c.updated_at);
      expect(times).toEqual([...times].sort());
      // Nothing after now (server_time steps back a little so nothing committed late is missed).
      const later = await sync.changes({ since: new Date(Date.now() + 60_000).toISOString(), limit: 10 });
      expect(later.items).toEqual([]);
      await expect(sync.changes({ since: "yesterday", limit: 10 })).rejects.toBeInstanceOf(InvalidInput);
    });

    it("pages rows sharing one updated_at (a bulk import) without a gap or a repeat", async () => {
      const since = new Date(Date.now() - 1000).toISOString();
      await db.query("INSERT INTO products (product_id, work_order_id) SELECT 'B' || g, 'WO-B' || g FROM generate_series(1, 7) g");
      const ids: string[] = [];
      let page = await sync.changes({ since, limit: 2 });
      for (;;) {
        ids.push(...page.items.filter((c) => c.id.startsWith("B")).map((c) => c.id));
        if (!page.next_cursor) break;
        page = await sync.changes({ cursor: page.next_cursor, limit: 2 });
      }
      expect(ids).toEqual(["B1", "B2", "B3", "B4", "B5", "B6", "B7"]);
      await db.query("DELETE FROM products WHERE product_id LIKE 'B%'");
    });

    it("rejects, records and reports a change the database refuses; a retry answers the same", async () => {
      const orphan = change("inspection_item", "I9", { target_id: "NOPE", name: "x" });
      const r = await sync.apply("device:d1", [orphan]);
      expect(r.rejected).toEqual([{ change_id: orphan.change_id, reason: expect.stringMatching(/target|foreign/i) }]);
      expect(r.results[0]).toMatchObject({ outcome: "rejected", duplicate: false });
      const again = await sync.apply("device:d1", [orphan]);
      expect(again.results[0]).toMatchObject({ outcome: "rejected", duplicate: true, reason: r.rejected[0]!.reason });
      expect((await db.query("SELECT 1 FROM inspection_items WHERE item_id = 'I9'")).rowCount).toBe(0);
    });

    it("keeps sessions append-only per device and results never rewritten", async () => {
      const s = change("inspection_session", "S1", { target_id: "T1", status: "in_progress" });
      expect((await sync.apply("device:d1", [s])).applied).toEqual([s.change_id]);
      const done = change("inspection_session", "S1", { status: "completed", overall_result: "OK" });
      expect((await sync.apply("device:d1", [done])).results[0]).toMatchObject({ outcome: "applied", revision: 2 });
      const hijack = change("inspection_session", "S1", { status: "aborted" });
      expect((await sync.apply("device:d2", [hijack])).results[0]!.outcome).toBe("rejected");
      const res = change("inspection_result", "R1", { session_id: "S1", source: "human", result: "OK" });
      expect((await sync.apply("device:d1", [res])).applied).toHaveLength(1);
      const rewrite = change("inspection_result", "R1", { session_id: "S1", source: "human", result: "NG" });
      expect((await sync.apply("device:d1", [rewrite])).results[0]!.outcome).toBe("rejected");
      const row = await db.query<{ status: string; device_id: string }>("SELECT status, device_id FROM inspection_sessions WHERE session_id = 'S1'");
      expect(row.rows[0]).toEqual({ status: "completed", device_id: "device:d1" });
      expect((await db.query<{ result: string }>("SELECT result FROM inspection_results WHERE result_id = 'R1'")).rows[0]!.result).toBe("OK");
      await expect(sync.apply("device:d1", [change("inspection_result", "R1", {}, null, "delete")])).rejects.toBeInstanceOf(InvalidInput);
    });

    it("two devices racing on one row at one base: exactly one applies, the other is kept as a conflict", async () => {
      const a = change("inspection_item", "I2", { name: "from a" }, 1);
      const b = change("inspection_item", "I2", { name: "from b" }, 1);
      const [ra, rb] = await Promise.all([sync.apply("device:a", [a]), sync.apply("device:b", [b])]);
      const outcomes = [ra.results[0]!.outcome, rb.results[0]!.outcome].sort();
      expect(outcomes).toEqual(["applied", "conflict"]);
      const winner = ra.results[0]!.outcome === "applied" ? "from a" : "from b";
      const loser = ra.results[0]!.outcome === "applied" ? rb : ra;
      expect(loser.conflicts[0]).toMatchObject({ server_revision: 2, server_data: expect.objectContaining({ name: winner }) });
      // The same change racing with its own retry is applied once.
      const c = change("inspection_item", "I2", { name: "again" }, 2);
      const [r1, r2] = await Promise.all([sync.apply("device:c", [c]), sync.apply("device:c", [c])]);
      expect([r1.results[0]!.outcome, r2.results[0]!.outcome]).toEqual(["applied", "applied"]);
      expect([r1.results[0]!.duplicate, r2.results[0]!.duplicate].sort()).toEqual([false, true]);
      expect((await db.query<{ revision: number }>("SELECT revision FROM inspection_items WHERE item_id = 'I2'")).rows[0]!.revision).toBe(3);
    });

    it("resolves: take_device applies a kept delete over the current revision; unknown conflicts are NotFound", async () => {
      const stale = change("inspection_item", "I1", {}, 0 + 1, "delete");
      await sync.apply("user:admin", [change("inspection_item", "I1", { name: "moved on" }, 1)]);
      const r = await sync.apply("device:a", [stale]);
      const conflictId = r.conflicts[0]!.conflict_id;
      const listed = await sync.listConflicts({ status: "open", limit: 500 });
      expect(listed.items.map((c) => c.conflict_id)).toContain(conflictId);
      const out = await sync.resolve(conflictId, "take_device", "admin");
      expect(out.revision).toBe(3);
      expect(out.server_data!.deleted_at).not.toBeNull();
      await expect(sync.resolve(randomUUID(), "keep_server", "admin")).rejects.toBeInstanceOf(NotFound);
    });

    it("devices: login checks the secret and refuses revoked devices; config is optimistic", async () => {
      const devices = new DeviceStore(async () => db);
      const d = await devices.register({ name: "tab" }, "admin");
      await expect(devices.login(d.device_id, "ifcds_wrong")).rejects.toThrow("invalid device id or secret");
      await expect(devices.login(randomUUID(), d.secret)).rejects.toThrow("invalid device id or secret");
      expect((await devices.login(d.device_id, d.secret)).last_seen_at).not.toBeNull();
      expect((await devices.putConfig(d.device_id, { a: 1 }, 1)).config_revision).toBe(2);
      await expect(devices.putConfig(d.device_id, { a: 2 }, 1)).rejects.toMatchObject({ slug: "config-revision-mismatch" });
      await devices.revoke(d.device_id);
      await expect(devices.login(d.device_id, d.secret)).rejects.toThrow("revoked");
      expect(await devices.isActive(d.device_id)).toBe(false);
    });
  });
}

syncStoreSuite("PGlite", async () => {
  const db = await openTestPglite();
  return { db, cleanup: () => db.close() };
});

syncStoreSuite("PostgreSQL", async () => {
  const shared = await sharedPostgresDatabase();
  const db = new PgDatabase({ url: shared.url });
  return { db, cleanup: async () => { await db.close(); await shared.drop(); } };
});
