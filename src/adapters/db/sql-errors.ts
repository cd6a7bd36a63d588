import { DatabaseUnavailableError, UniqueViolationError } from "../../ports/database.js";

/** Network-level failures of a PostgreSQL client: the server is down or unreachable. */
const UNAVAILABLE_CODES = new Set(["ECONNREFUSED", "ECONNRESET", "ETIMEDOUT", "EHOSTUNREACH", "ENOTFOUND", "EPIPE", "57P01", "57P03", "53300"]);

/**
 * Both engines report SQLSTATE in `code` (pg's DatabaseError and PGlite's share the wire
 * protocol's fields), so one mapping serves them: unique violations and unreachable servers
 * become the port's typed errors, anything else passes through.
 */
export function mapSqlError(err: unknown): unknown {
  if (!(err instanceof Error)) return err;
  const e = err as Error & { code?: string; constraint?: string };
  if (e.code === "23505") return new UniqueViolationError(e.message, e.constraint);
  if (e.code !== undefined && UNAVAILABLE_CODES.has(e.code)) return new DatabaseUnavailableError(`database unavailable: ${e.message}`, { cause: err });
  if (/Connection terminated|connection timeout|Client has encountered a connection error/i.test(e.message)) {
    return new DatabaseUnavailableError(`database unavailable: ${e.message}`, { cause: err });
  }
  return err;
}
