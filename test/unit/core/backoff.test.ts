import { describe, expect, it } from "vitest";
import { Backoff, backoffDelay } from "../../../src/core/backoff.js";

const fixed = (r: number) => () => r;

describe("backoffDelay", () => {
  it("doubles from base per attempt with the midpoint random (no jitter effect)", () => {
    const opts = { baseMs: 100, maxMs: 100_000, random: fixed(0.5) };
    expect([1, 2, 3, 4, 5].map((a) => backoffDelay(a, opts))).toEqual([100, 200, 400, 800, 1600]);
  });

  it("jitter spans exactly ±25 %: random 0 gives -25 %, random near 1 gives almost +25 %", () => {
    expect(backoffDelay(3, { baseMs: 100, maxMs: 10_000, random: fixed(0) })).toBe(300);
    expect(backoffDelay(3, { baseMs: 100, maxMs: 10_000, random: fixed(0.999999) })).toBeCloseTo(500, 3);
    expect(backoffDelay(3, { baseMs: 100, maxMs: 10_000, random: fixed(0.999999) })).toBeLessThan(500);
  });

  it("stays within [0.75, 1.25] of nominal over many random draws", () => {
    let seed = 42;
    const lcg = () => ((seed = (seed * 1103515245 + 12345) % 2 ** 31) / 2 ** 31);
    const seen: number[] = [];
    for (let i = 0; i < 2000; i++) seen.push(backoffDelay(2, { baseMs: 1000, maxMs: 60_000, random: lcg }));
    expect(Math.min(...seen)).toBeGreaterThanOrEqual(1500);
    expect(Math.max(...seen)).toBeLessThan(2500);
    // Spread over the whole range, not stuck at one value.
    expect(Math.min(...seen)).toBeLessThan(1550);
    expect(Math.max(...seen)).toBeGreaterThan(2450);
  });

  it("caps at maxMs, jitter included; the cap is reached exactly at the edge attempt", () => {
    const opts = { baseMs: 1000, maxMs: 8000, random: fixed(0.5) };
    expect(backoffDelay(4, opts)).toBe(8000); // 1000·2³ = 8000 = max
    expect(backoffDelay(5, opts)).toBe(8000);
    // Upward jitter never exceeds the configured maximum; downward still applies.
    expect(backoffDelay(10, { ...opts, random: fixed(0.99) })).toBe(8000);
    expect(backoffDelay(10, { ...opts, random: fixed(0) })).toBe(6000);
    // Nominal just below the cap (8000 of 9000): +25 % would be 9960, clamped to 9000.
    expect(backoffDelay(4, { ...opts, maxMs: 9000, random: fixed(0.99) })).toBe(9000);
    expect(backoffDelay(4, { ...opts, maxMs: 9000, random: fixed(0.5) })).toBe(8000);
  });

  it("survives huge attempt numbers (no overflow to NaN)", () => {
    expect(backoffDelay(5000, { baseMs: 10, maxMs: 30_000, random: fixed(0.5) })).toBe(30_000);
  });

  it("honours factor and jitter options", () => {
    expect(backoffDelay(3, { baseMs: 10, maxMs: 1e6, factor: 3, jitter: 0, random: fixed(0) })).toBe(90);
    expect(backoffDelay(1, { baseMs: 100, maxMs: 1e6, jitter: 0.1, random: fixed(0) })).toBe(90);
  });

  it("rejects invalid arguments", () => {
    const ok = { baseMs: 100, maxMs: 1000 };
    expect(() => backoffDelay(0, ok)).toThrow(RangeError);
    expect(() => backoffDelay(1.5, ok)).toThrow(RangeError);
    expect(() => backoffDelay(1, { baseMs: 0, maxMs: 10 })).toThrow(RangeError);
    expect(() => backoffDelay(1, { baseMs: 100, maxMs: 99 })).toThrow(RangeError);
    expect(() => backoffDelay(1, { ...ok, jitter: 1 })).toThrow(RangeError);
    expect(() => backoffDelay(1, { ...ok, factor: 0.5 })).toThrow(RangeError);
  });
});

describe("Backoff", () => {
  it("counts failures, grows, and starts over after reset", () => {
    const b = new Backoff({ baseMs: 500, maxMs: 4000, random: fixed(0.5) });
    expect([b.next(), b.next(), b.next(), b.next(), b.next()]).toEqual([500, 1000, 2000, 4000, 4000]);
    expect(b.attempts).toBe(5);
    b.reset();
    expect(b.attempts).toBe(0);
    expect(b.next()).toBe(500);
  });

  it("validates its options up front", () => {
    expect(() => new Backoff({ baseMs: -1, maxMs: 10 })).toThrow(RangeError);
  });
});
