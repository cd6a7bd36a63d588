/**
 * Per-stream automatic QoS: steps the AI feed down a preset when the worker lags, and back up
 * after a quiet period.
 *
 * Lag is judged over a sliding window (`windowMs`) from three signals, each against its own
 * threshold: the fraction of time a frame waited for want of a credit, the fraction of frames
 * dropped (superseded while waiting), and the median result latency. A step down needs lag at
 * every tick for `stepDownAfterMs`; a step up needs every signal below `recoverRatio` × its
 * threshold at every tick for `stepUpAfterMs` — the gap between the two thresholds and the two
 * durations is the hysteresis. A step up that is followed by a step down within its quiet
 * period counts as a failed probe and doubles the next quiet period (up to
 * `maxStepUpAfterMs`), so a worker just below a level's needs does not make the stream
 * oscillate every few seconds. A manual override pins the preset; automatic control resumes
 * from the pinned preset when it is cleared.
 *
 * Pure: time comes from the injected clock or the `atMs`/`nowMs` arguments, and decisions are
 * taken only in `tick()`.
 */
import { qosLevel, qosMin, qosStepDown, qosStepUp, type QosPresetName } from "./qos-presets.js";

export type LagSignal = "no-credit" | "drops" | "latency";

export type QosChangeCause = "lag" | "recovered" | "override" | "override-cleared" | "max-changed";

export interface QosMetrics {
  /** Fraction (0–1) of the window during which a frame waited for a credit. */
  noCreditRatio: number;
  /** dropped / (sent + dropped) in the window; 0 without frames. */
  dropRatio: number;
  /** Median result latency in the window (ms); undefined without results. */
  latencyMs: number | undefined;
  sent: number;
  dropped: number;
  results: number;
}

export interface QosChange {
  from: QosPresetName;
  to: QosPresetName;
  cause: QosChangeCause;
  /** For cause "lag": the signals over their thresholds. Empty otherwise. */
  signals: LagSignal[];
  metrics: QosMetrics;
  atMs: number;
}

export interface QosControllerOptions {
  /** Ceiling: automatic control and overrides never go above it. Default "high". */
  maxPreset?: QosPresetName;
  /** Floor for automatic step-downs (an override may go lower). Default "low". */
  minPreset?: QosPresetName;
  /** Start preset (capped at maxPreset). Default maxPreset. */
  initialPreset?: QosPresetName;
  /** Sliding window the signals are measured over (ms). Default 1000. */
  windowMs?: number;
  /** Lag must last this long before a step down (ms). Default 3000. */
  stepDownAfterMs?: number;
  /** Quiet must last this long before a step up (ms). Default 10 000. */
  stepUpAfterMs?: number;
  /** Longest quiet period after failed probes (ms). Default 60 000. */
  maxStepUpAfterMs?: number;
  /** Lag when the no-credit fraction exceeds this. Default 0.5. */
  noCreditRatio?: number;
  /** Lag when the drop ratio exceeds this. Default 0.5. */
  dropRatio?: number;
  /** Lag when the median result latency exceeds this (ms). Default 1000. */
  latencyMs?: number;
  /** Quiet when every signal is at most this fraction of its threshold. Default 0.5. */
  recoverRatio?: number;
  now?: () => number;
}

export type QosListener = (change: QosChange) => void;

/** An override above the configured maximum preset. */
export class QosAboveMaximumError extends RangeError {
  constructor(
    readonly preset: QosPresetName,
    readonly maxPreset: QosPresetName,
  ) {
    super(`QoS preset ${preset} is above the maximum ${maxPreset}`);
    this.name = "QosAboveMaximumError";
  }
}

interface Count {
  t: number;
  n: number;
}
interface Interval {
  start: number;
  end: number;
}

export class QosController {
  readonly windowMs: number;
  readonly stepDownAfterMs: number;
  readonly stepUpAfterMs: number;
  readonly maxStepUpAfterMs: number;
  readonly thresholds: { readonly noCreditRatio: number; readonly dropRatio: number; readonly latencyMs: number };
  readonly recoverRatio: number;
  readonly minPreset: QosPresetName;
  private readonly now: () => number;
  private max: QosPresetName;
  private current: QosPresetName;
  private pinned: QosPresetName | null = null;
  private readonly listeners = new Set<QosListener>();

