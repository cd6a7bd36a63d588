import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { StreamHub } from "../../../src/core/stream-hub.js";
import type { MediaFrame, VideoAccessUnit } from "../../../src/media/types.js";

/** Frame n at n × 100 ms, an IDR every `gop` frames. */
const unit = (n: number, gop: number): VideoAccessUnit => ({
  kind: "video", codec: "h264", nalus: [new Uint8Array([n & 0xff])], isKeyframe: n % gop === 0, rtpTime: n * 9000, arrivalMs: n * 100, wallClockMs: n * 100,
});
const numberOf = (f: MediaFrame): number => f.rtpTime / 9000;
const tick = () => new Promise((r) => setImmediate(r));

describe("StreamHub: a reader attached with a backlog", () => {
  it("gets the buffered frames from the IDR at or before the time asked, then live frames, none lost or repeated", async () => {
    const hub = new StreamHub("s", {}, 4, undefined, { maxMs: 60_000, maxBytes: 1 << 20 });
    for (let n = 0; n < 50; n++) hub.publish(unit(n, 10));
    const got: number[] = [];
    const drops: number[] = [];
    // 2.5 s → frame 25; the IDR at or before is frame 20. 30 frames of backlog against a queue of 4.
    const reader = hub.attach("late", (f, d) => {
      got.push(numberOf(f));
      drops.push(d);
    }, 4, { backlogFrom: 2500 });
    expect(reader.backlogStart?.wallClockMs).toBe(2000);
    expect(reader.stats.queued).toBe(30);
    for (let n = 50; n < 53; n++) hub.publish(unit(n, 10));
    await hub.drain();
    expect(got).toEqual([...Array(33).keys()].map((i) => i + 20));
    expect(drops.every((d) => d === 0)).toBe(true);
    expect(reader.stats.dropped).toBe(0);
    expect(reader.stats.queued).toBe(0);
  });

  it("without backlogFrom a reader starts live; with an empty buffer the backlog is empty", async () => {
    const hub = new StreamHub("s", {}, 16);
    const empty = hub.attach("a", () => undefined, 16, { backlogFrom: 0 });
    expect(empty.backlogStart).toBeUndefined();
    hub.publish(unit(0, 10));
    const got: number[] = [];
    hub.attach("b", (f) => void got.push(numberOf(f)));
    hub.publish(unit(1, 10));
    await hub.drain();
    expect(got).toEqual([1]);
  });

  it("a detached reader drops the rest of its backlog", async () => {
    const hub = new StreamHub("s", {}, 16);
    for (let n = 0; n < 20; n++) hub.publish(unit(n, 10));
    const got: number[] = [];
    const r = hub.attach("a", (f) => void got.push(numberOf(f)), 16, { backlogFrom: 0 });
    r.detach();
    await tick();
    expect(got).toEqual([]);
    expect(hub.readerStats).toEqual([]);
  });

  it("property: for any interleaving of publishes, attaches and drains, each reader sees one contiguous run of frames", async () => {
    type Step = { op: "publish"; count: number } | { op: "attach"; backlogFromFrame: number | null } | { op: "tick" };
    const step: fc.Arbitrary<Step> = fc.oneof(
      fc.record({ op: fc.constant("publish" as const), count: fc.integer({ min: 1, max: 12 }) }),
      fc.record({ op: fc.constant("attach" as const), backlogFromFrame: fc.option(fc.integer({ min: -5, max: 200 })) }),
      fc.record({ op: fc.constant("tick" as const) }),
    );
    await fc.assert(
      fc.asyncProperty(fc.array(step, { minLength: 1, maxLength: 40 }), fc.integer({ min: 1, max: 8 }), fc.integer({ min: 0, max: 3000 }), async (steps, gop, maxMs) => {
        // Readers' queues are big enough never to drop: the property is about the seam.
        const hub = new StreamHub("s", {}, 1000, undefined, { maxMs, maxBytes: 1 << 20 });
        let next = 0;
        const readers: { attachedAt: number; wanted: number | null; got: number[]; start: number | undefined }[] = [];
        for (const s of steps) {
          if (s.op === "publish") for (let i = 0; i < s.count; i++) hub.publish(unit(next++, gop));
          else if (s.op === "tick") await tick();
          else {
            const rec = { attachedAt: next, wanted: s.backlogFromFrame, got: [] as number[], start: undefined as number | undefined };
            const opts = s.backlogFromFrame === null ? {} : { backlogFrom: s.backlogFromFrame * 100 };
            const h = hub.attach(`r${readers.length}`, (f) => void rec.got.push(numberOf(f)), 1000, opts);
            rec.start = h.backlogStart ? numberOf(h.backlogStart) : undefined;
            readers.push(rec);
          }
        }
        await hub.drain();
        for (const r of readers) {
          const from = r.start ?? r.attachedAt;
          // contiguous from its first frame to the last published: no gap, no duplicate
          expect(r.got).toEqual([...Array(next - from).keys()].map((i) => i + from));
          if (r.start !== undefined) {
            expect(r.start % gop).toBe(0); // starts at an IDR
            expect(r.start).toBeLessThan(r.attachedAt);
            // at or before the time asked, unless that is older than anything held
            if (r.wanted !== null && r.wanted >= 0 && r.start > r.wanted) expect(hub.buffer.stats.evictions).toBeGreaterThan(0);
          }
        }
      }),
      { numRuns: 200 },
    );
  });
});
