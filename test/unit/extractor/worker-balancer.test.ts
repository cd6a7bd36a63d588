import { describe, expect, it } from "vitest";
import { CircuitBreaker } from "../../../src/core/circuit-breaker.js";
import { WorkerBalancer } from "../../../src/extractor/worker-balancer.js";

describe("WorkerBalancer", () => {
  it("returns undefined with no endpoints", () => {
    expect(new WorkerBalancer().pick()).toBeUndefined();
  });

  it("round-robins among equally loaded endpoints", () => {
    const b = new WorkerBalancer(["a", "b", "c"]);
    expect([b.pick(), b.pick(), b.pick(), b.pick(), b.pick()]).toEqual(["a", "b", "c", "a", "b"]);
  });

  it("picks the endpoint with the fewest outstanding frames", () => {
    const b = new WorkerBalancer(["a", "b", "c"]);
    b.markSent("a", 3);
    b.markSent("b", 1);
    b.markSent("c", 2);
    expect(b.pick()).toBe("b");
    b.markSent("b", 2); // b: 3, c: 2
    expect(b.pick()).toBe("c");
    b.markDone("a", 3); // a: 0
    expect(b.pick()).toBe("a");
  });

  it("ties among the least loaded rotate while a heavier endpoint is never chosen", () => {
    const b = new WorkerBalancer(["a", "b", "c"]);
    b.markSent("b", 1);
    expect([b.pick(), b.pick(), b.pick(), b.pick()]).toEqual(["a", "c", "a", "c"]);
  });

  it("spreads load evenly when every pick sends a frame", () => {
    const b = new WorkerBalancer(["a", "b"]);
    for (let i = 0; i < 10; i++) b.markSent(b.pick()!);
    expect(b.status().map((e) => e.outstanding)).toEqual([5, 5]);
  });

  it("skips unhealthy endpoints and takes them back when healthy", () => {
    const b = new WorkerBalancer(["a", "b"]);
    b.setHealthy("a", false);
    expect([b.pick(), b.pick()]).toEqual(["b", "b"]);
    b.setHealthy("b", false);
    expect(b.pick()).toBeUndefined();
    b.setHealthy("a", true);
    expect(b.pick()).toBe("a");
  });

  it("skips endpoints whose breaker is open, even when they are the least loaded; half-open may probe", () => {
    let t = 0;
    const breaker = new CircuitBreaker({ failureThreshold: 1, openMs: 1000, now: () => t });
    const b = new WorkerBalancer();
    b.add("a", breaker);
    b.add("b");
    b.markSent("b", 10);
    breaker.recordFailure();
    expect(b.pick()).toBe("b");
    expect(b.status().find((e) => e.id === "a")?.allowed).toBe(false);
    t = 1000;
    expect(breaker.state).toBe("half-open");
    expect(b.pick()).toBe("a");
  });

  it("honours exclude, clamps markDone at zero, validates setOutstanding", () => {
    const b = new WorkerBalancer(["a", "b"]);
    expect(b.pick(new Set(["a"]))).toBe("b");
    expect(b.pick(new Set(["a", "b"]))).toBeUndefined();
    b.markDone("a", 5);
    expect(b.status()[0]?.outstanding).toBe(0);
    b.setOutstanding("a", 4);
    expect(b.status()[0]?.outstanding).toBe(4);
    expect(() => b.setOutstanding("a", -1)).toThrow(RangeError);
    expect(() => b.markSent("zzz")).toThrow(/unknown endpoint/);
    expect(() => b.add("a")).toThrow(/already/);
  });

  it("keeps the rotation sensible when endpoints are removed", () => {
    const b = new WorkerBalancer(["a", "b", "c"]);
    expect(b.pick()).toBe("a");
    expect(b.pick()).toBe("b");
    b.remove("a");
    expect(b.pick()).toBe("c");
    expect(b.pick()).toBe("b");
    b.remove("b");
    b.remove("c");
    expect(b.pick()).toBeUndefined();
    b.add("d");
    expect(b.pick()).toBe("d");
  });
});
