/**
 * A slow AI worker (2 credits/s) under a 30 fps source, through the credit scheduler and the
 * QoS controller wired as the worker client wires them, on a simulated clock (1 ms steps).
 * Then the worker recovers and the stream climbs back.
 */
import { describe, expect, it } from "vitest";
import { CreditScheduler, type Dispatch } from "../../../src/extractor/credit-scheduler.js";
import { QosController, type QosChange } from "../../../src/extractor/qos-controller.js";
import { computeOutputSpec } from "../../../src/extractor/qos-presets.js";

interface Frame {
  seq: number;
  capturedAt: number;
}

/** Like the reference worker: a credit back per frame processed, no sooner than 1/capacity after the last. */
class SimWorker {
  private readonly events: { at: number; kind: "result" | "credit"; frame?: Frame; sentAt?: number }[] = [];
  private nextCreditAt = 0;
  granted = 0;
  constructor(
    public capacityFps: number,
    public processingMs: number,
  ) {}
  receive(frame: Frame, now: number): void {
    const done = now + this.processingMs;
    this.events.push({ at: done, kind: "result", frame, sentAt: now });
    const creditAt = Math.max(done, this.nextCreditAt);
    this.nextCreditAt = creditAt + 1000 / this.capacityFps;
    this.events.push({ at: creditAt, kind: "credit" });
  }
  due(now: number) {
    const out = this.events.filter((e) => e.at <= now);
    for (const e of out) this.events.splice(this.events.indexOf(e), 1);
    return out;
  }
}

