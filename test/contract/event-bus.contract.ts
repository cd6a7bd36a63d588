import { randomUUID } from "node:crypto";
import { afterEach, describe, expect, it } from "vitest";
import { deadLetterTopic, type BusEvent, type DeadLetter, type EventBus } from "../../src/ports/event-bus.js";
import { waitFor } from "../support/wait-for.js";

export interface BusFixture {
  bus: EventBus;
  /** Resolves when an event published now reaches this bus's subscribers (Kafka: the consumer is fetching). */
  ready(): Promise<void>;
  close(): Promise<void>;
}

/** A bus that cannot deliver, and what its bounded queue is. */
export interface StalledBus extends BusFixture {
  /** How many events the stalled bus holds before it drops. */
  bound: number;
  /**
   * Subscribes (in-process: a subscriber that does not finish until resume) or otherwise makes
   * the bus unable to deliver (Kafka: no broker). Returns the events that reached the stalled
   * path so far, when the implementation can tell (in-process), and how to resume, when it can.
   */
  stall(topic: string): { received(): BusEvent[]; resume?(): void };
}

export interface BusFactory {
  /** A working bus serving `topics` (and their dead-letter topics). */
  make(topics: string[]): Promise<BusFixture>;
  /** A bus that cannot deliver, bounded at `bound` queued events. */
  makeStalled(topics: string[], bound: number): Promise<StalledBus>;
}

interface Seq {
  [key: string]: unknown;
  seq: number;
}

/** The behaviour every EventBus implementation shares (in-process, Kafka). */
export function eventBusContract(name: string, factory: BusFactory): void {
  describe(`EventBus contract: ${name}`, () => {
    const open: BusFixture[] = [];
    const topicsFor = (...names: string[]): string[] => {
      const run = randomUUID().slice(0, 8);
      return names.map((n) => `contract-${n}-${run}`);
    };
    const make = async (topics: string[]): Promise<BusFixture> => {
      const fx = await factory.make(topics);
      open.push(fx);
      return fx;
    };
    afterEach(async () => {
      await Promise.all(open.splice(0).map((fx) => fx.close()));
    });

    it("keeps per-key order with several keys interleaved", async () => {
      const [topic] = topicsFor("order") as [string];
      const fx = await make([topic]);
      const got = new Map<string, number[]>();
      fx.bus.subscribe(topic, (e) => {
        const list = got.get(e.key) ?? [];
        list.push((e.value as Seq).seq);
        got.set(e.key, list);
      });
      await fx.ready();
      const keys = ["cam-a", "cam-b", "cam-c", "cam-d"];
      const perKey = 60;
      for (let i = 0; i < perKey; i++) for (const key of keys) fx.bus.publish({ topic, key, value: { seq: i } });
      await waitFor(() => keys.every((k) => new Set(got.get(k)).size === perKey), { timeoutMs: 30_000, what: "every key's events" });
      for (const k of keys) {
        // At least once: a redelivered range may repeat, but first sightings come in publish order.
        const firsts = [...new Set(got.get(k))];
        expect(firsts).toEqual(Array.from({ length: perKey }, (_, i) => i));
      }
    });

    it("delivers every published event at least once, on every topic, to every subscriber", async () => {
      const [t1, t2] = topicsFor("all-1", "all-2") as [string, string];
      const fx = await make([t1, t2]);
      const a = new Set<string>();
      const b = new Set<string>();
      const c = new Set<string>();
      fx.bus.subscribe(t1, (e) => void a.add(`${e.key}/${(e.value as Seq).seq}`));
      fx.bus.subscribe(t1, async (e) => void b.add(`${e.key}/${(e.value as Seq).seq}`));
      fx.bus.subscribe(t2, (e) => void c.add(`${e.key}/${(e.value as Seq).seq}`));
      await fx.ready();
      const before = fx.bus.stats();
      const n = 150;
      for (let i = 0; i < n; i++) {
        fx.bus.publish({ topic: t1, key: `k${i % 5}`, value: { seq: i } });
        fx.bus.publish({ topic: t2, key: `k${i % 3}`, value: { seq: i } });
      }
      await waitFor(() => a.size === n && b.size === n && c.size === n, { timeoutMs: 30_000, what: "all events on both topics" });
      const after = fx.bus.stats();
      expect(after.published - before.published).toBe(2 * n);
      expect(after.delivered - before.delivered).toBeGreaterThanOrEqual(3 * n);
      expect(after.dropped).toBe(before.dropped);
      expect(after.failed).toBe(0);
    });

    it("bounds what it buffers while it cannot deliver: the overflow is dropped and counted exactly", async () => {
      const [topic] = topicsFor("bound") as [string];
      const bound = 25;
      const extra = 17;
      const fx = await factory.makeStalled([topic], bound);
      open.push(fx);
      const stall = fx.stall(topic);
      for (let i = 0; i < bound + extra; i++) fx.bus.publish({ topic, key: `k${i % 2}`, value: { seq: i } });
      const s = fx.bus.stats();
      expect(s.published).toBe(bound + extra);
      expect(s.dropped).toBe(extra);
      // The oldest `bound` events are the ones held (the newest are refused), in order.
      const held = stall.received();
      if (held.length > 0) expect(held.map((e) => (e.value as Seq).seq)).toEqual(Array.from({ length: bound }, (_, i) => i));
      else expect(s.queued).toBe(bound);
      // One event more, still stalled: exactly one more drop.
      fx.bus.publish({ topic, key: "k0", value: { seq: -1 } });
      expect(fx.bus.stats().dropped).toBe(extra + 1);
      if (stall.resume) {
        stall.resume();
        await waitFor(() => fx.bus.stats().delivered >= bound, { timeoutMs: 30_000, what: "held events delivered after resume" });
        // Room again: a new event is taken, not dropped.
        fx.bus.publish({ topic, key: "k0", value: { seq: 999 } });
        expect(fx.bus.stats().dropped).toBe(extra + 1);
      }
    });

    it("sends a failing handler's event, with the error, to the dead-letter topic and moves on", async () => {
      const [topic] = topicsFor("dlq") as [string];
      const fx = await make([topic]);
      const ok: number[] = [];
      const letters: DeadLetter[] = [];
      fx.bus.subscribe(topic, (e) => {
        const seq = (e.value as Seq).seq;
        if (seq === 3) throw new Error("boom 3");
        ok.push(seq);
      });
      fx.bus.subscribe(topic, async (e) => {
        if ((e.value as Seq).seq === 5) throw new Error("async boom 5");
      });
      fx.bus.subscribe(deadLetterTopic(topic), (e) => void letters.push(e.value as DeadLetter));
      await fx.ready();
      for (let i = 0; i < 8; i++) fx.bus.publish({ topic, key: "cam-x", value: { seq: i } });
      await waitFor(() => new Set(ok).size === 7 && letters.length >= 2, { timeoutMs: 30_000, what: "handled events and two dead letters" });
      const bySeq = new Map(letters.map((l) => [(l.value as Seq).seq, l]));
      expect(bySeq.get(3)).toMatchObject({ topic, key: "cam-x", error: "boom 3" });
      expect(bySeq.get(5)).toMatchObject({ topic, key: "cam-x", error: "async boom 5" });
      expect(typeof bySeq.get(3)?.failedAt).toBe("number");
      // The events after the failures were handled: the failure did not hold the topic up.
      expect([...new Set(ok)]).toEqual([0, 1, 2, 4, 5, 6, 7]);
      const s = fx.bus.stats();
      expect(s.failed).toBeGreaterThanOrEqual(2);
      expect(s.deadLettered).toBeGreaterThanOrEqual(2);
    });
  });
}
