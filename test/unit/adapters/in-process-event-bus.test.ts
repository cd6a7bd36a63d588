import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { InProcessEventBus } from "../../../src/adapters/events/in-process-event-bus.js";
import type { BusEvent } from "../../../src/ports/event-bus.js";

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
