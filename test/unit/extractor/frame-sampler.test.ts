import { describe, expect, it } from "vitest";
import { FrameSampler } from "../../../src/extractor/frame-sampler.js";

/** rtpTimes of `seconds` of a `fps` source, with optional jitter of a few ticks. */
const times = (fps: number, seconds: number, jitter = 0): number[] =>
  Array.from({ length: fps * seconds }, (_, i) => Math.round((i * 90_000) / fps) + (i % 2 ? jitter : -jitter));

const kept = (s: FrameSampler, ts: number[]): number[] => ts.filter((t) => s.accept(t));

describe("FrameSampler", () => {
  it("30 -> 15 fps keeps every other frame exactly, despite timestamp jitter", () => {
    const k = kept(new FrameSampler(15), times(30, 10, 40));
    expect(k.length).toBe(150);
    for (let i = 1; i < k.length; i++) expect(k[i]! - k[i - 1]!).toBeGreaterThan(5000);
  });

  it("30 -> 8 fps keeps 8 per second on average, evenly spaced", () => {
    const k = kept(new FrameSampler(8), times(30, 10));
    expect(k.length).toBeGreaterThanOrEqual(79);
    expect(k.length).toBeLessThanOrEqual(81);
    for (let i = 1; i < k.length; i++) {
      expect(k[i]! - k[i - 1]!).toBeGreaterThanOrEqual(9000);
      expect(k[i]! - k[i - 1]!).toBeLessThanOrEqual(12000);
    }
  });

  it("a rate at or above the source's keeps every frame", () => {
    expect(kept(new FrameSampler(30), times(30, 3, 30)).length).toBe(90);
    expect(kept(new FrameSampler(60), times(30, 3)).length).toBe(90);
  });

  it("after a gap it keeps the first frame back, and after a timeline reset too", () => {
    const s = new FrameSampler(10);
    expect(s.accept(0)).toBe(true);
    expect(s.accept(3000)).toBe(false);
    expect(s.accept(900_000)).toBe(true); // 10 s later
    expect(s.accept(903_000)).toBe(false);
    expect(s.accept(0)).toBe(true); // timestamps restarted (reconnect)
  });

  it("setFps changes the rate at once", () => {
    const s = new FrameSampler(5);
    const ts = times(30, 2);
    expect(kept(s, ts.slice(0, 30)).length).toBe(5);
    s.setFps(30);
    expect(kept(s, ts.slice(30)).length).toBe(30);
    expect(() => s.setFps(0)).toThrow(RangeError);
  });
});
