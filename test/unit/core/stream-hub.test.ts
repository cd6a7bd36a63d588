import { describe, expect, it } from "vitest";
import { StreamHub } from "../../../src/core/stream-hub.js";
import type { AudioFrame, MediaFrame } from "../../../src/media/types.js";

const frame = (n: number): AudioFrame => ({ kind: "audio", codec: "opus", data: new Uint8Array([n]), rtpTime: n * 960, arrivalMs: n, wallClockMs: n });
const tick = () => new Promise((r) => setImmediate(r));

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
});
