import pg from "pg";
import type { Database, Queryable, QueryResult } from "../../ports/database.js";
import { mapSqlError } from "./sql-errors.js";

export interface PgDatabaseOptions {
  /** postgres://user:password@host:port/database */
  url: string;
  /** Connections kept by the pool. */
  maxConnections?: number;
  /** How long a query waits for a free connection before failing (ms). */
  connectTimeoutMs?: number;
  /** Server-side limit for one statement (ms); 0 = none. */
  statementTimeoutMs?: number;
}

// BIGINT (int8) and NUMERIC come back as strings by default: our counters and sizes fit in a
// double, and domain code expects numbers, so parse them once here.
const types = {
  getTypeParser: ((oid: number, format?: string) => {
    if (oid === 20 || oid === 1700) return (v: string) => Number(v);
    return pg.types.getTypeParser(oid, format as "text");
  }) as typeof pg.types.getTypeParser,
};

/** A real PostgreSQL server through node-postgres' pool. */
export class PgDatabase implements Database {
  readonly engine = "postgres" as const;
  private readonly pool: pg.Pool;

  constructor(opts: PgDatabaseOptions) {
    this.pool = new pg.Pool({
      connectionString: opts.url,
      max: opts.maxConnections ?? 10,
      connectionTimeoutMillis: opts.connectTimeoutMs ?? 5000,
      ...(opts.statementTimeoutMs ? { statement_timeout: opts.statementTimeoutMs } : {}),
      types,
    });
    // An idle client's error (server restart) must not crash the process; the next query reconnects.
    this.pool.on("error", () => undefined);
  }

  async query<Row = Record<string, unknown>>(sql: string, params: readonly unknown[] = []): Promise<QueryResult<Row>> {
    try {
      const r = await this.pool.query(sql, params as unknown[]);
      return { rows: r.rows as Row[], rowCount: r.rowCount ?? r.rows.length };
    } catch (err) {
      throw mapSqlError(err);
    }
  }

  async transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T> {
    let client: pg.PoolClient;
    try {
      client = await this.pool.connect();
    } catch (err) {
      throw mapSqlError(err);
    }
    const tx: Queryable = {
      query: async <Row>(sql: string, params: readonly unknown[] = []) => {
        try {
          const r = await client.query(sql, params as unknown[]);
          return { rows: r.rows as Row[], rowCount: r.rowCount ?? r.rows.length };
        } catch (err) {
          throw mapSqlError(err);
        }
      },
    };
    let broken = false;
    try {
      await tx.query("BEGIN");
      const result = await fn(tx);
      await tx.query("COMMIT");
      return result;
    } catch (err) {
      await client.query("ROLLBACK").catch(() => (broken = true));
      throw err;
    } finally {
      // A connection whose ROLLBACK failed is in an unknown state: drop it rather than reuse it.
      client.release(broken);
    }
  }

  async ping(): Promise<void> {
    await this.query("SELECT 1");
  }

  async close(): Promise<void> {
    await this.pool.end();
  }
}
