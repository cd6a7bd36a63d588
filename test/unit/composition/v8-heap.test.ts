import { describe, expect, it } from "vitest";
import { applyHeapGrowth } from "../../../src/composition/v8-heap.js";

describe("applyHeapGrowth", () => {
  it("sets V8's --heap-growing-percent to the configured percent", () => {
    const set: string[] = [];
    expect(applyHeapGrowth(100, (f) => set.push(f))).toBe("--heap-growing-percent=100");
    expect(applyHeapGrowth(1000, (f) => set.push(f))).toBe("--heap-growing-percent=1000");
    expect(set).toEqual(["--heap-growing-percent=100", "--heap-growing-percent=1000"]);
  });

  it("leaves V8's own heuristics alone at 0", () => {
    const set: string[] = [];
    expect(applyHeapGrowth(0, (f) => set.push(f))).toBeUndefined();
    expect(set).toEqual([]);
  });

  it("refuses what is not a non-negative integer, setting nothing", () => {
    const set: string[] = [];
    for (const bad of [-1, 1.5, Number.NaN]) expect(() => applyHeapGrowth(bad, (f) => set.push(f))).toThrow(RangeError);
    expect(set).toEqual([]);
  });
});
