import { describe, expect, it } from "vitest";
import { AuFifo } from "../../../src/extractor/au-fifo.js";

describe("AuFifo", () => {
  it("pairs outputs with inputs in order", () => {
    const f = new AuFifo<number>(5, 100, 0);
    f.push(1, 0);
    f.push(2, 1);
    expect(f.depth).toBe(2);
    expect(f.shift(2)).toBe(1);
    f.push(3, 3);
    expect(f.shift(4)).toBe(2);
    expect(f.shift(5)).toBe(3);
    expect(f.shift(6)).toBeUndefined();
    expect(f.depth).toBe(0);
  });

  it("stays in step while the decoder keeps up, even with a lag of a few units", () => {
    const f = new AuFifo<number>(5, 100, 0);
    // a decoder two units behind that catches up now and then
    for (let i = 0; i < 200; i++) {
      f.push(i, i * 33);
      if (i % 3 === 2) while (f.depth > 0) f.shift(i * 33 + 5);
      expect(f.desynced(i * 33 + 5)).toBe(false);
    }
  });

  it("reports a lost frame: the FIFO then never empties", () => {
    const f = new AuFifo<number>(5, 100, 0);
    f.push(0, 0); // this unit's frame never comes
    let desyncAt = -1;
    for (let i = 1; i < 50 && desyncAt < 0; i++) {
      f.push(i, i * 33);
      f.shift(i * 33 + 5);
      if (f.desynced(i * 33 + 5)) desyncAt = i;
    }
    // both bounds must be passed: at i = 3 100 ms have passed but only 4 units; at i = 5, 6 units
    expect(desyncAt).toBe(5);
    f.clear(1000);
    expect(f.depth).toBe(0);
    expect(f.desynced(5000)).toBe(false);
  });

  it("needs the time bound too: a burst of units within 100 ms is not a desync", () => {
    const f = new AuFifo<number>(5, 100, 0);
    for (let i = 0; i < 20; i++) f.push(i, i);
    expect(f.desynced(50)).toBe(false);
    expect(f.desynced(101)).toBe(true);
  });
});
