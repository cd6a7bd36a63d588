import { describe, expect, it } from "vitest";
import { CpuAdmission } from "../../../src/core/admission.js";
import { CpuMeter } from "../../../src/core/cpu-meter.js";
import { CapacityExceeded } from "../../../src/core/errors.js";
import { ManualTimers } from "../../support/manual-timers.js";

/** A meter on a hand-moved clock and a CPU counter the test sets (µs). */
function meterAt(cores = 2): { meter: CpuMeter; timers: ManualTimers; cpu: { us: number } } {
  const timers = new ManualTimers();
  const cpu = { us: 0 };
  const meter = new CpuMeter({ windowMs: 2000, sampleEveryMs: 250, cores: () => cores, cpu: () => cpu.us, timers });
  return { meter, timers, cpu };
}

/** Moves the clock by `ms` (whole sample periods) while the process burns `cpuMsPerS` ms of CPU per second (integers: exact arithmetic). */
function run(timers: ManualTimers, cpu: { us: number }, ms: number, cpuMsPerS: number): void {
  for (let t = 0; t < ms; t += 250) {
    cpu.us += cpuMsPerS * 250;
    timers.advance(250);
  }
}

describe("CpuMeter", () => {
  it("reads the process's CPU as a percentage of all its cores, over the window", () => {
    const { meter, timers, cpu } = meterAt(2);
    meter.start();
    expect(meter.percent()).toBe(0); // one sample: no span yet
    run(timers, cpu, 2000, 500); // half of one core of two
    expect(meter.percent()).toBe(25);
  });

  it("forgets what is older than the window", () => {
    const { meter, timers, cpu } = meterAt(2);
    meter.start();
    run(timers, cpu, 2000, 2000); // both cores busy
    expect(meter.percent()).toBe(100);
    run(timers, cpu, 2000, 0); // then idle for a whole window
    expect(meter.percent()).toBe(0);
    run(timers, cpu, 1000, 1000); // one core busy for half the window
    expect(meter.percent()).toBe(25);
  });

  it("keeps no timer while stopped, and reads 0 then", () => {
    const { meter, timers, cpu } = meterAt(1);
    expect(timers.armed).toBe(0);
    meter.start();
    expect(timers.armed).toBe(1);
    run(timers, cpu, 1000, 300);
    expect(meter.percent()).toBe(30);
    meter.stop();
    expect(timers.armed).toBe(0);
    expect(meter.percent()).toBe(0);
    run(timers, cpu, 1000, 1000);
    expect(meter.percent()).toBe(0);
    // A restart measures afresh, not across the stopped span.
    meter.start();
    run(timers, cpu, 500, 100);
    expect(meter.percent()).toBe(10);
  });
});

describe("CpuAdmission", () => {
  const gate = (maxPercent: number, reading: { percent: number }, changes: boolean[] = []): CpuAdmission =>
    new CpuAdmission({ maxPercent, percent: () => reading.percent, retryAfterSeconds: 2, onChange: (refusing) => changes.push(refusing) });

  it("admits exactly at the limit and refuses just above it, with Retry-After and the limit named", () => {
    const { meter, timers, cpu } = meterAt(2);
    const admission = new CpuAdmission({ maxPercent: 1, percent: () => meter.percent(), retryAfterSeconds: 2 });
    meter.start();
    // 20 ms of CPU per second on 2 cores: exactly 1 %.
    run(timers, cpu, 2000, 20);
    expect(meter.percent()).toBe(1);
    expect(() => admission.admit("whip")).not.toThrow();
    // The window slides on by one sample holding one microsecond more: just above.
    cpu.us += 20 * 250 + 1;
    timers.advance(250);
    expect(meter.percent()).toBeGreaterThan(1);
    expect(meter.percent()).toBeLessThan(1.0001);
    let err: unknown;
    try {
      admission.admit("whip");
    } catch (e) {
      err = e;
    }
    expect(err).toBeInstanceOf(CapacityExceeded);
    const refused = err as CapacityExceeded;
    expect(refused.slug).toBe("cpu-saturated");
    expect(refused.retryAfterSeconds).toBe(2);
    expect(refused.message).toMatch(/IFC_MAX_CPU_PERCENT=1/);
    expect(refused.details).toMatchObject({ limit: "IFC_MAX_CPU_PERCENT", maxCpuPercent: 1 });
    expect(admission.refused).toEqual({ whip: 1, whep: 0, rtsp: 0 });
  });

  it("counts refusals per kind and reports the start and end of refusing once each", () => {
    const reading = { percent: 50 };
    const changes: boolean[] = [];
    const admission = gate(40, reading, changes);
    expect(() => admission.admit("whep")).toThrow(CapacityExceeded);
    expect(() => admission.admit("whep")).toThrow(CapacityExceeded);
    expect(() => admission.admit("rtsp")).toThrow(CapacityExceeded);
    reading.percent = 40;
    admission.admit("whip");
    admission.admit("whip");
    expect(admission.refused).toEqual({ whip: 0, whep: 2, rtsp: 1 });
    expect(changes).toEqual([true, false]);
  });

  it("0 is off: nothing is refused whatever the reading", () => {
    const admission = gate(0, { percent: 100 });
    expect(() => admission.admit("whip")).not.toThrow();
    expect(admission.refused).toEqual({ whip: 0, whep: 0, rtsp: 0 });
  });
});
