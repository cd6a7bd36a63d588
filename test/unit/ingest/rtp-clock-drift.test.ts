/**
 * RtpWallClock's drift correction, driven by injected arrivals and sender reports (no real
 * time): a publisher clock that runs slow or fast against ours, with network jitter on top.
 */
import { describe, expect, it } from "vitest";
import { RtpWallClock } from "../../../src/ingest/rtp-clock.js";

const HZ = 90_000;
const NTP_UNIX = 2_208_988_800n;
const ntpOf = (epochMs: number): bigint => ((BigInt(Math.floor(epochMs / 1000)) + NTP_UNIX) << 32n) + BigInt(Math.round(((epochMs % 1000) / 1000) * 2 ** 32));

/** Deterministic jitter in [0, 30) ms. */
function jitter(i: number): number {
  return ((i * 7919) % 97) * (30 / 97);
}

interface Run {
  clock: RtpWallClock;
  /** Per frame: mapped capture time minus true capture time (ms). */
  errors: number[];
}

/**
 * 30 fps for `seconds`. The publisher's RTP clock runs at HZ·(1 + ppm/1e6) of true time; each
 * frame arrives 40 ms plus jitter after its true capture. `sr` sends a sender report every 5 s
 * from a publisher wall clock that is `srOffsetMs` off ours and drifts at `srPpm`.
 */
function drive(opts: { ppm: number; seconds: number; tolerance?: number; sr?: { srOffsetMs: number; srPpm: number } }): Run {
  const clock = opts.tolerance === undefined ? new RtpWallClock(HZ) : new RtpWallClock(HZ, { driftToleranceMs: opts.tolerance });
  const t0 = 1_800_000_000_000;
  const rate = 1 + opts.ppm / 1e6;
  const errors: number[] = [];
  const frames = opts.seconds * 30;
  clock.start(12345, t0 + 40);
  for (let f = 0; f < frames; f++) {
    const trueMs = t0 + (f * 1000) / 30;
    const rtpTime = Math.round(((trueMs - t0) * HZ * rate) / 1000);
    if (opts.sr && f > 0 && f % 150 === 0) {
      const publisherMs = trueMs + opts.sr.srOffsetMs + ((trueMs - t0) * opts.sr.srPpm) / 1e6;
      clock.onSenderReport(ntpOf(publisherMs), (12345 + rtpTime) >>> 0);
    }
    const arrival = trueMs + 40 + jitter(f);
    errors.push(clock.wallMs(rtpTime, arrival) - trueMs);
  }
  return { clock, errors };
}

describe("RtpWallClock drift", () => {
  it("leaves a publisher clock without drift alone, whatever the jitter", () => {
    const { clock, errors } = drive({ ppm: 0, seconds: 60 });
    expect(clock.reanchors).toBe(0);
    expect(Math.abs(clock.driftMs)).toBeLessThan(5);
    expect(Math.max(...errors) - Math.min(...errors)).toBeLessThan(1);
  });

  it("a slow publisher clock (-2000 ppm): drift measured, re-anchored, capture times kept within the tolerance", () => {
    const tol = 50;
    const { clock, errors } = drive({ ppm: -2000, seconds: 120, tolerance: tol });
    // 240 ms of drift in 120 s against a 50 ms tolerance: about 4 re-anchors.
    expect(clock.reanchors).toBeGreaterThanOrEqual(3);
    expect(clock.reanchors).toBeLessThanOrEqual(6);
    const e0 = errors[0] as number;
    // Tolerance plus what one 2 s sample window lets accumulate (2 s · 2 ms/s) before it is seen.
    for (const e of errors) expect(Math.abs(e - e0)).toBeLessThanOrEqual(tol + 2 * 2 + 3); // + the jitter floor the window minimum misses
    // Without correction it would have drifted the full 240 ms.
    expect(Math.abs((errors.at(-1) as number) - e0)).toBeLessThan(tol + 5);
  });

  it("a fast publisher clock (+2000 ppm) is re-anchored as soon as a unit maps after its own arrival", () => {
    const tol = 30;
    const { clock, errors } = drive({ ppm: 2000, seconds: 60, tolerance: tol });
    expect(clock.reanchors).toBeGreaterThanOrEqual(3);
    const e0 = errors[0] as number;
    for (const e of errors) expect(Math.abs(e - e0)).toBeLessThanOrEqual(tol + 5);
  });

  it("around its edge: a drift under the tolerance is left, just over is corrected", () => {
    // -1000 ppm for 60 s is 60 ms; the windows see about 2 ms less than the full amount.
    expect(drive({ ppm: -1000, seconds: 60, tolerance: 65 }).clock.reanchors).toBe(0);
    expect(drive({ ppm: -1000, seconds: 60, tolerance: 50 }).clock.reanchors).toBe(1);
  });

  it("at its edge: a drift of exactly the tolerance is left, 1 ms more is corrected by that much", () => {
    const clock = new RtpWallClock(HZ, { driftToleranceMs: 50, sampleWindowMs: 1000 });
    clock.start(0, 0);
    // A unit every 100 ms of capture; `late` ms of extra delay on arrival, per 1 s window.
    const feed = (fromMs: number, toMs: number, late: number): void => {
      for (let t = fromMs; t <= toMs; t += 100) clock.wallMs(t * 90, t + late);
    };
    feed(0, 1000, 0); // baseline: 0
    feed(1100, 2100, 50);
    expect(clock.driftMs).toBe(50);
    expect(clock.reanchors).toBe(0);
    feed(2200, 3200, 51);
    expect(clock.driftMs).toBe(51);
    expect(clock.reanchors).toBe(1);
    expect(clock.correctionMs).toBe(51);
    expect(clock.wallMs(3300 * 90)).toBe(3300 + 51); // capture times follow the arrivals' pace again
  });

  it("defaults to a 100 ms tolerance (new RtpWallClock(clockHz))", () => {
    expect(drive({ ppm: -1500, seconds: 60 }).clock.reanchors).toBe(0); // 90 ms
    expect(drive({ ppm: -1500, seconds: 80 }).clock.reanchors).toBe(1); // 120 ms
  });

  it("with sender reports: keeps the publisher's clock offset, corrects only its drift", () => {
    const tol = 50;
    // The publisher's wall clock is 5 min ahead of ours and gains 3 ms a second on it.
    const { clock, errors } = drive({ ppm: 0, seconds: 120, tolerance: tol, sr: { srOffsetMs: 300_000, srPpm: 3000 } });
    expect(clock.usesSenderReports).toBe(true);
    // From the first report on, capture times are on the publisher's clock (offset kept)...
    const fromSr = errors.slice(150);
    expect(fromSr[0]).toBeGreaterThan(299_000);
    // ...but its 3 ms/s gain (345 ms over the run) is corrected to within the tolerance.
    const e0 = fromSr[0] as number;
    for (const e of fromSr) expect(Math.abs(e - e0)).toBeLessThanOrEqual(tol + 3 * 2 + 20);
    expect(clock.reanchors).toBeGreaterThanOrEqual(4);
  });
});
