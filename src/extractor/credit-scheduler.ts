/**
 * Credit backpressure for the AI feed, plus the global AI caps.
 *
 * - A frame goes to a worker only against a credit the worker granted. Credits live in pools:
 *   one pool per worker session (gRPC call); a pool may serve one stream or several.
 * - A stream that cannot send keeps only its newest frame: an older waiting frame is dropped
 *   and counted when a newer one arrives, so memory per stream is one frame whatever the lag.
 *   When credits arrive, the waiting frame goes at once, before anything decoded later.
 * - Streams sharing a pool take credits by priority (higher first, strictly); equal priorities
 *   take turns (least recently served first), so none of them starves.
 * - Global caps: at most `maxSessions` streams admitted to the AI feed, and at most
 *   `maxFramesPerSecond` frames sent in total (token bucket of `burst` frames). A frame held by
 *   the rate cap keeps its credit and waits like one without a credit.
 *
 * Pure and synchronous: every call returns the frames to send now (in order), and time comes
 * from the injected clock. When frames wait only for the rate cap, `nextPumpAtMs()` says when
 * to call `pump()`.
 */

export interface CreditSchedulerOptions {
  /** Streams admitted to the AI feed at once (integer >= 0, or Infinity). */
  maxSessions: number;
  /** Frames per second sent to all workers together (> 0, or Infinity for no cap). */
  maxFramesPerSecond: number;
  /** Token bucket size in frames (integer >= 1). Default: a tenth of a second, at least 1. */
  burst?: number;
  now?: () => number;
}

export type DropReason = "superseded" | "released";

/** Why a stream's frame waits, or undefined when nothing waits. */
export type WaitReason = "no-pool" | "credit" | "rate";

export interface Dispatch<F> {
  streamId: string;
  poolId: string;
  frame: F;
  /** How long the frame waited in the scheduler (ms); 0 when it went on arrival. */
  waitedMs: number;
}

export interface StreamCreditStats {
  priority: number;
  pool: string | undefined;
  offered: number;
  sent: number;
  dropped: number;
  /** 0 or 1: the newest frame waiting to be sent. */
  pending: number;
  waiting: WaitReason | undefined;
  /** True while a frame waits for a credit of the stream's pool (what QoS counts as lag). */
  starved: boolean;
}

export interface CreditSchedulerStats {
  admitted: number;
  refusedAdmissions: number;
  offered: number;
  sent: number;
  dropped: number;
  /** Frames offered for streams not admitted (ignored). */
  rejectedFrames: number;
  pools: number;
  /** Whole tokens in the rate bucket (Infinity without a cap). */
  tokens: number;
}

export interface CreditSchedulerEvents<F> {
  /** A frame left without being sent. */
  dropped?: (streamId: string, frame: F, reason: DropReason, atMs: number) => void;
  /** The stream's `starved` flag changed (feed to QosController.setCreditStarved). */
  starvedChange?: (streamId: string, starved: boolean, atMs: number) => void;
}

interface StreamState<F> {
  id: string;
  priority: number;
  pool: string | undefined;
  pending: { frame: F; atMs: number } | undefined;
  /** Admission order: the last tie-break, so equal streams are served deterministically. */
  order: number;
  /** Serve counter value at this stream's last send; lower goes first among equals. */
  lastServed: number;
  offered: number;
  sent: number;
  dropped: number;
  starved: boolean;
}

/** Tokens are kept in thousandths so integer clocks and rates refill exactly. */
const MILLI = 1000;

export class CreditScheduler<F> {
  readonly maxSessions: number;
  readonly maxFramesPerSecond: number;
  readonly burst: number;
  private readonly now: () => number;
  private readonly streams = new Map<string, StreamState<F>>();
  private readonly pools = new Map<string, { credits: number }>();
  private milliTokens: number;
  private lastRefill: number;
  private admissions = 0;
  private serves = 0;
  private refused = 0;
  private rejected = 0;
  private totals = { offered: 0, sent: 0, dropped: 0 };

