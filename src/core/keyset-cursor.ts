import { InvalidInput } from "./errors.js";

/**
 * Opaque keyset cursors: the sort key of the last item of a page, as base64url JSON. A cursor
 * that does not decode to the expected shape is the caller's error (400), never "first page".
 * Shared by the product side's listings (trace, video search, inspection lists).
 */
/**
 * Longest cursor accepted. A key may hold a 200-character name in a 3-byte script (600 bytes of
 * UTF-8, 800 of base64) beside an id: 512 refused cursors this server had written.
 */
export const MAX_CURSOR_LENGTH = 2048;

export function encodeCursor(key: readonly (string | number)[]): string {
  return Buffer.from(JSON.stringify(key), "utf8").toString("base64url");
}

/** The key a cursor carries: `shape` names each element's type (a number must be finite). */
export function decodeCursor(cursor: string, shape: readonly ("string" | "number")[]): (string | number)[] {
  const bad = () => new InvalidInput("invalid-cursor", "cursor is not one this server issued for this listing", { field: "cursor" });
  if (cursor.length > MAX_CURSOR_LENGTH || !/^[A-Za-z0-9_-]+$/.test(cursor)) throw bad();
  let key: unknown;
  try {
    key = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
  } catch {
    throw bad();
  }
  if (!Array.isArray(key) || key.length !== shape.length) throw bad();
  shape.forEach((t, i) => {
    const v: unknown = key[i];
    if (t === "string" ? typeof v !== "string" : typeof v !== "number" || !Number.isFinite(v)) throw bad();
  });
  return key as (string | number)[];
}
