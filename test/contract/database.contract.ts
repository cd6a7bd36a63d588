import { afterEach, describe, expect, it } from "vitest";
import { migrate, type Migration } from "../../src/adapters/db/migrate.js";
import { ALL_MIGRATIONS } from "../../src/adapters/db/migrations/index.js";
import { UniqueViolationError, type Database } from "../../src/ports/database.js";

export interface DatabaseFixture {
  db: Database;
  /** A second handle on the same database (another node); undefined when the engine has one handle only. */
  peer?: Database;
  /** Closes the handles and opens new ones on the same data (a restart). */
  reopen(): Promise<Database>;
  cleanup(): Promise<void>;
}

/** The error `p` rejects with; a fulfilled promise fails the test. */
async function thrown(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error("expected a rejection");
}

const scratch: Migration = {
  version: 1_000_001,
  name: "contract scratch table",
  statements: [
    "CREATE TABLE contract_items (id TEXT PRIMARY KEY, n BIGINT NOT NULL, doc JSONB, at TIMESTAMPTZ NOT NULL DEFAULT now(), ok BOOLEAN NOT NULL DEFAULT true, score DOUBLE PRECISION)",
    "CREATE UNIQUE INDEX contract_items_n_key ON contract_items (n)",
  ],
};

/** What every Database (PGlite, PostgreSQL) does alike: the SQL the domain relies on, typed errors, migrations. */
export function databaseContract(name: string, make: () => Promise<DatabaseFixture>): void {
  describe(`Database contract: ${name}`, () => {
    const open: DatabaseFixture[] = [];
    const fixture = async (): Promise<DatabaseFixture> => {
      const fx = await make();
      open.push(fx);
      await migrate(fx.db, [...ALL_MIGRATIONS, scratch]);
      return fx;
    };
    afterEach(async () => {
      for (const fx of open.splice(0)) await fx.cleanup();
    });

    it("round-trips parameters and types: BIGINT and DOUBLE as numbers, JSONB as objects, TIMESTAMPTZ as Dates, BOOLEAN", async () => {
      const { db } = await fixture();
      const doc = { steps: [{ step_id: "resize", depends_on: [] }], nested: { k: "v", n: 1.5 }, text: "日本語" };
      const ins = await db.query("INSERT INTO contract_items (id, n, doc, score) VALUES ($1, $2, $3, $4)", ["a", 9_007_199_254_740_000, JSON.stringify(doc), 0.25]);
      expect(ins.rowCount).toBe(1);
      const { rows } = await db.query<{ id: string; n: number; doc: unknown; at: Date; ok: boolean; score: number }>("SELECT * FROM contract_items WHERE id = $1", ["a"]);
      expect(rows).toHaveLength(1);
      expect(rows[0]!.n).toBe(9_007_199_254_740_000);
      expect(rows[0]!.doc).toEqual(doc);
      expect(rows[0]!.at).toBeInstanceOf(Date);
      expect(Math.abs(rows[0]!.at.getTime() - Date.now())).toBeLessThan(60_000);
      expect(rows[0]!.ok).toBe(true);
      expect(rows[0]!.score).toBe(0.25);
      const count = await db.query<{ c: number }>("SELECT count(*) AS c FROM contract_items");
      expect(count.rows[0]!.c).toBe(1);
    });

    it("counts the rows an UPDATE and a DELETE touched, and returns RETURNING rows", async () => {
      const { db } = await fixture();
      for (let i = 0; i < 5; i++) await db.query("INSERT INTO contract_items (id, n) VALUES ($1, $2)", [`r${i}`, i]);
      expect((await db.query("UPDATE contract_items SET ok = false WHERE n < $1", [3])).rowCount).toBe(3);
      const del = await db.query<{ id: string }>("DELETE FROM contract_items WHERE ok = false RETURNING id", []);
      expect(del.rowCount).toBe(3);
      expect(del.rows.map((r) => r.id).sort()).toEqual(["r0", "r1", "r2"]);
      expect((await db.query("UPDATE contract_items SET ok = true WHERE id = 'none'")).rowCount).toBe(0);
    });

    it("commits a transaction that resolves and rolls back one that throws, rethrowing its error", async () => {
      const { db } = await fixture();
      const got = await db.transaction(async (tx) => {
        await tx.query("INSERT INTO contract_items (id, n) VALUES ('t1', 1)");
        await tx.query("INSERT INTO contract_items (id, n) VALUES ('t2', 2)");
        return "done";
      });
      expect(got).toBe("done");
      const boom = new Error("boom");
      const err = await thrown(
        db.transaction(async (tx) => {
          await tx.query("INSERT INTO contract_items (id, n) VALUES ('t3', 3)");
          throw boom;
        }),
      );
      expect(err).toBe(boom);
      const ids = (await db.query<{ id: string }>("SELECT id FROM contract_items ORDER BY id")).rows.map((r) => r.id);
      expect(ids).toEqual(["t1", "t2"]);
    });

    it("reports a unique violation as UniqueViolationError naming the constraint, inside a transaction too", async () => {
      const { db } = await fixture();
      await db.query("INSERT INTO contract_items (id, n) VALUES ('u1', 1)");
      const e1 = await thrown(db.query("INSERT INTO contract_items (id, n) VALUES ('u1', 2)"));
      expect(e1).toBeInstanceOf(UniqueViolationError);
      expect((e1 as UniqueViolationError).constraint).toBe("contract_items_pkey");
      const e2 = await thrown(db.transaction((tx) => tx.query("INSERT INTO contract_items (id, n) VALUES ('u2', 1)")));
      expect(e2).toBeInstanceOf(UniqueViolationError);
      expect((e2 as UniqueViolationError).constraint).toBe("contract_items_n_key");
      expect((await db.query("SELECT id FROM contract_items")).rowCount).toBe(1);
    });

    it("applies each migration once: a second run applies nothing, and the pipeline tables exist", async () => {
      const fx = await fixture();
      expect(await migrate(fx.db, [...ALL_MIGRATIONS, scratch])).toEqual([]);
      const versions = (await fx.db.query<{ version: number }>("SELECT version FROM schema_migrations ORDER BY version")).rows.map((r) => r.version);
      expect(versions).toEqual([...ALL_MIGRATIONS.map((m) => m.version), scratch.version]);
      for (const table of ["pipelines", "pipeline_versions", "files", "executions", "execution_steps"]) {
        const r = await fx.db.query("SELECT 1 FROM information_schema.tables WHERE table_name = $1", [table]);
        expect(r.rowCount, table).toBe(1);
      }
      await expect(migrate(fx.db, [scratch, scratch])).rejects.toThrow(/duplicate migration version/);
    });

    it("rolls a failing migration back whole and records nothing for it", async () => {
      const { db } = await fixture();
      const bad: Migration = { version: 1_000_002, name: "bad", statements: ["CREATE TABLE half_done (id INT)", "SELECT * FROM no_such_table"] };
      await expect(migrate(db, [bad])).rejects.toThrow(/no_such_table/);
      expect((await db.query("SELECT 1 FROM information_schema.tables WHERE table_name = 'half_done'")).rowCount).toBe(0);
      expect((await db.query("SELECT 1 FROM schema_migrations WHERE version = $1", [bad.version])).rowCount).toBe(0);
    });

    it("serialises concurrent transactions on one row: no update is lost", async () => {
      const fx = await fixture();
      await fx.db.query("INSERT INTO contract_items (id, n) VALUES ('c', 0)");
      const handles = [fx.db, fx.peer ?? fx.db];
      await Promise.all(
        Array.from({ length: 20 }, (_, i) =>
          handles[i % 2]!.transaction(async (tx) => {
            const { rows } = await tx.query<{ n: number }>("SELECT n FROM contract_items WHERE id = 'c' FOR UPDATE");
            await tx.query("UPDATE contract_items SET n = $1 WHERE id = 'c'", [rows[0]!.n + 1]);
          }),
        ),
      );
      expect((await fx.db.query<{ n: number }>("SELECT n FROM contract_items WHERE id = 'c'")).rows[0]!.n).toBe(20);
    });

    it("keeps committed data across a restart", async () => {
      const fx = await fixture();
      await fx.db.query("INSERT INTO contract_items (id, n, doc) VALUES ('p', 7, $1)", [JSON.stringify({ kept: true })]);
      const again = await fx.reopen();
      expect(await migrate(again, [...ALL_MIGRATIONS, scratch])).toEqual([]);
      const { rows } = await again.query<{ n: number; doc: unknown }>("SELECT n, doc FROM contract_items WHERE id = 'p'");
      expect(rows).toEqual([{ n: 7, doc: { kept: true } }]);
      await again.ping();
    });
  });
}
