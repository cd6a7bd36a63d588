import { describe, expect, it } from "vitest";
import { parseServe, positiveInt } from "../../../../src/worker/services/serve-env.js";

describe("IFC_WORKER_SERVE", () => {
  it("defaults to the camera worker alone, takes lists and all, refuses unknown roles", () => {
    expect(parseServe(undefined)).toEqual(["camera"]);
    expect(parseServe(" ")).toEqual(["camera"]);
    expect(parseServe("all")).toEqual(["camera", "resize", "detection", "filter"]);
    expect(parseServe("resize, filter,resize")).toEqual(["resize", "filter"]);
    expect(() => parseServe("resize,blur")).toThrow(/camera, resize, detection, filter/);
    expect(() => parseServe(",")).toThrow();
  });

  it("positive integers only", () => {
    expect(positiveInt("X", undefined, 7)).toBe(7);
    expect(positiveInt("X", "1", 7)).toBe(1);
    for (const bad of ["0", "-1", "1.5", "ten"]) expect(() => positiveInt("X", bad, 7)).toThrow(/X must be a positive integer/);
  });
});