  private readonly sent: Count[] = [];
  private readonly dropped: Count[] = [];
  private readonly latencies: { t: number; ms: number }[] = [];
  private readonly starved: Interval[] = [];
  private starvedSince: number | undefined;
  /** Start of the current observation period (creation or last preset change). */
  private windowOrigin: number;

  private lagSince: number | undefined;
  private quietSince: number | undefined;
  private lastAutoUpAt: number | undefined;
  private failedProbes = 0;

  constructor(opts: QosControllerOptions = {}) {
    this.now = opts.now ?? Date.now;
    this.max = opts.maxPreset ?? "high";
    this.minPreset = opts.minPreset ?? "low";
    if (qosLevel(this.minPreset) > qosLevel(this.max)) throw new RangeError(`minPreset ${this.minPreset} is above maxPreset ${this.max}`);
    this.current = qosMin(opts.initialPreset ?? this.max, this.max);
    this.windowMs = opts.windowMs ?? 1000;
    this.stepDownAfterMs = opts.stepDownAfterMs ?? 3000;
    this.stepUpAfterMs = opts.stepUpAfterMs ?? 10_000;
    this.maxStepUpAfterMs = opts.maxStepUpAfterMs ?? 60_000;
    this.thresholds = { noCreditRatio: opts.noCreditRatio ?? 0.5, dropRatio: opts.dropRatio ?? 0.5, latencyMs: opts.latencyMs ?? 1000 };
    this.recoverRatio = opts.recoverRatio ?? 0.5;
    const positive: [string, number][] = [["windowMs", this.windowMs], ["latencyMs", this.thresholds.latencyMs]];
    for (const [k, v] of positive) if (!(Number.isFinite(v) && v > 0)) throw new RangeError(`${k} must be > 0, got ${v}`);
    const nonNegative: [string, number][] = [["stepDownAfterMs", this.stepDownAfterMs], ["stepUpAfterMs", this.stepUpAfterMs]];
    for (const [k, v] of nonNegative) if (!(Number.isFinite(v) && v >= 0)) throw new RangeError(`${k} must be >= 0, got ${v}`);
    if (!(this.maxStepUpAfterMs >= this.stepUpAfterMs)) throw new RangeError("maxStepUpAfterMs must be >= stepUpAfterMs");
    for (const [k, v] of [["noCreditRatio", this.thresholds.noCreditRatio], ["dropRatio", this.thresholds.dropRatio]] as const) {
      // 1 is allowed and disables the signal (a ratio never exceeds 1).
      if (!(v >= 0 && v <= 1)) throw new RangeError(`${k} must be in [0, 1], got ${v}`);
    }
    if (!(this.recoverRatio >= 0 && this.recoverRatio <= 1)) throw new RangeError(`recoverRatio must be in [0, 1], got ${this.recoverRatio}`);
    this.windowOrigin = this.now();
  }

  /** The preset in force (the override while one is set). */
  get preset(): QosPresetName {
    return this.current;
  }

  get override(): QosPresetName | null {
    return this.pinned;
  }

  get maxPreset(): QosPresetName {
    return this.max;
  }

  /** Quiet time currently required before a step up (grows after failed probes). */
  get currentStepUpAfterMs(): number {
    return Math.min(this.maxStepUpAfterMs, this.stepUpAfterMs * 2 ** this.failedProbes);
  }

