import type { Database } from "../../ports/database.js";

export interface Migration {
  /** Increasing, never reused: the order migrations run in. */
  version: number;
  name: string;
  /** One statement per entry: PGlite's extended protocol runs one statement per query. */
  statements: readonly string[];
}

/** Any constant: the advisory lock that keeps two nodes from migrating at once. */
const MIGRATION_LOCK = 0x1fc15;

/**
 * Applies the migrations not applied yet, each in its own transaction, under an advisory lock so
 * nodes starting together take turns. Returns the versions applied now.
 */
export async function migrate(db: Database, migrations: readonly Migration[]): Promise<number[]> {
  const sorted = [...migrations].sort((a, b) => a.version - b.version);
  for (let i = 1; i < sorted.length; i++) {
    if (sorted[i]!.version === sorted[i - 1]!.version) throw new Error(`duplicate migration version ${sorted[i]!.version}`);
  }
  await db.query(
    "CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL, applied_at TIMESTAMPTZ NOT NULL DEFAULT now())",
  );
  const applied: number[] = [];
  for (const m of sorted) {
    const done = await db.transaction(async (tx) => {
      await tx.query("SELECT pg_advisory_xact_lock($1)", [MIGRATION_LOCK]);
      const seen = await tx.query("SELECT 1 FROM schema_migrations WHERE version = $1", [m.version]);
      if (seen.rows.length > 0) return false;
      for (const statement of m.statements) await tx.query(statement);
      await tx.query("INSERT INTO schema_migrations (version, name) VALUES ($1, $2)", [m.version, m.name]);
      return true;
    });
    if (done) applied.push(m.version);
  }
  return applied;
}
