import { describe, expect, it } from "vitest";
import { TrackTimeline } from "../../../src/core/stream-timeline.js";

describe("TrackTimeline", () => {
  it("follows RTP time inside a session, from 0", () => {
    const t = new TrackTimeline(90_000, 2000);
    expect(t.map(5000, 1000)).toBe(0);
    expect(t.map(8000, 1033)).toBe(3000);
    expect(t.discontinuity).toBe(false);
  });

  it("continues a new session after the last unit by the wall-clock gap", () => {
    const t = new TrackTimeline(90_000, 2000);
    t.map(0, 10_000);
    t.map(3000, 10_033);
    t.newSession();
    // The new session's RTP time starts anywhere; 5 s of wall clock passed.
    expect(t.map(777_777, 15_033)).toBe(3000 + 5 * 90_000);
    expect(t.discontinuity).toBe(true);
    expect(t.map(780_777, 15_066)).toBe(3000 + 5 * 90_000 + 3000);
    expect(t.discontinuity).toBe(false);
    expect(t.discontinuities).toBe(1);
  });

  it("treats a jump beyond the limit as a break, and a hole within it as time", () => {
    const t = new TrackTimeline(90_000, 2000);
    t.map(0, 0);
    // 1 s of RTP after 1 s of arrival: a hole (lost packets), kept.
    expect(t.map(90_000, 1000)).toBe(90_000);
    expect(t.discontinuity).toBe(false);
    // 60 s of RTP after 33 ms of arrival: an encoder jump, mapped onto the wall clock.
    expect(t.map(90_000 + 60 * 90_000, 1033)).toBe(90_000 + Math.round(0.033 * 90_000));
    expect(t.discontinuity).toBe(true);
    // Backwards (encoder restarted at 0).
    expect(t.map(0, 1066)).toBe(90_000 + Math.round(0.066 * 90_000));
    expect(t.discontinuity).toBe(true);
  });

  it("a new session before any unit changes nothing", () => {
    const t = new TrackTimeline(48_000, 2000);
    t.newSession();
    expect(t.map(100, 5)).toBe(0);
    expect(t.discontinuity).toBe(false);
  });
});
