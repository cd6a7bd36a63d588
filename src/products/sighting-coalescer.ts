import type { Timers } from "../core/timers.js";
import type { ProductKey } from "./trace-store.js";

/** A product's code seen in one recording of one stream over [firstMs, lastMs] (epoch ms). */
export interface Sighting {
  product: ProductKey;
  stream: string;
  recordingId: string;
  firstMs: number;
  lastMs: number;
}

export interface CoalescerOptions {
  /** Most (product, recording) pairs held between flushes; a new pair past it is dropped and counted. */
  maxPending: number;
  /** The longest a sighting waits before it is written. */
  flushIntervalMs: number;
}

export const COALESCER_DEFAULTS: Readonly<CoalescerOptions> = { maxPending: 10_000, flushIntervalMs: 1000 };

const keyOf = (s: Pick<Sighting, "product" | "stream" | "recordingId">): string =>
  JSON.stringify([s.stream, s.recordingId, s.product.work_order_id, s.product.instruction_id ?? null, s.product.machine_number ?? null, s.product.monthly_sequence ?? null]);

/**
 * Frames carrying the same code arrive 8–30 times a second per stream: they are merged in memory
 * per (product, recording) into one widening span and handed to `flush` at most once per
 * interval (and on close), so the database sees one write per pair per second, not per frame.
 * One flush runs at a time; a flush that fails puts its spans back (merged with newer ones).
 */
export class SightingCoalescer {
  private pending = new Map<string, Sighting>();
  private timer: unknown;
  private flushing: Promise<void> | undefined;
  private closed = false;
  /** New pairs refused because `maxPending` were waiting. */
  dropped = 0;
  /** Flushes that failed (their spans were kept for the next one). */
  failedFlushes = 0;

  constructor(
    private readonly flush: (batch: Sighting[]) => Promise<void>,
    private readonly timers: Timers,
    private readonly opts: CoalescerOptions = COALESCER_DEFAULTS,
    private readonly onFlushError: (err: unknown) => void = () => undefined,
  ) {}

  get size(): number {
    return this.pending.size;
  }

  /** Adds one frame's sighting; false when it was dropped (map full, or closed). */
  add(s: Sighting): boolean {
    if (this.closed) return false;
    const k = keyOf(s);
    const cur = this.pending.get(k);
    if (cur) {
      cur.firstMs = Math.min(cur.firstMs, s.firstMs);
      cur.lastMs = Math.max(cur.lastMs, s.lastMs);
      return true;
    }
    if (this.pending.size >= this.opts.maxPending) {
      this.dropped++;
      return false;
    }
    this.pending.set(k, { ...s, product: { ...s.product } });
    this.arm();
    return true;
  }

  private arm(): void {
    if (this.timer !== undefined || this.flushing) return;
    this.timer = this.timers.setTimeout(() => {
      this.timer = undefined;
      void this.flushNow();
    }, this.opts.flushIntervalMs);
  }

  /** Resolves once no flush is running (tests; close). */
  async idle(): Promise<void> {
    while (this.flushing) await this.flushing.catch(() => undefined);
  }

  /** Writes what is pending now (waits for a flush already running first). */
  async flushNow(): Promise<void> {
    await this.idle();
    if (this.pending.size === 0) return;
    const batch = [...this.pending.values()];
    this.pending = new Map();
    this.flushing = (async () => {
      try {
        await this.flush(batch);
      } catch (err) {
        this.failedFlushes++;
        this.onFlushError(err);
        // Put the spans back unless that would overflow: what no longer fits is counted.
        for (const s of batch) {
          const k = keyOf(s);
          const cur = this.pending.get(k);
          if (cur) {
            cur.firstMs = Math.min(cur.firstMs, s.firstMs);
            cur.lastMs = Math.max(cur.lastMs, s.lastMs);
          } else if (this.pending.size < this.opts.maxPending) this.pending.set(k, s);
          else this.dropped++;
        }
      }
    })();
    try {
      await this.flushing;
    } finally {
      this.flushing = undefined;
      if (this.pending.size > 0 && !this.closed) this.arm();
    }
  }

  /** Stops taking sightings and writes what is pending (one try). */
  async close(): Promise<void> {
    this.closed = true;
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer);
    this.timer = undefined;
    await this.flushNow();
  }
}
