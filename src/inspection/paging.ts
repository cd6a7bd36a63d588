import { InvalidInput } from "../core/errors.js";

/** Default and largest page size of every inspection list. */
export const DEFAULT_PAGE_LIMIT = 50;
export const MAX_PAGE_LIMIT = 500;

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
  total: number;
}

/** Opaque keyset cursors, shared with the product side. */
export { decodeCursor, encodeCursor } from "../core/keyset-cursor.js";

export function checkLimit(limit: number | undefined): number {
  const l = limit ?? DEFAULT_PAGE_LIMIT;
  if (!Number.isInteger(l) || l < 1 || l > MAX_PAGE_LIMIT) throw new InvalidInput("invalid-limit", `limit must be 1..${MAX_PAGE_LIMIT}`, { field: "limit" });
  return l;
}
