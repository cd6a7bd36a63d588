import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { InvalidInput } from "../../../src/core/errors.js";
import { MAX_TIME_MS, MIN_TIME_MS, parseSpan, parseTime } from "../../../src/core/time-param.js";
import { fuzzParams } from "../../support/fuzz.js";
import { thrown } from "../../support/thrown.js";

describe("time parameters: one rule for every route", () => {
  it("takes epoch ms and ISO 8601 with a zone", () => {
    expect(parseTime("0", "t")).toBe(0);
    expect(parseTime("1700000000000.5", "t")).toBe(1700000000000.5);
    expect(parseTime(1700000000000, "t")).toBe(1700000000000);
    expect(parseTime("2000-01-01T00:00:00Z", "t")).toBe(Date.UTC(2000, 0, 1));
    expect(parseTime("2000-01-01T09:00:00.123+09:00", "t")).toBe(Date.UTC(2000, 0, 1, 0, 0, 0, 123));
    expect(parseTime("2000-01-01", "t")).toBe(Date.UTC(2000, 0, 1));
  });

  it("refuses what Date.parse would take: signs, spaces, words, zone-less local times, exponents", () => {
    for (const bad of ["-5", "1 2 3", " 5", "yesterday", "2000-01-01T00:00:00", "1e3", "0x10", "", "Infinity", "NaN", "+5", "5.", "2000-13-01"]) {
      const e = thrown(() => parseTime(bad, "start"), InvalidInput);
      expect(e.slug, bad).toBe("invalid-time");
      expect(e.details).toEqual({ parameter: "start" });
    }
    expect(thrown(() => parseTime(-1, "from"), InvalidInput).slug).toBe("invalid-time");
    expect(thrown(() => parseTime(1e21, "to"), InvalidInput).slug).toBe("invalid-time"); // String(1e21) is "1e+21"
  });

  it("holds the range at its edges: 1970-01-01 .. 9999-12-31T23:59:59.999Z", () => {
    expect(parseTime(String(MIN_TIME_MS), "t")).toBe(0);
    expect(parseTime(String(MAX_TIME_MS), "t")).toBe(MAX_TIME_MS);
    expect(parseTime("9999-12-31T23:59:59.999Z", "t")).toBe(MAX_TIME_MS);
    expect(thrown(() => parseTime(String(MAX_TIME_MS + 1), "t"), InvalidInput).slug).toBe("invalid-time");
    expect(thrown(() => parseTime("99999999999999999999", "to"), InvalidInput).slug).toBe("invalid-time");
    expect(thrown(() => parseTime("1969-12-31T23:59:59.999Z", "t"), InvalidInput).slug).toBe("invalid-time");
  });

  it("a span needs from strictly before to; an absent end is open", () => {
    expect(parseSpan("1", "2")).toEqual({ fromMs: 1, toMs: 2 });
    expect(parseSpan(undefined, undefined)).toEqual({ fromMs: -Infinity, toMs: Infinity });
    expect(parseSpan("5", undefined)).toEqual({ fromMs: 5, toMs: Infinity });
    expect(thrown(() => parseSpan("5", "1"), InvalidInput).slug).toBe("invalid-range");
    expect(thrown(() => parseSpan("5", "5"), InvalidInput).slug).toBe("invalid-range");
  });

  it("fuzz: any string is a time in range or an invalid-time InvalidInput, nothing else", () => {
    fc.assert(
      fc.property(fc.oneof(fc.string(), fc.stringMatching(/^[-+ .0-9eE:TZ]{0,24}$/), fc.double().map(String)), (s) => {
        try {
          const ms = parseTime(s, "t");
          return Number.isFinite(ms) && ms >= MIN_TIME_MS && ms <= MAX_TIME_MS;
        } catch (err) {
          return err instanceof InvalidInput && err.slug === "invalid-time";
        }
      }),
      fuzzParams(300),
    );
  });

  it("fuzz: every instant in range round-trips, as epoch ms and as ISO 8601", () => {
    fc.assert(
      fc.property(fc.integer({ min: MIN_TIME_MS, max: MAX_TIME_MS }), (ms) => parseTime(String(ms), "t") === ms && parseTime(new Date(ms).toISOString(), "t") === ms),
      fuzzParams(300),
    );
  });
});
