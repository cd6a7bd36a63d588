import { InvalidInput } from "../core/errors.js";

/** Default and largest page size of every inspection list. */
export const DEFAULT_PAGE_LIMIT = 50;
export const MAX_PAGE_LIMIT = 500;

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
  total: number;
}

/** An opaque cursor: the sort key of the last row served. */
export function encodeCursor(key: readonly (string | number)[]): string {
  return Buffer.from(JSON.stringify(key), "utf8").toString("base64url");
}

/** The key inside a cursor; a cursor this server did not write is a 400, not a silent first page. */
export function decodeCursor(cursor: string, shape: readonly ("string" | "number")[]): (string | number)[] {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
  } catch {
    v = undefined;
  }
  if (!Array.isArray(v) || v.length !== shape.length || !v.every((x, i) => typeof x === shape[i])) {
    throw new InvalidInput("invalid-cursor", "the cursor is not one this server issued", { field: "cursor" });
  }
  return v as (string | number)[];
}

export function checkLimit(limit: number | undefined): number {
  const l = limit ?? DEFAULT_PAGE_LIMIT;
  if (!Number.isInteger(l) || l < 1 || l > MAX_PAGE_LIMIT) throw new InvalidInput("invalid-limit", `limit must be 1..${MAX_PAGE_LIMIT}`, { field: "limit" });
  return l;
}
