import { describe, expect, it } from "vitest";
import { RtcPortBudget } from "../../../src/rtc/port-budget.js";

describe("RtcPortBudget", () => {
  it("holds as many sessions as whole port sets fit in the range", () => {
    expect(RtcPortBudget.forRange(50_000, 50_009, 2).capacity).toBe(5);
    expect(RtcPortBudget.forRange(50_000, 50_010, 2).capacity).toBe(5); // the odd port is no session
    expect(RtcPortBudget.forRange(50_000, 50_001, 3).capacity).toBe(0);
  });

  it("refuses at the edge and takes a session back exactly once", () => {
    const budget = new RtcPortBudget(2);
    const a = budget.tryClaim();
    const b = budget.tryClaim();
    expect(a).toBeDefined();
    expect(b).toBeDefined();
    expect(budget.tryClaim()).toBeUndefined();
    expect(budget.inUse).toBe(2);
    a!();
    a!(); // a second release must not free someone else's ports
    expect(budget.inUse).toBe(1);
    expect(budget.tryClaim()).toBeDefined();
    expect(budget.tryClaim()).toBeUndefined();
  });
});
