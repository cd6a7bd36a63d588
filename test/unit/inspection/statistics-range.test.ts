import { describe, expect, it } from "vitest";
import { MAX_STATISTICS_DAYS, MAX_TREND_HOURS, statisticsRange, trendRange } from "../../../src/inspection/statistics.js";

const DAY = 86_400_000;
const HOUR = 3_600_000;

describe("statistics and trend ranges", () => {
  it("takes both days inclusive, up to 366 days; one more is refused", () => {
    expect(statisticsRange("2025-07-27", "2025-07-27", 0)).toEqual({ from: Date.parse("2025-07-27T00:00:00Z"), to: Date.parse("2025-07-28T00:00:00Z") });
    const max = statisticsRange("2025-01-01", "2026-01-01", 0);
    expect((max.to - max.from) / DAY).toBe(MAX_STATISTICS_DAYS);
    expect(() => statisticsRange("2025-01-01", "2026-01-02", 0)).toThrow(/367 days/);
    expect(() => statisticsRange("2025-07-28", "2025-07-27", 0)).toThrow(/after/);
    expect(() => statisticsRange("2025-02-30", undefined, 0)).toThrow(/YYYY-MM-DD/);
  });

  it("defaults to the 30 days ending today (UTC)", () => {
    const now = Date.parse("2025-07-27T15:00:00Z");
    expect(statisticsRange(undefined, undefined, now)).toEqual({ from: Date.parse("2025-06-28T00:00:00Z"), to: Date.parse("2025-07-28T00:00:00Z") });
  });

  it("trends cover whole hours, the last 24 by default, at most 31 days", () => {
    const now = Date.parse("2025-07-27T15:20:00Z");
    expect(trendRange(undefined, undefined, now)).toEqual({ from: Date.parse("2025-07-26T16:00:00Z"), to: Date.parse("2025-07-27T16:00:00Z") });
    // Rounded outward to whole hours: to 16:00, so from may go back to 16:00 744 hours earlier, not a millisecond more.
    const end = Date.parse("2025-07-27T16:00:00Z");
    expect(trendRange(end - MAX_TREND_HOURS * HOUR, now, now)).toEqual({ from: end - MAX_TREND_HOURS * HOUR, to: end });
    expect(() => trendRange(end - MAX_TREND_HOURS * HOUR - 1, now, now)).toThrow(/745 hours; at most 744/);
    expect(() => trendRange(now, now - HOUR, now)).toThrow(/before/);
  });
});
