import { describe, expect, it } from "vitest";
import { checkTags, parseTagFilters } from "../../../src/control/query.js";
import { ProblemError, problemType } from "../../../src/errors.js";

function problemOf(fn: () => unknown): ProblemError {
  try {
    fn();
  } catch (err) {
    if (err instanceof ProblemError) return err;
    throw err;
  }
  throw new Error("expected a problem");
}

const tagsOf = (n: number): Record<string, string> => Object.fromEntries([...Array(n).keys()].map((i) => [`k${i}`, "v"]));

describe("tags (IFC_MAX_TAGS and key syntax)", () => {
  it("accepts exactly the configured number of tags and refuses one more with 400 too-many-tags", () => {
    expect(() => checkTags(tagsOf(32), 32)).not.toThrow();
    const p = problemOf(() => checkTags(tagsOf(33), 32));
    expect(p.status).toBe(400);
    expect(p.type).toBe(problemType("too-many-tags"));
  });

  it("takes keys of up to 64 identifier characters", () => {
    expect(() => checkTags({ ["a".repeat(64)]: "x", "wo.no_1-a": "y" }, 32)).not.toThrow();
    for (const key of ["a".repeat(65), "", "bad key", "k:v"]) {
      expect(problemOf(() => checkTags({ [key]: "x" }, 32)).type).toBe(problemType("invalid-tag"));
    }
  });

  it("parses repeated key:value filters and refuses a filter without a key", () => {
    expect(parseTagFilters(["wo:123", "type:A:B"])).toEqual([["wo", "123"], ["type", "A:B"]]);
    expect(parseTagFilters(undefined)).toEqual([]);
    expect(problemOf(() => parseTagFilters(":v")).type).toBe(problemType("invalid-tag"));
    expect(problemOf(() => parseTagFilters("novalue")).status).toBe(400);
  });
});
