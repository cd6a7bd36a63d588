import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { Event } from "werift";
import { checkFastEvents, eventTrace, fastenEvent } from "../../../src/rtc/werift-fast-events.js";

type Step = { op: "sub" } | { op: "queued"; throws: boolean } | { op: "unsub"; which: number } | { op: "emit"; n: number } | { op: "complete" };

/** What one event does over `steps`, fastened or werift's own. */
async function run(fasten: boolean, steps: Step[]): Promise<string[]> {
  const log: string[] = [];
  const ev = new Event<[number]>();
  if (fasten) expect(fastenEvent(ev)).toBe(true);
  (ev as unknown as { onerror: (e: unknown) => void }).onerror = (e) => log.push(`err ${(e as Error).message}`);
  const subs: { unSubscribe(): void }[] = [];
  for (const [i, s] of steps.entries()) {
    if (s.op === "sub") subs.push(ev.subscribe((n) => log.push(`s${i} ${n}`)));
    else if (s.op === "queued") {
      try {
        subs.push(
          ev.queuingSubscribe(async (n) => {
            log.push(`q${i} ${n}`);
            await Promise.resolve();
            if (s.throws) throw new Error(`q${i}`);
          }),
        );
      } catch (err) {
        log.push(`refused ${(err as Error).message}`);
      }
    } else if (s.op === "unsub") subs[s.which % Math.max(1, subs.length)]?.unSubscribe();
    else if (s.op === "emit") {
      ev.execute(s.n);
      log.push("sync end");
    } else ev.complete();
    await new Promise((r) => setImmediate(r));
  }
  return log;
}

const steps = fc.array(
  fc.oneof(
    fc.constant<Step>({ op: "sub" }),
    fc.boolean().map<Step>((throws) => ({ op: "queued", throws })),
    fc.nat(8).map<Step>((which) => ({ op: "unsub", which })),
    fc.integer().map<Step>((n) => ({ op: "emit", n })),
    fc.constant<Step>({ op: "complete" }),
  ),
  { maxLength: 20 },
);

describe("werift Event.execute without an async part per emit when nothing awaits (werift-fast-events.ts)", () => {
  it("fastens nothing before the check, then only werift-shaped events, each once", async () => {
    const ev = new Event<[number]>();
    const own = (ev as unknown as { execute: unknown }).execute;
    // The check may have run in this process already (the server's load does it).
    const before = fastenEvent(ev);
    expect(await checkFastEvents()).toBe(true);
    if (!before) expect((ev as unknown as { execute: unknown }).execute).toBe(own);
    expect(fastenEvent(ev)).toBe(true);
    const fast = (ev as unknown as { execute: unknown }).execute;
    expect(fast).not.toBe(own);
    expect(fastenEvent(ev)).toBe(true);
    expect((ev as unknown as { execute: unknown }).execute).toBe(fast);
    expect(fastenEvent(undefined)).toBe(false);
    expect(fastenEvent({ execute: () => undefined })).toBe(false);
  });

  it("the reference sequence: a queuing subscriber runs before execute returns and its throw reaches onerror, as in werift", async () => {
    const want = await eventTrace(false);
    expect(want).toContain("onerror boom 4");
    expect(want.indexOf("q 4")).toBeLessThan(want.indexOf("after 4 (sync)"));
    expect(await eventTrace(true)).toEqual(want);
  });

  it("runs subscribers in werift's order for any sequence of subscribes, queuing subscribes, unsubscribes, emits and complete", async () => {
    expect(await checkFastEvents()).toBe(true);
    await fc.assert(
      fc.asyncProperty(steps, async (s) => {
        expect(await run(true, s)).toEqual(await run(false, s));
      }),
      { numRuns: 150 },
    );
  });
});
