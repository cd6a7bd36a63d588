import { describe, expect, it } from "vitest";
import { EventLoopDelay } from "../../../src/control/event-loop-delay.js";
import { waitFor } from "../../support/wait-for.js";

const bucket = (values: ReturnType<EventLoopDelay["values"]>, le: number | string): number =>
  values.find((v) => v.metricName === "d_bucket" && v.labels.le === le)?.value ?? NaN;

describe("EventLoopDelay", () => {
  it("records nothing while inactive, and folds a stall into the buckets above it", async () => {
    const eld = new EventLoopDelay();
    expect(eld.takeWindow()).toBeUndefined();
    eld.setActive(true);
    try {
      // A first sample recorded (the monitor measures from its previous one), then a 60 ms stall.
      await waitFor(() => eld.sampled > 0, { what: "a first sample" });
      const until = performance.now() + 60;
      while (performance.now() < until) { /* a stall */ }
      // Taking a window resets the monitor's previous timestamp: wait for the sample after the stall first.
      const before = eld.sampled;
      await waitFor(() => eld.sampled > before, { what: "the sample after the stall" });
      expect(eld.takeWindow()!.max / 1e9).toBeGreaterThanOrEqual(0.06);
    } finally {
      eld.setActive(false);
    }
    const values = eld.values("d");
    const count = values.find((v) => v.metricName === "d_count")!.value;
    expect(count).toBeGreaterThan(0);
    expect(bucket(values, "+Inf")).toBe(count);
    // the 60 ms stall sits above the 50 ms bound
    expect(bucket(values, 0.05)).toBeLessThan(count);
    let previous = 0;
    for (const le of [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1]) {
      expect(bucket(values, le)).toBeGreaterThanOrEqual(previous);
      previous = bucket(values, le);
    }
    expect(values.find((v) => v.metricName === "d_sum")!.value).toBeGreaterThanOrEqual(0.05);
    expect(eld.active).toBe(false);
  });
});
