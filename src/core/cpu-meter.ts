import { systemTimers, type Timers } from "./timers.js";

/** CPU time this process has used so far, user + system over all its threads, in µs. */
export type CpuClock = () => number;

export interface CpuMeterOptions {
  /** The sliding window the reading averages over (ms). */
  windowMs: number;
  /** How often a sample is taken while the meter runs (ms). */
  sampleEveryMs: number;
  /** Cores the process may use (os.availableParallelism()), read at each reading so that a changed affinity counts: 100 % is all of them busy. */
  cores: () => number;
  /** Injected by tests; process.cpuUsage() by default. */
  cpu?: CpuClock;
  /** Injected by tests: the clock and the sampling timer. */
  timers?: Timers;
}

interface Sample {
  atMs: number;
  cpuUs: number;
}

export const processCpu: CpuClock = () => {
  const u = process.cpuUsage();
  return u.user + u.system;
};

/**
 * The process's own CPU use as a percentage of the cores it may use, averaged over a sliding
 * window. It samples only between start() and stop() (the composition runs it while a stream is
 * live), so an idle server has no timer of it; stopped, it reads 0.
 */
export class CpuMeter {
  private samples: Sample[] = [];
  private timer: unknown;
  private readonly cpu: CpuClock;
  private readonly timers: Timers;

  constructor(private readonly opts: CpuMeterOptions) {
    if (opts.windowMs <= 0 || opts.sampleEveryMs <= 0) throw new RangeError("CpuMeter: window and sample period must be positive");
    this.cpu = opts.cpu ?? processCpu;
    this.timers = opts.timers ?? systemTimers;
  }

  get running(): boolean {
    return this.timer !== undefined;
  }

  start(): void {
    if (this.running) return;
    this.samples = [this.sample()];
    this.arm();
  }

  stop(): void {
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer);
    this.timer = undefined;
    this.samples = [];
  }

  /**
   * Percent of `cores` busy over the window (up to 100 × cores / cores = 100 when all are).
   * 0 until two samples exist. The product comes first so that whole figures stay exact: a
   * reading exactly at a limit compares equal to it.
   */
  percent(): number {
    const first = this.samples[0];
    const last = this.samples[this.samples.length - 1];
    if (!first || !last || last.atMs <= first.atMs) return 0;
    const cores = Math.max(1, this.opts.cores());
    return ((last.cpuUs - first.cpuUs) * 100) / ((last.atMs - first.atMs) * 1000 * cores);
  }

  private sample(): Sample {
    return { atMs: this.timers.now(), cpuUs: this.cpu() };
  }

  private arm(): void {
    this.timer = this.timers.setTimeout(() => {
      this.tick();
      if (this.timer !== undefined) this.arm();
    }, this.opts.sampleEveryMs);
  }

  private tick(): void {
    const s = this.sample();
    this.samples.push(s);
    // Keep the newest sample at or before the window's start, so the span covers the whole window.
    while (this.samples.length > 2 && this.samples[1]!.atMs <= s.atMs - this.opts.windowMs) this.samples.shift();
  }
}

