import { InvalidInput } from "../core/errors.js";

/**
 * Opaque keyset cursors: the sort key of the last item of a page, as base64url JSON. A cursor
 * that does not decode to the expected shape is the caller's error (400), never "first page".
 */
export function encodeCursor(key: readonly (string | number)[]): string {
  return Buffer.from(JSON.stringify(key), "utf8").toString("base64url");
}

/** The key a cursor carries: `shape` names each element's type ("s" string, "n" finite number). */
export function decodeCursor(cursor: string, shape: readonly ("s" | "n")[]): (string | number)[] {
  const bad = () => new InvalidInput("invalid-cursor", "cursor is not one this server issued for this listing", { parameter: "cursor" });
  if (!/^[A-Za-z0-9_-]{1,512}$/.test(cursor)) throw bad();
  let key: unknown;
  try {
    key = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
  } catch {
    throw bad();
  }
  if (!Array.isArray(key) || key.length !== shape.length) throw bad();
  shape.forEach((t, i) => {
    const v: unknown = key[i];
    if (t === "s" ? typeof v !== "string" : typeof v !== "number" || !Number.isFinite(v)) throw bad();
  });
  return key as (string | number)[];
}