  constructor(
    opts: CreditSchedulerOptions,
    private readonly events: CreditSchedulerEvents<F> = {},
  ) {
    const { maxSessions, maxFramesPerSecond } = opts;
    if (!(maxSessions === Infinity || (Number.isInteger(maxSessions) && maxSessions >= 0))) throw new RangeError(`maxSessions must be an integer >= 0 or Infinity, got ${maxSessions}`);
    if (!(maxFramesPerSecond > 0)) throw new RangeError(`maxFramesPerSecond must be > 0 (Infinity for no cap), got ${maxFramesPerSecond}`);
    const burst = opts.burst ?? (Number.isFinite(maxFramesPerSecond) ? Math.max(1, Math.ceil(maxFramesPerSecond / 10)) : 1);
    if (!(Number.isInteger(burst) && burst >= 1)) throw new RangeError(`burst must be an integer >= 1, got ${burst}`);
    this.maxSessions = maxSessions;
    this.maxFramesPerSecond = maxFramesPerSecond;
    this.burst = burst;
    this.now = opts.now ?? Date.now;
    this.milliTokens = burst * MILLI;
    this.lastRefill = this.now();
  }

  // ---- streams ------------------------------------------------------------------------

  /**
   * Admits a stream to the AI feed; false when `maxSessions` streams already are (counted in
   * `refusedAdmissions`). Admitting an admitted stream again succeeds and changes nothing.
   */
  admit(streamId: string, opts: { priority?: number; pool?: string } = {}): boolean {
    if (this.streams.has(streamId)) return true;
    if (opts.priority !== undefined && !Number.isFinite(opts.priority)) throw new RangeError(`priority must be finite, got ${opts.priority}`);
    if (opts.pool !== undefined && !this.pools.has(opts.pool)) throw new Error(`unknown credit pool ${opts.pool}`);
    if (this.streams.size >= this.maxSessions) {
      this.refused++;
      return false;
    }
    this.streams.set(streamId, {
      id: streamId,
      priority: opts.priority ?? 0,
      pool: opts.pool,
      pending: undefined,
      order: this.admissions++,
      // Just behind the streams waiting longest, just ahead of the one served last: a newcomer
      // neither jumps the round-robin queue nor waits a full extra turn.
      lastServed: this.serves - 0.5,
      offered: 0,
      sent: 0,
      dropped: 0,
      starved: false,
    });
    return true;
  }

  isAdmitted(streamId: string): boolean {
    return this.streams.has(streamId);
  }

  /** Frees the stream's session slot; a waiting frame is dropped ("released"). */
  release(streamId: string): void {
    const s = this.streams.get(streamId);
    if (!s) return;
    const now = this.now();
    if (s.pending) this.drop(s, s.pending.frame, "released", now);
    this.setStarved(s, false, now);
    this.streams.delete(streamId);
  }

  setPriority(streamId: string, priority: number): void {
    if (!Number.isFinite(priority)) throw new RangeError(`priority must be finite, got ${priority}`);
    this.stream(streamId).priority = priority;
  }

  /** Moves the stream to a pool (or none); a waiting frame goes at once if the pool can take it. */
  assign(streamId: string, poolId: string | undefined): Dispatch<F>[] {
    const s = this.stream(streamId);
    if (poolId !== undefined && !this.pools.has(poolId)) throw new Error(`unknown credit pool ${poolId}`);
    s.pool = poolId;
    return this.dispatch();
  }

  /**
   * A new frame for the stream. It goes now if the stream's pool has a credit and the rate cap
   * a token; otherwise it replaces (drops) the frame waiting before it.
   */
  offer(streamId: string, frame: F): Dispatch<F>[] {
    const s = this.streams.get(streamId);
    if (!s) {
      this.rejected++;
      return [];
    }
    const now = this.now();
    s.offered++;
    this.totals.offered++;
    if (s.pending) this.drop(s, s.pending.frame, "superseded", now);
    s.pending = { frame, atMs: now };
    return this.dispatch(now);
  }

  // ---- pools (worker sessions) --------------------------------------------------------

  /** A worker session starts with no credits until it grants some. */
  openPool(poolId: string): void {
    if (!this.pools.has(poolId)) this.pools.set(poolId, { credits: 0 });
  }

  /** The session ended: its credits are void and its streams wait for another pool. */
  closePool(poolId: string): void {
    if (!this.pools.delete(poolId)) return;
    for (const s of this.streams.values()) if (s.pool === poolId) s.pool = undefined;
    this.refreshStarved(this.now());
  }

  /** The worker granted `credits` more frames; waiting frames go at once. Unknown pools: ignored. */
  grant(poolId: string, credits: number): Dispatch<F>[] {
    const pool = this.pools.get(poolId);
    if (!pool || !(Number.isInteger(credits) && credits > 0)) return [];
    pool.credits += credits;
    return this.dispatch();
  }

