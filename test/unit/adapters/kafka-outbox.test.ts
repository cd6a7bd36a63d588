import { describe, expect, it } from "vitest";
import { Outbox } from "../../../src/adapters/events/kafka/outbox.js";

const len = (s: string): number => s.length;

describe("Kafka bus outbox (bounded, in order)", () => {
  it("takes exactly maxQueuedEvents and refuses the next", () => {
    const q = new Outbox<string>(3);
    expect([q.push("a"), q.push("b"), q.push("c")]).toEqual([true, true, true]);
    expect(q.push("d")).toBe(false);
    expect(q.size).toBe(3);
  });

  it("rejects a bound that is not a positive integer", () => {
    expect(() => new Outbox(0)).toThrow(/positive integer/);
    expect(() => new Outbox(1.5)).toThrow(/positive integer/);
  });

  it("hands out batches up to the byte limit (16 KB), at least one entry, at most maxCount", () => {
    const q = new Outbox<string>(100);
    const kb4 = "x".repeat(4096);
    for (let i = 0; i < 5; i++) q.push(kb4);
    expect(q.take(16 * 1024, 500, len)).toHaveLength(4); // 4 × 4 KB = 16 KB exactly: fits
    q.ack();
    expect(q.take(16 * 1024, 500, len)).toHaveLength(1);
    q.ack();
    q.push("y".repeat(20_000)); // heavier than the limit: goes out alone
    q.push("z");
    expect(q.take(16 * 1024, 500, len).map((s) => s[0])).toEqual(["y"]);
    q.ack();
    for (let i = 0; i < 9; i++) q.push("s");
    expect(q.take(16 * 1024, 4, len)).toHaveLength(4);
  });

  it("keeps an unacknowledged batch at the head, so a failed send is retried in order", () => {
    const q = new Outbox<string>(10);
    for (const s of ["a", "b", "c"]) q.push(s);
    expect(q.take(2, 10, len)).toEqual(["a", "b"]);
    q.push("d");
    expect(q.take(2, 10, len)).toEqual(["a", "b"]); // not acked: same again
    q.ack();
    expect(q.take(10, 10, len)).toEqual(["c", "d"]);
    expect(q.size).toBe(2); // queued until acknowledged
    q.ack();
    expect(q.size).toBe(0);
  });

  it("stays in order across compaction of a long-running queue", () => {
    const q = new Outbox<number>(5000);
    let next = 0;
    let expected = 0;
    for (let round = 0; round < 30; round++) {
      for (let i = 0; i < 200; i++) q.push(next++);
      const batch = q.take(Infinity, 150, () => 1);
      expect(batch[0]).toBe(expected);
      expected += batch.length;
      q.ack();
    }
    expect(q.size).toBe(next - expected);
    expect(q.drain()[0]).toBe(expected);
    expect(q.size).toBe(0);
  });
});
