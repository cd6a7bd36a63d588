import { describe, expect, it } from "vitest";
import { QosAboveMaximumError, QosController, type QosChange, type QosControllerOptions } from "../../../src/extractor/qos-controller.js";

const T0 = 1_700_000_000_000;

function setup(opts: QosControllerOptions = {}) {
  let t = T0;
  const qos = new QosController({ now: () => t, ...opts });
  const changes: QosChange[] = [];
  qos.onChange((c) => changes.push(c));
  const clock = {
    get t() {
      return t;
    },
    set(ms: number) {
      t = ms;
    },
  };
  /**
   * Advances time in 100 ms ticks until `untilMs`, calling `each` before every tick (to feed
   * observations). Returns the first automatic change, if any, and stops there.
   */
  const run = (untilMs: number, each: (t: number) => void = () => undefined): QosChange | undefined => {
    while (t < untilMs) {
      t += 100;
      each(t);
      const c = qos.tick();
      if (c) return c;
    }
    return undefined;
  };
  return { qos, changes, clock, run };
}

/** A healthy feed: every 100 ms one frame sent and its result back in 20 ms. */
const healthy = (qos: QosController) => () => {
  qos.recordSent();
  qos.recordResult(20);
};

describe("QosController defaults and validation", () => {
  it("starts at the maximum preset, or at a lower initial one, never above the max", () => {
    expect(new QosController().preset).toBe("high");
    expect(new QosController({ maxPreset: "medium" }).preset).toBe("medium");
    expect(new QosController({ maxPreset: "medium", initialPreset: "high" }).preset).toBe("medium");
    expect(new QosController({ initialPreset: "low" }).preset).toBe("low");
    const q = new QosController();
    expect([q.windowMs, q.stepDownAfterMs, q.stepUpAfterMs, q.thresholds.noCreditRatio, q.thresholds.dropRatio, q.thresholds.latencyMs]).toEqual([1000, 3000, 10_000, 0.5, 0.5, 1000]);
  });

  it("rejects inconsistent options", () => {
    expect(() => new QosController({ minPreset: "high", maxPreset: "medium" })).toThrow(RangeError);
    expect(() => new QosController({ windowMs: 0 })).toThrow(RangeError);
    expect(() => new QosController({ dropRatio: 1.01 })).toThrow(RangeError);
    expect(() => new QosController({ noCreditRatio: -0.1 })).toThrow(RangeError);
    expect(() => new QosController({ stepUpAfterMs: 5000, maxStepUpAfterMs: 4000 })).toThrow(RangeError);
    expect(() => new QosController({ recoverRatio: 2 })).toThrow(RangeError);
  });
});

describe("QosController metrics", () => {
  it("integrates credit starvation over the window, open interval included", () => {
    const { qos, clock } = setup();
    clock.set(T0 + 2000);
    qos.setCreditStarved(true);
    clock.set(T0 + 2250);
    expect(qos.metrics().noCreditRatio).toBeCloseTo(0.25);
    qos.setCreditStarved(false);
    clock.set(T0 + 2500);
    expect(qos.metrics().noCreditRatio).toBeCloseTo(0.25);
    clock.set(T0 + 3300); // window [2300, 3300]: 0 ms starved left in it
    expect(qos.metrics().noCreditRatio).toBe(0);
  });

  it("measures over the time observed so far when younger than the window", () => {
    const { qos, clock } = setup();
    qos.setCreditStarved(true);
    clock.set(T0 + 100);
    expect(qos.metrics().noCreditRatio).toBe(1);
  });

  it("computes drop ratio and median latency within the window only", () => {
    const { qos, clock } = setup();
    qos.recordDropped(9);
    qos.recordSent(1);
    clock.set(T0 + 500);
    qos.recordSent(3);
    for (const ms of [10, 30, 2000]) qos.recordResult(ms);
    const m = qos.metrics();
    expect(m).toMatchObject({ sent: 4, dropped: 9, results: 3, latencyMs: 30 });
    expect(m.dropRatio).toBeCloseTo(9 / 13);
    clock.set(T0 + 1200); // the first batch (at T0) has left the 1 s window
    expect(qos.metrics()).toMatchObject({ sent: 3, dropped: 0, dropRatio: 0, latencyMs: 30 });
    clock.set(T0 + 1600);
    expect(qos.metrics()).toMatchObject({ sent: 0, results: 0, latencyMs: undefined });
  });

  it("keeps memory bounded by the window without ticks", () => {
    const { qos, clock } = setup();
    for (let i = 0; i < 20_000; i++) {
      clock.set(T0 + i);
      qos.recordSent();
    }
    expect(qos.metrics().sent).toBe(1001); // [now-1000, now] inclusive
  });
});

