import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { InProcessEventBus } from "../../../src/adapters/events/in-process-event-bus.js";
import type { BusEvent } from "../../../src/ports/event-bus.js";
import { waitFor } from "../../support/wait-for.js";

const ev = (topic: string, key: string, n: number): BusEvent => ({ topic, key, value: { n } });

describe("InProcessEventBus", () => {
  it("delivers a topic's events to its subscribers in publish order, and only that topic's", () => {
    const bus = new InProcessEventBus();
    const a: number[] = [];
    const b: number[] = [];
    bus.subscribe("t1", (e) => a.push(e.value.n as number));
    bus.subscribe("t2", (e) => b.push(e.value.n as number));
    for (let i = 0; i < 5; i++) bus.publish(ev("t1", "s", i));
    bus.publish(ev("t2", "s", 99));
    expect(a).toEqual([0, 1, 2, 3, 4]);
    expect(b).toEqual([99]);
  });

  it("stops delivering after unsubscribe and after close", async () => {
    const bus = new InProcessEventBus();
    const got: number[] = [];
    const off = bus.subscribe("t", (e) => got.push(e.value.n as number));
    bus.publish(ev("t", "k", 1));
    off();
    bus.publish(ev("t", "k", 2));
    bus.subscribe("t", (e) => got.push(e.value.n as number));
    await bus.close();
    bus.publish(ev("t", "k", 3));
    expect(got).toEqual([1]);
  });

  it("isolates a throwing subscriber from the others and from the publisher", () => {
    const bus = new InProcessEventBus(pino({ level: "silent" }));
    const got: number[] = [];
    bus.subscribe("t", () => {
      throw new Error("boom");
    });
    bus.subscribe("t", (e) => got.push(e.value.n as number));
    expect(() => bus.publish(ev("t", "k", 7))).not.toThrow();
    expect(got).toEqual([7]);
  });
});

describe("InProcessEventBus subscriber faults", () => {
  it("a rejecting async subscriber is counted and reaches neither the publisher nor the process", async () => {
    const bus = new InProcessEventBus(pino({ level: "silent" }));
    const got: number[] = [];
    bus.subscribe("t", async () => {
      throw new Error("async boom");
    });
    bus.subscribe("t", (e) => got.push(e.value.n as number));
    const unhandled: unknown[] = [];
    const onUnhandled = (r: unknown) => unhandled.push(r);
    process.on("unhandledRejection", onUnhandled);
    try {
      bus.publish(ev("t", "k", 1));
      bus.publish(ev("t", "k", 2));
      await waitFor(() => bus.stats().failed === 2, { what: "both rejections counted" });
      // Let a would-be unhandled rejection surface before looking.
      await new Promise<void>((r) => setImmediate(r));
    } finally {
      process.off("unhandledRejection", onUnhandled);
    }
    expect(unhandled).toEqual([]);
    expect(got).toEqual([1, 2]);
  });

  it("a slow async subscriber holds at most its bound of unfinished deliveries; the rest are dropped and counted, the others get everything", async () => {
    const lines: { msg: string; level: number }[] = [];
    const bus = new InProcessEventBus(pino({ level: "warn" }, { write: (s: string) => lines.push(JSON.parse(s) as { msg: string; level: number }) }), 3);
    const release: (() => void)[] = [];
    const slowGot: number[] = [];
    bus.subscribe("t", async (e) => {
      slowGot.push(e.value.n as number);
      await new Promise<void>((r) => release.push(r));
    });
    const fastGot: number[] = [];
    bus.subscribe("t", (e) => fastGot.push(e.value.n as number));
    for (let i = 0; i < 10; i++) bus.publish(ev("t", "k", i));
    expect(slowGot).toEqual([0, 1, 2]); // exactly the bound
    expect(fastGot).toEqual([0, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
    expect(bus.stats().dropped).toBe(7);
    expect(lines.filter((l) => l.msg.includes("too slow"))).toHaveLength(1); // once per episode

    // It catches up: one settled delivery makes room for one more event.
    release.shift()?.();
    await waitFor(() => { bus.publish(ev("t", "k", 10)); return slowGot.includes(10); }, { what: "room after one delivery settled" });
    expect(slowGot).toEqual([0, 1, 2, 10]);
    for (const r of release.splice(0)) r();
  });
});

describe("InProcessEventBus dead letters", () => {
  it("sends a failing subscriber's event to <topic>.dlq with the error, and a failing dead-letter subscriber does not loop", () => {
    const bus = new InProcessEventBus(pino({ level: "silent" }));
    const letters: BusEvent[] = [];
    bus.subscribe("t", () => {
      throw new Error("bad frame");
    });
    bus.subscribe("t.dlq", (e) => {
      letters.push(e);
      throw new Error("dlq handler broken too");
    });
    bus.subscribe("t.dlq.dlq", () => letters.push(ev("never", "x", 0)));
    bus.publish(ev("t", "cam", 1));
    expect(letters).toHaveLength(1);
    expect(letters[0]).toMatchObject({ topic: "t.dlq", key: "cam", value: { topic: "t", key: "cam", value: { n: 1 }, error: "bad frame" } });
    expect(bus.stats()).toMatchObject({ published: 1, failed: 2, deadLettered: 1 });
  });
});