  onChange(listener: QosListener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  // ---- observations -------------------------------------------------------------------

  /** Frames sent to the worker. */
  recordSent(n = 1, atMs = this.now()): void {
    this.sent.push({ t: atMs, n });
    this.prune(atMs);
  }

  /** Frames dropped while waiting for a credit (superseded by a newer frame). */
  recordDropped(n = 1, atMs = this.now()): void {
    this.dropped.push({ t: atMs, n });
    this.prune(atMs);
  }

  /** A result came back `latencyMs` after its frame was sent. */
  recordResult(latencyMs: number, atMs = this.now()): void {
    if (!(Number.isFinite(latencyMs) && latencyMs >= 0)) return;
    this.latencies.push({ t: atMs, ms: latencyMs });
    this.prune(atMs);
  }

  /**
   * Whether a frame is waiting for a credit right now. Call on each change (the credit
   * scheduler's `onStarvedChange` reports exactly these); the time in between is integrated.
   */
  setCreditStarved(starved: boolean, atMs = this.now()): void {
    if (starved && this.starvedSince === undefined) this.starvedSince = atMs;
    if (!starved && this.starvedSince !== undefined) {
      this.starved.push({ start: this.starvedSince, end: atMs });
      this.starvedSince = undefined;
    }
    this.prune(atMs);
  }

  // ---- decisions ----------------------------------------------------------------------

  /** Signals over the window ending at `nowMs`. */
  metrics(nowMs = this.now()): QosMetrics {
    this.prune(nowMs);
    const from = Math.max(nowMs - this.windowMs, this.windowOrigin);
    const span = nowMs - from;
    let starvedMs = 0;
    const intervals = this.starvedSince !== undefined ? [...this.starved, { start: this.starvedSince, end: nowMs }] : this.starved;
    for (const i of intervals) starvedMs += Math.max(0, Math.min(i.end, nowMs) - Math.max(i.start, from));
    const inWindow = (t: number): boolean => t >= from && t <= nowMs;
    const sent = this.sent.filter((c) => inWindow(c.t)).reduce((a, c) => a + c.n, 0);
    const dropped = this.dropped.filter((c) => inWindow(c.t)).reduce((a, c) => a + c.n, 0);
    const lat = this.latencies.filter((l) => inWindow(l.t)).map((l) => l.ms).sort((a, b) => a - b);
    return {
      noCreditRatio: span > 0 ? Math.min(1, starvedMs / span) : 0,
      dropRatio: sent + dropped > 0 ? dropped / (sent + dropped) : 0,
      latencyMs: lat.length > 0 ? median(lat) : undefined,
      sent,
      dropped,
      results: lat.length,
    };
  }

  /**
   * The stream's frames are paused (the publisher's network broke): no step either way, and
   * the lag and quiet periods start over when frames come back — a break is neither lag nor
   * proof of recovery, so the stream resumes at the preset it had.
   */
  hold(): void {
    this.resetTimers();
  }

  /** Evaluates the signals and applies at most one automatic step; returns it, if any. */
  tick(nowMs = this.now()): QosChange | undefined {
    const m = this.metrics(nowMs);
    if (this.lastAutoUpAt !== undefined && nowMs - this.lastAutoUpAt >= this.currentStepUpAfterMs) {
      // The last step up held for a whole quiet period: the probe succeeded.
      this.failedProbes = 0;
      this.lastAutoUpAt = undefined;
    }
    if (this.pinned !== null) return undefined;
    const signals = this.lagSignals(m);
    if (signals.length > 0) {
      this.quietSince = undefined;
      this.lagSince ??= nowMs;
      const lower = qosStepDown(this.current);
      if (nowMs - this.lagSince >= this.stepDownAfterMs && lower !== undefined && qosLevel(lower) >= qosLevel(this.minPreset)) {
        if (this.lastAutoUpAt !== undefined) {
          this.failedProbes++;
          this.lastAutoUpAt = undefined;
        }
        return this.change(lower, "lag", signals, m, nowMs);
      }
      return undefined;
    }
    this.lagSince = undefined;
    if (!this.isQuiet(m)) {
      this.quietSince = undefined;
      return undefined;
    }
    this.quietSince ??= nowMs;
    const higher = qosStepUp(this.current);
    if (nowMs - this.quietSince >= this.currentStepUpAfterMs && higher !== undefined && qosLevel(higher) <= qosLevel(this.max)) {
      this.lastAutoUpAt = nowMs;
      return this.change(higher, "recovered", [], m, nowMs);
    }
    return undefined;
  }

  /**
   * Pins the preset (null resumes automatic control from the pinned preset). Throws
   * QosAboveMaximumError (a RangeError) for a preset above the maximum: the caller maps it to
   * a client error rather than have the request silently get less than it asked for.
   */
  setOverride(preset: QosPresetName | null, atMs = this.now()): QosChange | undefined {
    if (preset !== null && qosLevel(preset) > qosLevel(this.max)) throw new QosAboveMaximumError(preset, this.max);
    this.pinned = preset;
    this.resetTimers();
    if (preset === null) {
      // Nothing changes now; the change event tells listeners the preset is automatic again.
      const m = this.metrics(atMs);
      const change: QosChange = { from: this.current, to: this.current, cause: "override-cleared", signals: [], metrics: m, atMs };
      this.emit(change);
      return change;
    }
    if (preset === this.current) {
      const change: QosChange = { from: preset, to: preset, cause: "override", signals: [], metrics: this.metrics(atMs), atMs };
      this.emit(change);
      return change;
    }
    return this.change(preset, "override", [], this.metrics(atMs), atMs);
  }

  /** Lowers or raises the ceiling; a preset (or override) above a lowered ceiling comes down. */
  setMaxPreset(preset: QosPresetName, atMs = this.now()): QosChange | undefined {
    if (qosLevel(preset) < qosLevel(this.minPreset)) throw new RangeError(`maxPreset ${preset} is below minPreset ${this.minPreset}`);
    this.max = preset;
    if (this.pinned !== null) this.pinned = qosMin(this.pinned, preset);
    if (qosLevel(this.current) <= qosLevel(preset)) return undefined;
    return this.change(preset, "max-changed", [], this.metrics(atMs), atMs);
  }

  private lagSignals(m: QosMetrics): LagSignal[] {
    const out: LagSignal[] = [];
    if (m.noCreditRatio > this.thresholds.noCreditRatio) out.push("no-credit");
    if (m.dropRatio > this.thresholds.dropRatio) out.push("drops");
    if (m.latencyMs !== undefined && m.latencyMs > this.thresholds.latencyMs) out.push("latency");
    return out;
  }

  private isQuiet(m: QosMetrics): boolean {
    const r = this.recoverRatio;
    return m.noCreditRatio <= this.thresholds.noCreditRatio * r && m.dropRatio <= this.thresholds.dropRatio * r && (m.latencyMs === undefined || m.latencyMs <= this.thresholds.latencyMs * r);
  }

  private change(to: QosPresetName, cause: QosChangeCause, signals: LagSignal[], metrics: QosMetrics, atMs: number): QosChange {
    const change: QosChange = { from: this.current, to, cause, signals, metrics, atMs };
    this.current = to;
    this.resetTimers();
    // Observations made at the old preset say nothing about the new one.
    this.sent.length = 0;
    this.dropped.length = 0;
    this.latencies.length = 0;
    this.starved.length = 0;
    if (this.starvedSince !== undefined) this.starvedSince = atMs;
    this.windowOrigin = atMs;
    this.emit(change);
    return change;
  }

  private resetTimers(): void {
    this.lagSince = undefined;
    this.quietSince = undefined;
  }

  private emit(change: QosChange): void {
    for (const l of [...this.listeners]) l(change);
  }

  /** Keeps memory bounded by the window whether or not anyone ticks. */
  private prune(nowMs: number): void {
    const cutoff = nowMs - this.windowMs;
    // Entries arrive in time order, so the old ones are at the front.
    const trim = <T>(a: T[], time: (x: T) => number): void => {
      let k = 0;
      while (k < a.length && time(a[k] as T) < cutoff) k++;
      if (k > 0) a.splice(0, k);
    };
    trim(this.sent, (c) => c.t);
    trim(this.dropped, (c) => c.t);
    trim(this.latencies, (l) => l.t);
    trim(this.starved, (i) => i.end);
  }
}

function median(sorted: number[]): number {
  const mid = Math.floor(sorted.length / 2);
  return sorted.length % 2 === 1 ? (sorted[mid] as number) : ((sorted[mid - 1] as number) + (sorted[mid] as number)) / 2;
}
