import { describe, expect, it } from "vitest";
import { StreamHub, type HubLog } from "../../../src/core/stream-hub.js";
import type { AudioFrame, MediaFrame } from "../../../src/media/types.js";

const frame = (n: number): AudioFrame => ({ kind: "audio", codec: "opus", data: new Uint8Array([n]), rtpTime: n * 960, arrivalMs: n, wallClockMs: n });
const tick = () => new Promise((r) => setImmediate(r));

/** A log that keeps what it was told, and a clock the test moves by hand. */
function watched(opts: { warnIntervalMs?: number; maxConsecutiveErrors?: number } = {}) {
  const lines: { level: "warn" | "error"; obj: Record<string, unknown>; msg: string }[] = [];
  const log: HubLog = {
    warn: (obj, msg) => void lines.push({ level: "warn", obj: obj as Record<string, unknown>, msg }),
    error: (obj, msg) => void lines.push({ level: "error", obj: obj as Record<string, unknown>, msg }),
  };
  const clock = { now: 1_000_000 };
  return { lines, clock, watch: { log, warnIntervalMs: opts.warnIntervalMs ?? 10_000, maxConsecutiveErrors: opts.maxConsecutiveErrors ?? 1000, now: () => clock.now } };
}

describe("StreamHub", () => {
  it("delivers every frame, in order, to every reader", async () => {
    const hub = new StreamHub("s", {}, 16);
    const a: number[] = [];
    const b: number[] = [];
    hub.attach("a", (f) => void a.push((f as AudioFrame).rtpTime));
    hub.attach("b", (f) => void b.push((f as AudioFrame).rtpTime));
    for (let i = 0; i < 10; i++) hub.publish(frame(i));
    await hub.drain();
    expect(a).toEqual([...Array(10).keys()].map((i) => i * 960));
    expect(b).toEqual(a);
  });

  it("a slow reader drops and counts at its queue bound without delaying the others", async () => {
    const hub = new StreamHub("s", {}, 4);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const slow: MediaFrame[] = [];
    const fast: MediaFrame[] = [];
    const drops: number[] = [];
    const slowReader = hub.attach("slow", async (f, droppedBefore) => {
      slow.push(f);
      drops.push(droppedBefore);
      await gate;
    });
    hub.attach("fast", (f) => void fast.push(f), 100);
    hub.publish(frame(0));
    await tick(); // slow reader now blocks on frame 0 with an empty queue
    for (let i = 1; i <= 10; i++) hub.publish(frame(i));
    await tick();
    expect(fast.length).toBe(11); // publisher and fast reader never waited
    expect(slowReader.stats.queued).toBe(4); // exactly the bound
    expect(slowReader.stats.dropped).toBe(6);
    release();
    await hub.drain();
    expect(slow.map((f) => (f as AudioFrame).data[0])).toEqual([0, 1, 2, 3, 4]);
    hub.publish(frame(11));
    await hub.drain();
    // the first frame after the overflow says how many were lost just before it
    expect(drops).toEqual([0, 0, 0, 0, 0, 6]);
  });

  it("a reader that throws does not stop the hub or other readers", async () => {
    const hub = new StreamHub("s", {}, 8);
    const got: number[] = [];
    const bad = hub.attach("bad", () => {
      throw new Error("boom");
    });
    hub.attach("good", (f) => void got.push((f as AudioFrame).rtpTime));
    hub.publish(frame(1));
    hub.publish(frame(2));
    await hub.drain();
    expect(got).toEqual([960, 1920]);
    expect(bad.stats.failed).toBe(2);
  });

  it("detached readers receive nothing more; closed hubs accept nothing", async () => {
    const hub = new StreamHub("s", {}, 8);
    const got: MediaFrame[] = [];
    const r = hub.attach("r", (f) => void got.push(f));
    r.detach();
    hub.publish(frame(1));
    await tick();
    expect(got).toEqual([]);
    let closed = 0;
    hub.onClose(() => closed++);
    hub.close();
    hub.close();
    expect(closed).toBe(1);
    expect(() => hub.attach("late", () => undefined)).toThrow(/closed/);
  });

  it("forwards keyframe requests to the installed requester", () => {
    const hub = new StreamHub("s", {}, 8);
    const reasons: string[] = [];
    hub.requestKeyframe("before any requester");
    hub.setKeyframeRequester((r) => reasons.push(r));
    hub.requestKeyframe("segment due");
    expect(reasons).toEqual(["segment due"]);
  });

  it("a removed close listener is not called and no longer held", () => {
    const hub = new StreamHub("s", {}, 4);
    const calls: string[] = [];
    const stopA = hub.onClose(() => calls.push("a"));
    hub.onClose(() => calls.push("b"));
    stopA();
    stopA(); // idempotent
    hub.close();
    expect(calls).toEqual(["b"]);
  });

  it("warns about a slow reader's drops at most once per interval, each warning summing the drops since the last", async () => {
    const { lines, clock, watch } = watched({ warnIntervalMs: 10_000 });
    const hub = new StreamHub("cam", {}, 2, watch);
    let release!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const slow = hub.attach("slow", () => gate);
    hub.publish(frame(0));
    await tick(); // the reader holds frame 0; its queue of 2 is empty
    for (let i = 1; i <= 7; i++) hub.publish(frame(i)); // 2 queued, 5 dropped
    expect(slow.stats.dropped).toBe(5);
    // The first drop is reported at once; the other 4 wait for the interval.
    expect(lines).toEqual([{ level: "warn", obj: { stream: "cam", reader: "slow", dropped: 1, failed: 0 }, msg: "reader is too slow, discarding 1 frames" }]);
    clock.now += 9_999;
    hub.publish(frame(8));
    expect(lines).toHaveLength(1); // one millisecond short of the interval: still quiet
    clock.now += 1;
    hub.publish(frame(9));
    expect(lines).toHaveLength(2);
    expect(lines[1]).toMatchObject({ level: "warn", obj: { dropped: 6 }, msg: "reader is too slow, discarding 6 frames" });
    release();
    await hub.drain();
    expect(lines).toHaveLength(2); // nothing unreported, nothing more to say
  });

  it("reports drops left unreported when the reader is detached", async () => {
    const { lines, watch } = watched();
    const hub = new StreamHub("cam", {}, 1, watch);
    const r = hub.attach("r", () => new Promise<void>(() => undefined)); // never finishes
    hub.publish(frame(0));
    await tick();
    for (let i = 1; i <= 4; i++) hub.publish(frame(i)); // 1 queued, 3 dropped: 1 reported now, 2 later
    r.detach();
    expect(lines.map((l) => l.obj.dropped)).toEqual([1, 2]);
  });

  it("aggregates callback errors into the same periodic warning, with the last error", async () => {
    const { lines, clock, watch } = watched({ warnIntervalMs: 5_000 });
    const hub = new StreamHub("cam", {}, 16, watch);
    let n = 0;
    const r = hub.attach("flaky", () => {
      n++;
      if (n % 2 === 0) throw new Error(`bad frame ${n}`); // fails every other frame: never detached
    });
    for (let i = 0; i < 6; i++) hub.publish(frame(i));
    await hub.drain();
    expect(r.stats.failed).toBe(3);
    expect(lines).toEqual([{ level: "warn", obj: { stream: "cam", reader: "flaky", dropped: 0, failed: 1, err: "bad frame 2" }, msg: "reader callback failed on 1 frames" }]);
    clock.now += 5_000;
    hub.publish(frame(6));
    await hub.drain();
    expect(lines[1]).toMatchObject({ obj: { failed: 2, err: "bad frame 6" }, msg: "reader callback failed on 2 frames" });
    expect(r.stats.detachedReason).toBeUndefined();
  });

  it("detaches a reader at exactly maxConsecutiveErrors errors in a row, reports why, and keeps the others fed", async () => {
    const { lines, watch } = watched({ maxConsecutiveErrors: 3 });
    const hub = new StreamHub("cam", {}, 16, watch);
    let calls = 0;
    let failing = true;
    const bad = hub.attach("bad", () => {
      calls++;
      if (failing) throw new Error("decoder gone");
    });
    const good: number[] = [];
    hub.attach("good", (f) => void good.push((f as AudioFrame).rtpTime));
    // Two errors, one success: the run of errors starts again.
    hub.publish(frame(0));
    hub.publish(frame(1));
    await hub.drain();
    failing = false;
    hub.publish(frame(2));
    await hub.drain();
    failing = true;
    hub.publish(frame(3));
    hub.publish(frame(4));
    await hub.drain();
    expect(bad.stats.detachedReason).toBeUndefined(); // 2 in a row: one short of the limit
    hub.publish(frame(5)); // the third in a row
    hub.publish(frame(6));
    await hub.drain();
    expect(calls).toBe(6); // frame 6 never reached it
    expect(bad.stats).toMatchObject({ failed: 5, detachedReason: "callback threw 3 times in a row (limit IFC_READER_MAX_CONSECUTIVE_ERRORS); last error: decoder gone" });
    expect(lines.filter((l) => l.level === "error")).toEqual([{ level: "error", obj: { stream: "cam", reader: "bad", failed: 5, err: "decoder gone" }, msg: "reader detached: its callback keeps failing" }]);
    // Still listed (with its reason) until its owner detaches it; the other reader got everything.
    expect(hub.readerStats.map((r) => r.name)).toEqual(["bad", "good"]);
    expect(good).toHaveLength(7);
    bad.detach();
    expect(hub.readerStats.map((r) => r.name)).toEqual(["good"]);
  });
});
