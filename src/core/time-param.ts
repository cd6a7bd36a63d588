import { InvalidInput } from "./errors.js";

/** Earliest instant a time parameter may name: the epoch (nothing is recorded before it). */
export const MIN_TIME_MS = 0;
/** Latest: the end of year 9999, the last instant ISO 8601's four-digit year can write. */
export const MAX_TIME_MS = Date.UTC(9999, 11, 31, 23, 59, 59, 999);

/** Epoch milliseconds: digits only (no sign, exponent or spaces), an optional fraction. */
const EPOCH_MS = /^\d{1,16}(?:\.\d{1,20})?$/;
/**
 * ISO 8601 as RFC 3339 writes it: a date, or a date-time with its zone (Z or ±hh:mm). A
 * date-time without a zone is refused, since it would be read in the server's local time.
 */
const ISO_8601 = /^\d{4}-\d{2}-\d{2}(?:T\d{2}:\d{2}(?::\d{2}(?:\.\d{1,9})?)?(?:Z|[+-]\d{2}:\d{2}))?$/;

/**
 * A time in a query or body: ISO 8601 or epoch milliseconds, within 1970..9999. The one rule
 * for every route, so `Date.parse`'s leniency (`-5`, `1 2 3`, `yesterday` in some engines)
 * never reaches the catalog.
 */
export function parseTime(value: string | number, name: string): number {
  const text = String(value);
  const ms = EPOCH_MS.test(text) ? Number(text) : ISO_8601.test(text) ? Date.parse(text) : NaN;
  if (!Number.isFinite(ms)) {
    throw new InvalidInput("invalid-time", `${name}: "${text.slice(0, 40)}" is neither ISO 8601 (with a zone) nor epoch milliseconds`, { parameter: name });
  }
  if (ms < MIN_TIME_MS || ms > MAX_TIME_MS) {
    throw new InvalidInput("invalid-time", `${name}: "${text.slice(0, 40)}" is outside 1970-01-01..9999-12-31`, { parameter: name });
  }
  return ms;
}

/**
 * A span from optional `from`/`to` parameters; absent ends are open. When both are given,
 * `from` must be strictly before `to` (every route uses this one rule).
 */
export function parseSpan(from: string | number | undefined, to: string | number | undefined): { fromMs: number; toMs: number } {
  const fromMs = from !== undefined ? parseTime(from, "from") : -Infinity;
  const toMs = to !== undefined ? parseTime(to, "to") : Infinity;
  if (!(fromMs < toMs)) throw new InvalidInput("invalid-range", "from must be before to");
  return { fromMs, toMs };
}
