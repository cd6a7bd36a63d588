import { describe, expect, it } from "vitest";
import { keepEvery, SourceRateMeter } from "../../../src/extractor/source-rate.js";

describe("SourceRateMeter", () => {
  it("measures the rate from RTP times once it has seen enough, robust to a gap", () => {
    const m = new SourceRateMeter();
    for (let i = 0; i < 5; i++) m.observe(i * 3000);
    expect(m.fps()).toBeUndefined();
    for (let i = 5; i < 20; i++) m.observe(i * 3000 + (i >= 12 ? 60_000 : 0) + (i % 2) * 20);
    expect(m.fps()).toBeCloseTo(30, 0);
    m.observe(0); // timeline restarted
    expect(m.fps()).toBeUndefined();
  });
});

describe("keepEvery", () => {
  it("the largest decimation that still leaves the target rate", () => {
    expect(keepEvery(30, 30)).toBe(1);
    expect(keepEvery(30, 15)).toBe(2);
    expect(keepEvery(30, 8)).toBe(3);
    expect(keepEvery(29.97, 10)).toBe(3);
    expect(keepEvery(30, 60)).toBe(1);
    expect(keepEvery(undefined, 5)).toBe(1);
  });
});
