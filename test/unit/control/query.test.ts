import { describe, expect, it } from "vitest";
import { checkTags, parseTagFilters } from "../../../src/control/query.js";
import { ProblemError, problemType } from "../../../src/errors.js";
import { thrown } from "../../support/thrown.js";

const tagsOf = (n: number): Record<string, string> => Object.fromEntries([...Array(n).keys()].map((i) => [`k${i}`, "v"]));

describe("tags (IFC_MAX_TAGS and key syntax)", () => {
  it("accepts exactly the configured number of tags and refuses one more with 400 too-many-tags", () => {
    expect(() => checkTags(tagsOf(32), 32)).not.toThrow();
    const p = thrown(() => checkTags(tagsOf(33), 32), ProblemError);
    expect(p.status).toBe(400);
    expect(p.type).toBe(problemType("too-many-tags"));
  });

  it("takes keys of up to 64 identifier characters", () => {
    expect(() => checkTags({ ["a".repeat(64)]: "x", "wo.no_1-a": "y" }, 32)).not.toThrow();
    for (const key of ["a".repeat(65), "", "bad key", "k:v"]) {
      expect(thrown(() => checkTags({ [key]: "x" }, 32), ProblemError).type).toBe(problemType("invalid-tag"));
    }
  });

  it("parses repeated key:value filters and refuses a filter without a key", () => {
    expect(parseTagFilters(["wo:123", "type:A:B"])).toEqual([["wo", "123"], ["type", "A:B"]]);
    expect(parseTagFilters(undefined)).toEqual([]);
    expect(thrown(() => parseTagFilters(":v"), ProblemError).type).toBe(problemType("invalid-tag"));
    expect(thrown(() => parseTagFilters("novalue"), ProblemError).status).toBe(400);
  });
});
