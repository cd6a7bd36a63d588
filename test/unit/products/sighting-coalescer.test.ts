import { describe, expect, it } from "vitest";
import { sightingOf } from "../../../src/products/live-product-linker.js";
import { SightingCoalescer, type Sighting } from "../../../src/products/sighting-coalescer.js";
import { ManualTimers } from "../../support/manual-timers.js";

const WO = { work_order_id: "WO1" };
const seen = (at: number, over: Partial<Sighting> = {}): Sighting => ({ product: WO, stream: "cam1", recordingId: "r1", firstMs: at, lastMs: at, ...over });

/** A flush target the test can await: each call's batch, and a promise for the next call. */
function sink(fail = 0) {
  const batches: Sighting[][] = [];
  let failing = fail;
  let wake: (() => void) | undefined;
  return {
    batches,
    flush: async (b: Sighting[]) => {
      batches.push(b.map((s) => ({ ...s })));
      wake?.();
      if (failing-- > 0) throw new Error("database down");
    },
    next: () => new Promise<void>((resolve) => (wake = resolve)),
  };
}

describe("SightingCoalescer", () => {
  it("merges a second of frames of one (product, recording) into one span, written once when the interval ends", async () => {
    const timers = new ManualTimers();
    const s = sink();
    const c = new SightingCoalescer(s.flush, timers, { maxPending: 10, flushIntervalMs: 1000 });
    const t0 = timers.now();
    for (let i = 0; i < 30; i++) c.add(seen(t0 + i * 33));
    c.add(seen(t0 - 500)); // a late, older frame widens the span backwards
    timers.advance(999);
    expect(s.batches).toHaveLength(0);
    const flushed = s.next();
    timers.advance(1);
    await flushed;
    expect(s.batches).toEqual([[{ product: WO, stream: "cam1", recordingId: "r1", firstMs: t0 - 500, lastMs: t0 + 29 * 33 }]]);
    expect(c.size).toBe(0);
    expect(timers.armed).toBe(0); // nothing pending, no timer
  });

  it("keeps pairs apart: another recording, stream or product field is another span", async () => {
    const timers = new ManualTimers();
    const s = sink();
    const c = new SightingCoalescer(s.flush, timers, { maxPending: 10, flushIntervalMs: 1000 });
    c.add(seen(1));
    c.add(seen(2, { recordingId: "r2" }));
    c.add(seen(3, { stream: "cam2" }));
    c.add(seen(4, { product: { work_order_id: "WO1", monthly_sequence: 7 } }));
    c.add(seen(5));
    expect(c.size).toBe(4);
    await c.flushNow();
    expect(s.batches[0]).toHaveLength(4);
  });

  it("holds at most maxPending pairs: a new pair past it is dropped and counted, known pairs still widen", async () => {
    const timers = new ManualTimers();
    const s = sink();
    const c = new SightingCoalescer(s.flush, timers, { maxPending: 2, flushIntervalMs: 1000 });
    expect(c.add(seen(10, { recordingId: "a" }))).toBe(true);
    expect(c.add(seen(10, { recordingId: "b" }))).toBe(true);
    expect(c.add(seen(10, { recordingId: "c" }))).toBe(false);
    expect(c.add(seen(50, { recordingId: "a" }))).toBe(true);
    expect(c.dropped).toBe(1);
    await c.flushNow();
    expect(s.batches[0]?.map((x) => [x.recordingId, x.lastMs])).toEqual([["a", 50], ["b", 10]]);
    // room again after the flush
    expect(c.add(seen(60, { recordingId: "c" }))).toBe(true);
  });

  it("keeps the spans of a failed flush and writes them, merged with newer frames, at the next interval", async () => {
    const timers = new ManualTimers();
    const s = sink(1);
    const errors: unknown[] = [];
    const c = new SightingCoalescer(s.flush, timers, { maxPending: 10, flushIntervalMs: 1000 }, (e) => errors.push(e));
    c.add(seen(100));
    let flushed = s.next();
    timers.advance(1000);
    await flushed;
    await c.idle();
    expect(errors).toHaveLength(1);
    expect(c.failedFlushes).toBe(1);
    expect(c.size).toBe(1);
    expect(timers.armed).toBe(1); // retried at the next interval
    c.add(seen(900));
    flushed = s.next();
    timers.advance(1000);
    await flushed;
    expect(s.batches[1]).toEqual([{ product: WO, stream: "cam1", recordingId: "r1", firstMs: 100, lastMs: 900 }]);
  });

  it("writes what is pending on close and takes nothing after", async () => {
    const timers = new ManualTimers();
    const s = sink();
    const c = new SightingCoalescer(s.flush, timers, { maxPending: 10, flushIntervalMs: 1000 });
    c.add(seen(1));
    await c.close();
    expect(s.batches).toHaveLength(1);
    expect(timers.armed).toBe(0);
    expect(c.add(seen(2))).toBe(false);
  });
});

describe("sightingOf (an analysis event's product sighting)", () => {
  const event = (over: Record<string, unknown> = {}) => ({
    stream_id: "cam1", video_id: "rec1", product_info: { work_order: "WO9", instruction: "I1", machine_number: "M1", monthly_sequence: "42", product_type: "T" },
    frame: { captured_at: "2026-11-29T10:00:00.250Z" }, ...over,
  });
  it("takes the product key fields, the recording and the frame's capture time", () => {
    expect(sightingOf(event())).toEqual({
      product: { work_order_id: "WO9", instruction_id: "I1", machine_number: "M1", monthly_sequence: 42 }, stream: "cam1", recordingId: "rec1",
      firstMs: Date.parse("2026-11-29T10:00:00.250Z"), lastMs: Date.parse("2026-11-29T10:00:00.250Z"),
    });
  });
  it("ignores frames with no product, no recording or no time", () => {
    expect(sightingOf(event({ product_info: undefined }))).toBeUndefined();
    expect(sightingOf(event({ video_id: null }))).toBeUndefined();
    expect(sightingOf(event({ product_info: { instruction: "I1" } }))).toBeUndefined();
    expect(sightingOf(event({ frame: { captured_at: "not a time" } }))).toBeUndefined();
  });
});
