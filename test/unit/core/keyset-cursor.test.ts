import { describe, expect, it } from "vitest";
import { InvalidInput } from "../../../src/core/errors.js";
import { decodeCursor, encodeCursor, MAX_CURSOR_LENGTH } from "../../../src/core/keyset-cursor.js";

describe("keyset cursors", () => {
  it("round-trips the longest key the listings write: a 200-character Japanese name and an id", () => {
    const name = "検査対象".repeat(50);
    const key = [name, "3f2c1a9e-1111-4222-8333-944455556666"];
    const cursor = encodeCursor(key);
    expect(cursor.length).toBeGreaterThan(512);
    expect(cursor.length).toBeLessThanOrEqual(MAX_CURSOR_LENGTH);
    expect(decodeCursor(cursor, ["string", "string"])).toEqual(key);
  });

  it("refuses a cursor past the limit, of another shape, or not one this server wrote", () => {
    expect(() => decodeCursor("A".repeat(MAX_CURSOR_LENGTH + 1), ["string"])).toThrow(InvalidInput);
    expect(() => decodeCursor(encodeCursor(["a", 1]), ["string", "string"])).toThrow(InvalidInput);
    expect(() => decodeCursor(encodeCursor(["a"]), ["string", "string"])).toThrow(InvalidInput);
    expect(() => decodeCursor("not base64url!", ["string"])).toThrow(InvalidInput);
    expect(() => decodeCursor(Buffer.from("{").toString("base64url"), ["string"])).toThrow(InvalidInput);
    expect(decodeCursor(encodeCursor([1.5, "x"]), ["number", "string"])).toEqual([1.5, "x"]);
  });
});