describe("QosController automatic stepping", () => {
  it("steps down one level after exactly stepDownAfterMs of credit starvation, and again after as long", () => {
    const { qos, changes, run, clock } = setup();
    qos.setCreditStarved(true);
    // The first tick (T0+100) sees lag; 3000 ms later (T0+3100) it steps down, not before.
    expect(run(T0 + 3000)).toBeUndefined();
    expect(qos.preset).toBe("high");
    const first = run(T0 + 3100);
    expect(first).toMatchObject({ from: "high", to: "medium", cause: "lag", signals: ["no-credit"], atMs: T0 + 3100 });
    expect(first?.metrics.noCreditRatio).toBe(1);
    // Fresh window and timer at the new level: lag seen at T0+3200, step at T0+6200.
    expect(run(T0 + 6100)).toBeUndefined();
    expect(run(T0 + 6200)).toMatchObject({ from: "medium", to: "low" });
    // The floor holds however long the lag lasts.
    expect(run(T0 + 60_000)).toBeUndefined();
    expect(qos.preset).toBe("low");
    expect(changes.map((c) => c.to)).toEqual(["medium", "low"]);
    expect(clock.t).toBe(T0 + 60_000);
  });

  it("a lag shorter than stepDownAfterMs, or one interrupted, does not step down", () => {
    const { qos, run } = setup({ windowMs: 200 });
    qos.setCreditStarved(true);
    run(T0 + 2900);
    qos.setCreditStarved(false);
    run(T0 + 3300); // the 200 ms window clears: the lag timer resets
    qos.setCreditStarved(true);
    expect(run(T0 + 6200)).toBeUndefined();
    expect(qos.preset).toBe("high");
    expect(run(T0 + 6500)).toMatchObject({ to: "medium" });
  });

  it("drop ratio: exactly at the threshold is not lag, just above it is", () => {
    const at = setup({ dropRatio: 0.5 });
    expect(at.run(T0 + 10_000, () => (at.qos.recordSent(), at.qos.recordDropped()))).toBeUndefined();
    const above = setup({ dropRatio: 0.5 });
    let i = 0;
    // 11 dropped per 10 sent over the window: 0.52 > 0.5.
    const c = above.run(T0 + 10_000, () => (above.qos.recordSent(10), above.qos.recordDropped(10 + (i++ % 10 === 0 ? 10 : 0))));
    expect(c).toMatchObject({ to: "medium", signals: ["drops"] });
  });

  it("latency: a median over the threshold for the whole period steps down; occasional spikes do not", () => {
    const slow = setup({ latencyMs: 500 });
    expect(slow.run(T0 + 5000, () => (slow.qos.recordSent(), slow.qos.recordResult(501)))).toMatchObject({ to: "medium", signals: ["latency"] });
    const spiky = setup({ latencyMs: 500 });
    let n = 0;
    expect(spiky.run(T0 + 30_000, () => (spiky.qos.recordSent(), spiky.qos.recordResult(n++ % 3 === 0 ? 5000 : 20)))).toBeUndefined();
  });

  it("a ratio threshold of 1 disables that signal (a ratio never exceeds 1)", () => {
    const { qos, run } = setup({ dropRatio: 1, noCreditRatio: 1 });
    qos.setCreditStarved(true);
    expect(run(T0 + 20_000, () => qos.recordDropped(5))).toBeUndefined();
    expect(qos.metrics()).toMatchObject({ noCreditRatio: 1, dropRatio: 1 });
  });

  it("reports every signal that is over its threshold", () => {
    const { qos, run } = setup();
    qos.setCreditStarved(true);
    const c = run(T0 + 5000, () => (qos.recordDropped(3), qos.recordSent(), qos.recordResult(4000)));
    expect(c?.signals).toEqual(["no-credit", "drops", "latency"]);
  });

  it("steps up one level after exactly stepUpAfterMs of quiet, never above the max preset", () => {
    const { qos, run } = setup({ initialPreset: "low", maxPreset: "medium" });
    const feed = healthy(qos);
    // Quiet seen at the first tick (T0+100): step at T0+10100.
    expect(run(T0 + 10_000, feed)).toBeUndefined();
    expect(run(T0 + 10_100, feed)).toMatchObject({ from: "low", to: "medium", cause: "recovered", signals: [] });
    expect(run(T0 + 60_000, feed)).toBeUndefined();
    expect(qos.preset).toBe("medium");
  });

  it("no step up from the middle band between recovery and lag thresholds (hysteresis)", () => {
    const { qos, run } = setup({ initialPreset: "low" });
    // Drop ratio 0.4: below the 0.5 lag threshold, above 0.25 (recoverRatio 0.5 × 0.5).
    expect(run(T0 + 60_000, () => (qos.recordSent(3), qos.recordDropped(2)))).toBeUndefined();
    expect(qos.preset).toBe("low");
  });

  it("doubles the quiet period after a failed probe, up to maxStepUpAfterMs, and resets after a good one", () => {
    const { qos, run, clock } = setup({ initialPreset: "low", maxStepUpAfterMs: 35_000 });
    const feed = healthy(qos);
    expect(run(T0 + 10_100, feed)).toMatchObject({ to: "medium" });
    // The worker cannot take medium: back down within the quiet period = a failed probe.
    qos.setCreditStarved(true);
    expect(run(clock.t + 3100)).toMatchObject({ to: "low" });
    expect(qos.currentStepUpAfterMs).toBe(20_000);
    qos.setCreditStarved(false);
    let start = clock.t;
    expect(run(start + 20_000, feed)).toBeUndefined(); // quiet from start+100: needs until start+20100
    expect(run(start + 20_100, feed)).toMatchObject({ to: "medium" });
    qos.setCreditStarved(true);
    expect(run(clock.t + 3100)).toMatchObject({ to: "low" });
    expect(qos.currentStepUpAfterMs).toBe(35_000); // 40 000 capped
    qos.setCreditStarved(false);
    start = clock.t;
    expect(run(start + 35_000, feed)).toBeUndefined();
    expect(run(start + 35_100, feed)).toMatchObject({ to: "medium" });
    // This time medium holds for a whole quiet period: the probe succeeded, back to 10 s.
    expect(run(clock.t + 35_000, feed)).toMatchObject({ to: "high" });
    expect(qos.currentStepUpAfterMs).toBe(10_000);
  });
});