describe("slow worker scenario: credits, drops and QoS", () => {
  it("sends no more than granted, holds at most one frame, counts drops, steps down in time and back up after recovery", () => {
    const T0 = 0;
    let now = T0;
    const clock = () => now;
    const STEP_DOWN_MS = 3000;
    const STEP_UP_MS = 10_000;
    const TICK_MS = 100;
    const WINDOW_MS = 1000;
    const changes: QosChange[] = [];
    const qos = new QosController({ now: clock, windowMs: WINDOW_MS, stepDownAfterMs: STEP_DOWN_MS, stepUpAfterMs: STEP_UP_MS });
    qos.onChange((c) => changes.push(c));
    let dropped = 0;
    const scheduler = new CreditScheduler<Frame>(
      { maxSessions: 4, maxFramesPerSecond: 240, now: clock },
      {
        dropped: (_s, _f, _r, at) => {
          dropped++;
          qos.recordDropped(1, at);
        },
        starvedChange: (_s, starved, at) => qos.setCreditStarved(starved, at),
      },
    );
    const worker = new SimWorker(2, 40);
    scheduler.openPool("w");
    expect(scheduler.admit("cam", { pool: "w" })).toBe(true);
    const INITIAL_CREDITS = 2;
    let granted = 0;
    let sent = 0;
    const onSend = (ds: Dispatch<Frame>[]) => {
      for (const d of ds) {
        sent++;
        qos.recordSent(1, now);
        worker.receive(d.frame, now);
      }
      // The invariant under test, checked after every send.
      expect(sent).toBeLessThanOrEqual(granted);
    };
    const grant = (n: number) => {
      granted += n;
      onSend(scheduler.grant("w", n));
    };
    grant(INITIAL_CREDITS);

    // The source runs at 30 fps; the sampler passes frames at the preset's rate.
    let seq = 0;
    let nextSampleAt = 0;
    let offered = 0;
    let maxPending = 0;
    const run = (untilMs: number) => {
      for (; now <= untilMs; now++) {
        for (const e of worker.due(now)) {
          if (e.kind === "result") qos.recordResult(now - (e.sentAt as number), now);
          else grant(1);
        }
        const sourceFrameDue = Math.floor((now * 30) / 1000) !== Math.floor(((now - 1) * 30) / 1000) || now === 0;
        if (sourceFrameDue) {
          seq++;
          if (now >= nextSampleAt) {
            nextSampleAt += 1000 / computeOutputSpec(qos.preset, { width: 1920, height: 1080, fps: 30 }).fps;
            offered++;
            onSend(scheduler.offer("cam", { seq, capturedAt: now }));
            maxPending = Math.max(maxPending, scheduler.streamStats("cam")?.pending ?? 0);
          }
        }
        const due = scheduler.nextPumpAtMs();
        if (due !== undefined && due <= now) onSend(scheduler.pump());
        if (now % TICK_MS === 0) qos.tick(now);
      }
      now--; // leave the clock on the last simulated millisecond
    };

    // Phase 1: 20 s of a worker that takes 2 frames per second.
    run(20_000);
    const downs = changes.filter((c) => c.cause === "lag");
    expect(downs.map((c) => `${c.from}->${c.to}`)).toEqual(["high->medium", "medium->low"]);
    // Within the configured time: the no-credit fraction crosses its threshold (0.5) at most
    // half a window after starvation begins, then lag must hold for STEP_DOWN_MS; ticks add
    // up to one period. Never earlier than STEP_DOWN_MS.
    const bound = STEP_DOWN_MS + WINDOW_MS * 0.5 + 2 * TICK_MS;
    expect(downs[0]!.atMs - T0).toBeLessThanOrEqual(bound);
    expect(downs[0]!.atMs - T0).toBeGreaterThanOrEqual(STEP_DOWN_MS);
    expect(downs[1]!.atMs - downs[0]!.atMs).toBeLessThanOrEqual(bound);
    expect(downs[1]!.atMs - downs[0]!.atMs).toBeGreaterThanOrEqual(STEP_DOWN_MS);
    expect(downs[0]!.signals).toContain("no-credit");
    expect(downs[0]!.signals).toContain("drops");
    expect(qos.preset).toBe("low");
    const st = scheduler.streamStats("cam")!;
    expect(st.sent).toBe(sent);
    expect(sent).toBeLessThanOrEqual(granted);
    // About 2 per second plus the initial credits, never more.
    expect(sent).toBeLessThanOrEqual(INITIAL_CREDITS + 2 * 20 + 1);
    expect(sent).toBeGreaterThanOrEqual(2 * 20 - 2);
    expect(maxPending).toBe(1);
    expect(st.dropped).toBe(dropped);
    expect(offered).toBe(st.sent + st.dropped + st.pending); // every frame accounted for
    expect(dropped).toBeGreaterThan(offered / 2);

    // Phase 2: the worker recovers (ample capacity, 20 ms per frame).
    worker.capacityFps = 1000;
    worker.processingMs = 20;
    const recoveredAt = now;
    run(recoveredAt + 40_000);
    const ups = changes.filter((c) => c.cause === "recovered");
    expect(ups.map((c) => `${c.from}->${c.to}`)).toEqual(["low->medium", "medium->high"]);
    // First the credits the slow worker had already scheduled (one per 500 ms for each credit
    // in flight) come back and the window clears of the lag; then STEP_UP_MS of quiet per level.
    const drainMs = INITIAL_CREDITS * 500;
    expect(ups[0]!.atMs - recoveredAt).toBeLessThanOrEqual(drainMs + WINDOW_MS + STEP_UP_MS + 2 * TICK_MS);
    expect(ups[0]!.atMs - recoveredAt).toBeGreaterThanOrEqual(STEP_UP_MS);
    expect(ups[1]!.atMs - ups[0]!.atMs).toBeLessThanOrEqual(STEP_UP_MS + 2 * TICK_MS);
    expect(qos.preset).toBe("high");
    // No new lag after recovery, and at high the healthy worker takes (almost) every frame.
    expect(changes.filter((c) => c.cause === "lag")).toHaveLength(2);
    const before = scheduler.streamStats("cam")!;
    run(now + 5000);
    const after = scheduler.streamStats("cam")!;
    expect(after.sent - before.sent).toBeGreaterThanOrEqual(5 * 30 - 2);
    expect(after.dropped - before.dropped).toBe(0);
    expect(sent).toBeLessThanOrEqual(granted);
    expect(maxPending).toBe(1);
  });
});
