import type { Timers } from "../../src/core/timers.js";

/** Timers on a clock the test moves by hand (`advance`): time-driven code tested without real waits. */
export class ManualTimers implements Timers {
  private t = 1_000_000;
  private pending: { at: number; fn: () => void; id: number }[] = [];
  private nextId = 1;
  setTimeout(fn: () => void, ms: number): unknown {
    const id = this.nextId++;
    this.pending.push({ at: this.t + ms, fn, id });
    return id;
  }
  clearTimeout(handle: unknown): void {
    this.pending = this.pending.filter((p) => p.id !== handle);
  }
  now(): number {
    return this.t;
  }
  /** Runs the earliest timer due within `ms` (the clock moves to it). */
  advance(ms: number): void {
    const until = this.t + ms;
    for (;;) {
      const due = this.pending.filter((p) => p.at <= until).sort((a, b) => a.at - b.at)[0];
      if (!due) break;
      this.pending = this.pending.filter((p) => p !== due);
      this.t = due.at;
      due.fn();
    }
    this.t = until;
  }
  get armed(): number {
    return this.pending.length;
  }
}