  credits(poolId: string): number {
    return this.pools.get(poolId)?.credits ?? 0;
  }

  // ---- rate cap -----------------------------------------------------------------------

  /** Sends what the rate cap held back, now that time has passed. */
  pump(): Dispatch<F>[] {
    return this.dispatch();
  }

  /**
   * When a frame held only by the rate cap can go (clock ms), or undefined when none is held
   * that way. Set a timer for it and call `pump()`.
   */
  nextPumpAtMs(): number | undefined {
    const now = this.now();
    this.refill(now);
    let held = false;
    for (const s of this.streams.values()) if (this.waitReason(s) === "rate") held = true;
    if (!held) return undefined;
    return now + Math.ceil((MILLI - this.milliTokens) / this.maxFramesPerSecond);
  }

  // ---- observation --------------------------------------------------------------------

  streamStats(streamId: string): StreamCreditStats | undefined {
    const s = this.streams.get(streamId);
    if (!s) return undefined;
    return { priority: s.priority, pool: s.pool, offered: s.offered, sent: s.sent, dropped: s.dropped, pending: s.pending ? 1 : 0, waiting: this.waitReason(s), starved: s.starved };
  }

  stats(): CreditSchedulerStats {
    this.refill(this.now());
    return {
      admitted: this.streams.size,
      refusedAdmissions: this.refused,
      offered: this.totals.offered,
      sent: this.totals.sent,
      dropped: this.totals.dropped,
      rejectedFrames: this.rejected,
      pools: this.pools.size,
      tokens: Number.isFinite(this.maxFramesPerSecond) ? Math.floor(this.milliTokens / MILLI) : Infinity,
    };
  }

  // ---- internals ----------------------------------------------------------------------

  private dispatch(now = this.now()): Dispatch<F>[] {
    this.refill(now);
    const out: Dispatch<F>[] = [];
    for (;;) {
      if (!this.hasToken()) break;
      let best: StreamState<F> | undefined;
      for (const s of this.streams.values()) {
        if (!s.pending || s.pool === undefined || (this.pools.get(s.pool)?.credits ?? 0) < 1) continue;
        if (!best || s.priority > best.priority || (s.priority === best.priority && (s.lastServed < best.lastServed || (s.lastServed === best.lastServed && s.order < best.order)))) best = s;
      }
      if (!best?.pending || best.pool === undefined) break;
      const pool = this.pools.get(best.pool) as { credits: number };
      pool.credits--;
      this.takeToken();
      const { frame, atMs } = best.pending;
      best.pending = undefined;
      best.sent++;
      this.totals.sent++;
      best.lastServed = ++this.serves;
      out.push({ streamId: best.id, poolId: best.pool, frame, waitedMs: now - atMs });
    }
    this.refreshStarved(now);
    return out;
  }

  private waitReason(s: StreamState<F>): WaitReason | undefined {
    if (!s.pending) return undefined;
    if (s.pool === undefined) return "no-pool";
    if ((this.pools.get(s.pool)?.credits ?? 0) < 1) return "credit";
    return "rate";
  }

  private refreshStarved(now: number): void {
    for (const s of this.streams.values()) this.setStarved(s, this.waitReason(s) === "credit", now);
  }

  private setStarved(s: StreamState<F>, starved: boolean, now: number): void {
    if (s.starved === starved) return;
    s.starved = starved;
    this.events.starvedChange?.(s.id, starved, now);
  }

  private drop(s: StreamState<F>, frame: F, reason: DropReason, now: number): void {
    s.pending = undefined;
    s.dropped++;
    this.totals.dropped++;
    this.events.dropped?.(s.id, frame, reason, now);
  }

  private refill(now: number): void {
    if (!Number.isFinite(this.maxFramesPerSecond)) return;
    const elapsed = now - this.lastRefill;
    this.lastRefill = now;
    if (elapsed > 0) this.milliTokens = Math.min(this.burst * MILLI, this.milliTokens + elapsed * this.maxFramesPerSecond);
  }

  private hasToken(): boolean {
    return !Number.isFinite(this.maxFramesPerSecond) || this.milliTokens >= MILLI;
  }

  private takeToken(): void {
    if (Number.isFinite(this.maxFramesPerSecond)) this.milliTokens -= MILLI;
  }

  private stream(streamId: string): StreamState<F> {
    const s = this.streams.get(streamId);
    if (!s) throw new Error(`stream ${streamId} is not admitted`);
    return s;
  }
}
