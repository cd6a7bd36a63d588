import { InvalidInput } from "../../core/errors.js";

/** Opaque cursors: base64url JSON, checked on the way back in (a bad one is the caller's 400). */
export function encodeCursor(value: Record<string, string>): string {
  return Buffer.from(JSON.stringify(value), "utf8").toString("base64url");
}

export function decodeCursor<K extends string>(cursor: string, keys: readonly K[]): Record<K, string> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
  } catch {
    throw invalidCursor();
  }
  if (typeof parsed !== "object" || parsed === null) throw invalidCursor();
  const obj = parsed as Record<string, unknown>;
  for (const k of keys) if (typeof obj[k] !== "string") throw invalidCursor();
  return obj as Record<K, string>;
}

export function invalidCursor(): InvalidInput {
  return new InvalidInput("invalid-cursor", "the cursor is not one this server gave out");
}

/** Epoch microseconds as decimal text: timestamptz's own precision, exact in a cursor. */
export function isMicros(s: string): boolean {
  return /^[0-9]{1,17}$/.test(s);
}
