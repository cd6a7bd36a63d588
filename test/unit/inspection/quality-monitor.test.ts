import { describe, expect, it } from "vitest";
import { QualityMonitor, windowLabel } from "../../../src/inspection/quality-monitor.js";
import { ManualTimers } from "../../support/manual-timers.js";

const HOUR = 3_600_000;

function monitor(over: { maxAlerts?: number; maxEvents?: number } = {}) {
  const timers = new ManualTimers();
  const raised: unknown[] = [];
  const m = new QualityMonitor({ ngRateThreshold: 5, windowMs: HOUR, updateIntervalMs: 5000, timers, onAlert: (a) => raised.push(a), ...over });
  const messages: Record<string, any>[] = []; // eslint-disable-line @typescript-eslint/no-explicit-any -- messages are asserted field by field
  return { timers, raised, m, messages, attach: () => m.attach((msg) => messages.push(msg)) };
}

/** `ok` OK judgements then `ng` NG ones, each on its own session. */
function judge(m: QualityMonitor, ok: number, ng: number, prefix = "s"): void {
  for (let i = 0; i < ok; i++) m.record(`${prefix}-ok-${i}/item`, false, "alice");
  for (let i = 0; i < ng; i++) m.record(`${prefix}-ng-${i}/item`, true, "bob");
}

describe("QualityMonitor", () => {
  it("alerts once when the NG rate crosses the threshold upward, not at it, and not again while above", () => {
    const { m, raised, attach, messages } = monitor();
    attach();
    judge(m, 19, 1);
    expect(m.figures()).toMatchObject({ total: 20, current_ng_count: 1, ng_rate: 5, hourly_ok_rate: 95, active_inspectors: 2 });
    expect(raised).toHaveLength(0);
    m.record("x-1/item", true, "bob");
    expect(raised).toHaveLength(1);
    m.record("x-2/item", true, "bob");
    m.record("x-3/item", true, "carol");
    expect(raised).toHaveLength(1);
    expect(messages.filter((x) => x.type === "quality_alert")).toEqual([
      { type: "quality_alert", severity: "high", message: "NG rate exceeded threshold (>5%)", data: { current_ng_rate: 9.5, threshold: 5, time_window: "last_hour" } },
    ]);
    // An update at once after each judgement (and one on attach).
    expect(messages.filter((x) => x.type === "quality_update")).toHaveLength(1 + 23);
    expect(messages.at(-1)).toMatchObject({ type: "quality_update", metrics: { current_ng_count: 4, active_inspectors: 3, hourly_ok_rate: 82.6 } });
  });

  it("re-arms when the rate falls back to the threshold, and alerts at the next crossing", () => {
    const { m, raised } = monitor();
    judge(m, 0, 1);
    expect(raised).toHaveLength(1);
    judge(m, 19, 0, "later");
    expect(m.figures().ng_rate).toBe(5);
    m.record("again/item", true, null);
    expect(raised).toHaveLength(2);
  });

  it("a person's judgement replaces the AI's for its item", () => {
    const { m, raised } = monitor();
    judge(m, 19, 0);
    m.record("s1/item", true, "bob");
    m.record("s1/item", true, "bob");
    expect(m.figures()).toMatchObject({ total: 20, current_ng_count: 1 });
    m.record("s1/item", false, "bob");
    expect(m.figures()).toMatchObject({ total: 20, current_ng_count: 0 });
    expect(raised).toHaveLength(0);
  });

  it("slides the window: judgements older than it leave the figures, and the alert re-arms with the tick", () => {
    const { m, timers, raised, attach, messages } = monitor();
    const off = attach();
    judge(m, 0, 1);
    expect(raised).toHaveLength(1);
    timers.advance(HOUR / 2);
    judge(m, 10, 0);
    expect(m.figures()).toMatchObject({ total: 11, current_ng_count: 1 });
    timers.advance(HOUR / 2 - 1);
    expect(m.figures().total).toBe(11);
    timers.advance(1);
    // Exactly a window later the NG is out; only the ten OKs remain.
    expect(m.figures()).toMatchObject({ total: 10, current_ng_count: 0, ng_rate: 0 });
    timers.advance(HOUR / 2);
    expect(m.figures()).toMatchObject({ total: 0, hourly_ok_rate: null, ng_rate: null });
    // Re-armed by the slide: the next NG alerts again.
    m.record("new/item", true, null);
    expect(raised).toHaveLength(2);
    // Periodic updates every 5 s while a client is attached, none after it leaves.
    const before = messages.length;
    timers.advance(15_000);
    expect(messages.length).toBe(before + 3);
    off();
    expect(timers.armed).toBe(0);
    timers.advance(15_000);
    expect(messages.length).toBe(before + 3);
  });

  it("seeds from the database without alerting on a rate already above", () => {
    const { m, raised, timers } = monitor();
    const now = timers.now();
    m.seed([{ key: "a/i", at: now - 10, ng: true, inspector: "x" }, { key: "b/i", at: now - HOUR - 1, ng: false, inspector: "y" }]);
    expect(m.figures()).toMatchObject({ total: 1, current_ng_count: 1, active_inspectors: 1 });
    m.record("c/i", true, null);
    expect(raised).toHaveLength(0);
  });

  it("keeps a bounded alert list, paged newest first; a foreign cursor is refused", () => {
    const { m, timers } = monitor({ maxAlerts: 3 });
    for (let i = 0; i < 5; i++) {
      m.record(`ng-${i}/i`, true, null);
      // A window later the NG is gone: the next one crosses again.
      timers.advance(HOUR);
    }
    const first = m.alerts({ limit: 2 });
    expect(first.total).toBe(3);
    expect(first.items.map((a) => a.alert_id)).toEqual(["5", "4"]);
    const second = m.alerts({ limit: 2, cursor: first.next_cursor! });
    expect(second.items.map((a) => a.alert_id)).toEqual(["3"]);
    expect(second.next_cursor).toBeNull();
    expect(() => m.alerts({ cursor: "bm9wZQ" })).toThrow(/cursor/);
    expect(() => m.alerts({ limit: 501 })).toThrow(/limit/);
    expect(m.alerts({ limit: 500 }).items).toHaveLength(3);
  });

  it("bounds the judgements it keeps", () => {
    const { m } = monitor({ maxEvents: 10 });
    judge(m, 15, 0);
    expect(m.figures().total).toBe(10);
  });

  it("names the window as the documents do", () => {
    expect(windowLabel(HOUR)).toBe("last_hour");
    expect(windowLabel(2 * HOUR)).toBe("last_2h");
    expect(windowLabel(15 * 60_000)).toBe("last_15m");
    expect(windowLabel(1500)).toBe("last_1500ms");
  });
});
