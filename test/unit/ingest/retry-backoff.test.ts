import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { retryDelay } from "../../../src/ingest/retry-backoff.js";

const opts = { minMs: 1000, maxMs: 30_000 };

describe("retryDelay", () => {
  it("doubles per failure from minMs, capped at maxMs (no jitter at random 0.5)", () => {
    const mid = (): number => 0.5;
    expect([1, 2, 3, 4, 5, 6, 7].map((n) => retryDelay(n, opts, mid))).toEqual([1000, 2000, 4000, 8000, 16_000, 30_000, 30_000]);
    // Huge attempt counts overflow 2^n to Infinity: still the cap.
    expect(retryDelay(5000, opts, mid)).toBe(30_000);
  });

  it("spreads each delay over ±25 %: random 0 gives −25 %, random → 1 gives +25 %, never past maxMs", () => {
    expect(retryDelay(1, opts, () => 0)).toBe(750);
    expect(retryDelay(1, opts, () => 0.999_999)).toBe(1250);
    expect(retryDelay(3, opts, () => 0)).toBe(3000);
    expect(retryDelay(3, opts, () => 0.999_999)).toBe(5000);
    // At the cap, +25 % would pass maxMs: clamped; −25 % still goes below it.
    expect(retryDelay(10, opts, () => 0.999_999)).toBe(30_000);
    expect(retryDelay(10, opts, () => 0)).toBe(22_500);
  });

  it("stays within [0.75, 1.25] × nominal and ≤ maxMs for any attempt and random", () => {
    fc.assert(fc.property(fc.integer({ min: 1, max: 64 }), fc.double({ min: 0, max: 1, maxExcluded: true, noNaN: true }), fc.integer({ min: 1, max: 10_000 }), fc.integer({ min: 0, max: 100_000 }), (attempt, r, minMs, extra) => {
      const o = { minMs, maxMs: minMs + extra };
      const nominal = Math.min(o.maxMs, minMs * 2 ** (attempt - 1));
      const d = retryDelay(attempt, o, () => r);
      expect(d).toBeLessThanOrEqual(o.maxMs);
      expect(d).toBeGreaterThanOrEqual(Math.floor(nominal * 0.75));
      expect(d).toBeLessThanOrEqual(Math.ceil(nominal * 1.25));
    }));
  });

  it("refuses nonsense", () => {
    expect(() => retryDelay(0, opts)).toThrow(RangeError);
    expect(() => retryDelay(1.5, opts)).toThrow(RangeError);
    expect(() => retryDelay(1, { minMs: 0, maxMs: 10 })).toThrow(RangeError);
    expect(() => retryDelay(1, { minMs: 100, maxMs: 10 })).toThrow(RangeError);
    expect(() => retryDelay(1, { ...opts, jitter: 1 })).toThrow(RangeError);
  });
});