describe("QosController manual override", () => {
  it("pins the preset, ignores lag while pinned, and resumes automatic control from it when cleared", () => {
    const { qos, changes, run, clock } = setup();
    expect(qos.setOverride("low")).toMatchObject({ from: "high", to: "low", cause: "override" });
    expect(qos.override).toBe("low");
    expect(run(T0 + 60_000, healthy(qos))).toBeUndefined(); // quiet, but pinned
    expect(qos.preset).toBe("low");
    qos.setOverride("medium");
    qos.setCreditStarved(true);
    expect(run(T0 + 120_000)).toBeUndefined(); // lagging, but pinned
    expect(qos.preset).toBe("medium");
    const cleared = qos.setOverride(null);
    expect(cleared).toMatchObject({ from: "medium", to: "medium", cause: "override-cleared" });
    expect(qos.override).toBeNull();
    // Automatic again, with a fresh timer: a full stepDownAfterMs of lag from now.
    const from = clock.t;
    expect(run(from + 3000)).toBeUndefined();
    expect(run(from + 3100)).toMatchObject({ from: "medium", to: "low", cause: "lag" });
    expect(changes.map((c) => c.cause)).toEqual(["override", "override", "override-cleared", "lag"]);
  });

  it("refuses an override above the maximum preset; may go below the automatic floor", () => {
    const { qos } = setup({ maxPreset: "medium", minPreset: "medium" });
    expect(() => qos.setOverride("high")).toThrow(QosAboveMaximumError);
    expect(() => qos.setOverride("high")).toThrow(RangeError);
    expect(qos.override).toBeNull();
    qos.setOverride("low");
    expect(qos.preset).toBe("low");
  });

  it("an override equal to the current preset still pins it and says so", () => {
    const { qos, changes } = setup();
    qos.setOverride("high");
    expect(changes).toEqual([expect.objectContaining({ from: "high", to: "high", cause: "override" })]);
  });

  it("lowering the max preset brings the preset and any override down; raising it does not step up by itself", () => {
    const { qos, changes } = setup();
    qos.setOverride("high");
    expect(qos.setMaxPreset("low")).toMatchObject({ from: "high", to: "low", cause: "max-changed" });
    expect(qos.override).toBe("low");
    expect(qos.setMaxPreset("high")).toBeUndefined();
    expect(qos.preset).toBe("low");
    expect(changes.at(-1)?.cause).toBe("max-changed");
  });

  it("unsubscribed listeners hear nothing", () => {
    const { qos } = setup();
    const seen: QosChange[] = [];
    const off = qos.onChange((c) => seen.push(c));
    off();
    qos.setOverride("low");
    expect(seen).toEqual([]);
  });
});
