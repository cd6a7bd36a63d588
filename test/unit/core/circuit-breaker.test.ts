import { describe, expect, it } from "vitest";
import { CircuitBreaker, type BreakerTransition } from "../../../src/core/circuit-breaker.js";

function setup(opts: { failureThreshold?: number; openMs?: number; successThreshold?: number } = {}) {
  let t = 1_000_000;
  const clock = { now: () => t, advance: (ms: number) => void (t += ms) };
  const breaker = new CircuitBreaker({ ...opts, now: clock.now });
  const transitions: BreakerTransition[] = [];
  breaker.onTransition((x) => transitions.push(x));
  return { breaker, clock, transitions };
}

describe("CircuitBreaker", () => {
  it("defaults to 5 failures / 30 s / 3 successes", () => {
    const b = new CircuitBreaker();
    expect([b.failureThreshold, b.openMs, b.successThreshold]).toEqual([5, 30_000, 3]);
  });

  it("stays closed after 4 consecutive failures and opens at exactly the 5th", () => {
    const { breaker, transitions } = setup();
    for (let i = 0; i < 4; i++) breaker.recordFailure();
    expect(breaker.state).toBe("closed");
    expect(breaker.streak).toBe(4);
    expect(breaker.allowRequest()).toBe(true);
    breaker.recordFailure(new Error("unavailable"));
    expect(breaker.state).toBe("open");
    expect(breaker.allowRequest()).toBe(false);
    expect(transitions).toHaveLength(1);
    expect(transitions[0]).toMatchObject({ from: "closed", to: "open", count: 5 });
    expect((transitions[0]?.error as Error).message).toBe("unavailable");
  });

  it("a success resets the failure streak while closed", () => {
    const { breaker } = setup();
    for (let i = 0; i < 4; i++) breaker.recordFailure();
    breaker.recordSuccess();
    for (let i = 0; i < 4; i++) breaker.recordFailure();
    expect(breaker.state).toBe("closed");
    breaker.recordFailure();
    expect(breaker.state).toBe("open");
  });

  it("goes half-open exactly 30 s after opening, not 1 ms before", () => {
    const { breaker, clock } = setup();
    for (let i = 0; i < 5; i++) breaker.recordFailure();
    expect(breaker.retryAtMs).toBe(clock.now() + 30_000);
    clock.advance(29_999);
    expect(breaker.state).toBe("open");
    clock.advance(1);
    expect(breaker.state).toBe("half-open");
    expect(breaker.allowRequest()).toBe(true);
    expect(breaker.retryAtMs).toBeUndefined();
  });

  it("open → half-open → closed after exactly 3 successes, with events in order", () => {
    const { breaker, clock, transitions } = setup();
    for (let i = 0; i < 5; i++) breaker.recordFailure();
    clock.advance(30_000);
    breaker.tick(); // the timer transition fires without traffic when ticked
    breaker.recordSuccess();
    breaker.recordSuccess();
    expect(breaker.state).toBe("half-open");
    expect(breaker.streak).toBe(2);
    breaker.recordSuccess();
    expect(breaker.state).toBe("closed");
    expect(transitions.map((t) => `${t.from}->${t.to}`)).toEqual(["closed->open", "open->half-open", "half-open->closed"]);
    expect(transitions[1]?.atMs).toBe(transitions[0]!.atMs + 30_000);
    expect(transitions[2]?.count).toBe(3);
    // Closed again with a fresh failure count: 4 failures do not reopen it.
    for (let i = 0; i < 4; i++) breaker.recordFailure();
    expect(breaker.state).toBe("closed");
  });

  it("any failure in half-open reopens it, for another full pause", () => {
    const { breaker, clock, transitions } = setup();
    for (let i = 0; i < 5; i++) breaker.recordFailure();
    clock.advance(30_000);
    breaker.recordSuccess();
    breaker.recordSuccess();
    breaker.recordFailure();
    expect(breaker.state).toBe("open");
    expect(transitions.at(-1)).toMatchObject({ from: "half-open", to: "open", count: 1 });
    clock.advance(29_999);
    expect(breaker.state).toBe("open");
    clock.advance(1);
    expect(breaker.state).toBe("half-open");
    // The success streak starts over after reopening.
    breaker.recordSuccess();
    breaker.recordSuccess();
    expect(breaker.state).toBe("half-open");
    breaker.recordSuccess();
    expect(breaker.state).toBe("closed");
  });

  it("failures and successes reported while open change nothing", () => {
    const { breaker, clock, transitions } = setup();
    for (let i = 0; i < 5; i++) breaker.recordFailure();
    clock.advance(20_000);
    breaker.recordFailure(); // late failure of an old call must not extend the pause
    breaker.recordSuccess();
    clock.advance(10_000);
    expect(breaker.state).toBe("half-open");
    expect(transitions).toHaveLength(2);
  });

  it("honours custom thresholds at their edges", () => {
    const { breaker, clock } = setup({ failureThreshold: 2, openMs: 1000, successThreshold: 1 });
    breaker.recordFailure();
    expect(breaker.state).toBe("closed");
    breaker.recordFailure();
    expect(breaker.state).toBe("open");
    clock.advance(1000);
    breaker.recordSuccess();
    expect(breaker.state).toBe("closed");
  });

  it("reset closes it and unsubscribe stops events", () => {
    const { breaker, transitions } = setup({ failureThreshold: 1 });
    breaker.recordFailure();
    breaker.reset();
    expect(breaker.state).toBe("closed");
    expect(transitions.map((t) => t.to)).toEqual(["open", "closed"]);
    const seen: string[] = [];
    const off = breaker.onTransition((t) => seen.push(t.to));
    off();
    breaker.recordFailure();
    expect(seen).toEqual([]);
  });

  it("rejects invalid thresholds", () => {
    expect(() => new CircuitBreaker({ failureThreshold: 0 })).toThrow(RangeError);
    expect(() => new CircuitBreaker({ successThreshold: 1.5 })).toThrow(RangeError);
    expect(() => new CircuitBreaker({ openMs: -1 })).toThrow(RangeError);
  });
});
