import { describe, expect, it } from "vitest";
import { PAUSE_MIN_MS } from "../../../src/extractor/ai-feed.js";
import { startFeed, type Harness } from "./ai-feed-harness.js";

/**
 * A publisher's network break as the AI feed sees it: the stream (and its hub) lives on, the
 * decoder's frames stop for a while, then come again. The stream keeps its QoS preset, its
 * worker call and the credits the worker granted; the first frame after the break goes at once.
 */
const QOS = { stepDownAfterMs: 1000, stepUpAfterMs: 3000, noCreditRatio: 0.5, dropRatio: 0.5, latencyMs: 60_000 };

/** Frames every `everyMs` for `ms`; each one sent gets its result with one credit back when `answer`. */
function run(h: Harness, ms: number, everyMs: number, answer: boolean): void {
  const call = h.pool.callOf("cam");
  for (let t = 0; t < ms; t += everyMs) {
    h.frames.push("cam", h.clock);
    if (answer) for (const f of call.written.splice(0)) call.result(f.sequence, [], 1);
    h.clock.advance(everyMs);
  }
}

/** A stream stepped down to "medium" by credit starvation, then fed normally with spare credits. */
function steppedDown(): Harness {
  const h = startFeed({ qos: QOS, tickMs: 250 });
  h.publish("cam");
  // no credit: starved until one step down
  for (let t = 0; t < 3000 && h.feed.stats("cam")?.preset === "high"; t += 33) run(h, 33, 33, false);
  expect(h.feed.stats("cam")?.preset).toBe("medium");
  h.pool.callOf("cam").grant(4);
  // fed and answered until the lag has left QoS's window, not yet long enough to step back up
  run(h, 1500, 66, true);
  expect(h.feed.stats("cam")?.preset).toBe("medium");
  return h;
}

describe("AI feed across a network break", () => {
  it("a 10 s pause keeps the preset, the call and the credits; the first frame after it goes at once", () => {
    const h = steppedDown();
    const call = h.pool.callOf("cam");
    const before = h.feed.stats("cam");
    const credits = before?.credits ?? 0;
    expect(credits).toBeGreaterThan(0);
    expect(before?.outstanding).toBe(0);

    h.clock.advance(10_000); // no frame: quiet for three step-up periods
    const during = h.feed.stats("cam");
    expect(during?.preset).toBe("medium");
    expect(during?.credits).toBe(credits);
    expect(during?.state).toBe(before?.state);
    expect(h.pool.callCount("cam")).toBe(1);

    const sentBefore = call.written.length;
    h.frames.push("cam", h.clock);
    expect(call.written.length).toBe(sentBefore + 1);
    expect(h.feed.stats("cam")?.credits).toBe(credits - 1);
    // QoS starts its quiet period over after the break: no step up right away
    h.clock.advance(QOS.stepUpAfterMs / 2);
    expect(h.feed.stats("cam")?.preset).toBe("medium");
    h.feed.close();
  });

  it("a gap shorter than the pause limit is no pause: a quiet stream still recovers its preset", () => {
    const h = steppedDown();
    // frames every PAUSE_MIN_MS - 250 ms, answered: quiet, and never paused long enough to hold
    run(h, QOS.stepUpAfterMs + 2 * PAUSE_MIN_MS, PAUSE_MIN_MS - 250, true);
    expect(h.feed.stats("cam")?.preset).toBe("high");
    h.feed.close();
  });
});
