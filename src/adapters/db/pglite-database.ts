import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import path from "node:path";
import type { PGlite } from "@electric-sql/pglite";
import type { Database, Queryable, QueryResult } from "../../ports/database.js";
import { mapSqlError } from "./sql-errors.js";

export interface PgliteDatabaseOptions {
  /** Directory of the database files; undefined = in memory (tests). */
  dataDir?: string;
  /**
   * A dumped data directory (PGlite's dumpDataDir) to start from instead of running initdb, used
   * only when `dataDir` holds no database yet: initdb in WASM takes seconds, loading a dump one.
   */
  initialData?: Blob;
}

/**
 * The embedded default: Postgres compiled to WASM, in this process. One connection, so PGlite
 * serialises queries itself; a transaction holds it for its whole callback.
 */
export class PgliteDatabase implements Database {
  readonly engine = "pglite" as const;

  private constructor(private readonly db: PGlite) {}

  static async open(opts: PgliteDatabaseOptions = {}): Promise<PgliteDatabase> {
    if (opts.dataDir) await mkdir(opts.dataDir, { recursive: true });
    // Loaded on demand: the WASM module costs memory a server without pipelines never needs.
    const { PGlite } = await import("@electric-sql/pglite");
    const fresh = !opts.dataDir || !existsSync(path.join(opts.dataDir, "PG_VERSION"));
    const db = await PGlite.create({
      ...(opts.dataDir ? { dataDir: opts.dataDir } : {}),
      ...(fresh && opts.initialData ? { loadDataDir: opts.initialData } : {}),
    });
    return new PgliteDatabase(db);
  }

  async query<Row = Record<string, unknown>>(sql: string, params: readonly unknown[] = []): Promise<QueryResult<Row>> {
    return run<Row>(this.db, sql, params);
  }

  async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    return this.db.transaction(async (t) => fn({ query: <Row>(sql: string, params: readonly unknown[] = []) => run<Row>(t, sql, params) }));
  }

  async ping(): Promise<void> {
    await this.query("SELECT 1");
  }

  /** The data directory as a tarball, to seed other instances (PgliteDatabaseOptions.initialData). */
  async dump(): Promise<Blob> {
    return this.db.dumpDataDir("none");
  }

  async close(): Promise<void> {
    if (!this.db.closed) await this.db.close();
  }
}

interface PgliteQueryable {
  query<R>(sql: string, params?: unknown[]): Promise<{ rows: R[]; affectedRows?: number }>;
}

async function run<Row>(q: PgliteQueryable, sql: string, params: readonly unknown[]): Promise<QueryResult<Row>> {
  try {
    const r = await q.query<Row>(sql, [...params]);
    // affectedRows counts INSERT/UPDATE/DELETE; a SELECT reports 0 there, so count its rows.
    return { rows: r.rows, rowCount: r.affectedRows || r.rows.length };
  } catch (err) {
    throw mapSqlError(err);
  }
}
