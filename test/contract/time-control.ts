import { waitFor } from "../support/wait-for.js";

/**
 * How a contract suite lets time pass. An embedded implementation runs on a clock the test moves
 * (exact, instant); a real engine expires keys on its own clock, so there the suite waits, on a
 * condition, never for a fixed time.
 */
export interface TimeControl {
  /** True when the clock is the test's own (exact values may be asserted). */
  readonly exact: boolean;
  /** The clock the implementation uses (epoch ms). */
  now(): number;
  /** `ms` pass, then `cond` must hold: the manual clock advances at once; real time is waited on (bounded). */
  after(ms: number, cond: () => Promise<boolean>, what: string): Promise<void>;
  /** At least `ms` pass while `tick` runs about every ms/8 (a heartbeat loop). */
  during(ms: number, tick: () => Promise<void>): Promise<void>;
}

export function manualTime(start = 1_764_400_000_123): TimeControl & { advance(ms: number): void } {
  let t = start;
  return {
    exact: true,
    now: () => t,
    advance(ms) {
      t += ms;
    },
    async after(ms, cond, what) {
      t += ms;
      if (!(await cond())) throw new Error(`${what}: not so after ${ms} ms on the manual clock`);
    },
    async during(ms, tick) {
      const step = Math.max(1, Math.floor(ms / 8));
      for (let passed = 0; passed < ms; passed += step) {
        t += step;
        await tick();
      }
    },
  };
}

export function realTime(): TimeControl {
  return {
    exact: false,
    now: () => Date.now(),
    async after(ms, cond, what) {
      await waitFor(cond, { timeoutMs: ms + 10_000, intervalMs: Math.max(10, Math.floor(ms / 10)), what });
    },
    async during(ms, tick) {
      const until = Date.now() + ms;
      await waitFor(
        async () => {
          await tick();
          return Date.now() >= until;
        },
        { timeoutMs: ms + 10_000, intervalMs: Math.max(10, Math.floor(ms / 8)), what: `${ms} ms of ticks` },
      );
    },
  };
}
