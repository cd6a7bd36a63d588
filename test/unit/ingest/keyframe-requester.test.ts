import { afterEach, beforeEach, describe, expect, it, vi } from "vitest";
import { KeyframeRequester } from "../../../src/ingest/keyframe-requester.js";

describe("KeyframeRequester", () => {
  beforeEach(() => vi.useFakeTimers());
  afterEach(() => vi.useRealTimers());

  it("sends the first request at once and coalesces a burst into one more at the interval's end", () => {
    let sent = 0;
    const k = new KeyframeRequester(500, () => sent++, () => Date.now());
    k.request();
    expect(sent).toBe(1);
    for (let i = 0; i < 20; i++) k.request();
    expect(sent).toBe(1);
    vi.advanceTimersByTime(499);
    expect(sent).toBe(1);
    vi.advanceTimersByTime(1);
    expect(sent).toBe(2);
    expect(k.stats).toEqual({ sent: 2, coalesced: 20 });
  });

  it("never exceeds one request per interval under a steady stream of requests", () => {
    let sent = 0;
    const k = new KeyframeRequester(500, () => sent++, () => Date.now());
    for (let t = 0; t < 5000; t += 10) {
      k.request();
      vi.advanceTimersByTime(10);
    }
    expect(sent).toBeLessThanOrEqual(11);
    expect(sent).toBeGreaterThanOrEqual(10);
    k.stop();
  });
});
