/**
 * The metadata database: pipelines, executions, files and (later) products. PostgreSQL in
 * production, PGlite (Postgres compiled to WASM, in-process) as the embedded default; both run
 * the same SQL, so the port speaks plain parameterised SQL ($1, $2 …) and nothing engine-specific.
 */

export interface QueryResult<Row> {
  rows: Row[];
  /** Rows inserted, updated, deleted or returned. */
  rowCount: number;
}

export interface Queryable {
  query<Row = Record<string, unknown>>(sql: string, params?: readonly unknown[]): Promise<QueryResult<Row>>;
}

export interface Database extends Queryable {
  /** Which engine answers: for logs and /healthz, never for branching in domain code. */
  readonly engine: "pglite" | "postgres";
  /**
   * Runs `fn` in one transaction on one connection: committed when it resolves, rolled back when
   * it throws (the error is rethrown).
   */
  transaction<T>(fn: (tx: Queryable) => Promise<T>): Promise<T>;
  /** Proves the database answers now (readiness). */
  ping(): Promise<void>;
  close(): Promise<void>;
}

/** The database cannot be reached or refused the connection: callers answer 503, not 500. */
export class DatabaseUnavailableError extends Error {
  override name = "DatabaseUnavailableError";
}

/** A unique or primary-key constraint refused a write (SQLSTATE 23505). */
export class UniqueViolationError extends Error {
  override name = "UniqueViolationError";
  constructor(
    message: string,
    readonly constraint: string | undefined,
  ) {
    super(message);
  }
}

/**
 * The metadata database, opened (and migrated) at its first use and shared by every module that
 * keeps metadata: a server that never touches pipelines or products pays nothing for it.
 */
export type OpenDatabase = () => Promise<Database>;
