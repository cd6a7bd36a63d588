import { systemTimers, type Timers } from "../core/timers.js";
import { checkLimit, decodeCursor, encodeCursor, type Page } from "./paging.js";
import { percent } from "./statistics.js";

export interface QualityMonitorOptions {
  /** Percent of NG over the window above which an alert is raised (IFC_QUALITY_ALERT_NG_RATE). */
  ngRateThreshold: number;
  /** The sliding window (IFC_QUALITY_WINDOW_MS). */
  windowMs: number;
  /** quality_update push period while clients are connected (IFC_QUALITY_UPDATE_INTERVAL_MS). */
  updateIntervalMs: number;
  timers?: Timers;
  /** Judgements kept for the window; past it the oldest go first (the figures then cover less than the window). */
  maxEvents?: number;
  /** Alerts kept for GET /quality/alerts (newest kept). */
  maxAlerts?: number;
  /** Each alert as it is raised (the bus). */
  onAlert?: (alert: QualityAlert) => void;
}

export const DEFAULT_MAX_EVENTS = 100_000;
export const DEFAULT_MAX_ALERTS = 1000;

export interface QualityFigures {
  hourly_ok_rate: number | null;
  current_ng_count: number;
  active_inspectors: number;
  ng_rate: number | null;
  total: number;
  window_ms: number;
}

export interface QualityAlert {
  alert_id: string;
  type: "quality_alert";
  severity: "high";
  message: string;
  data: { current_ng_rate: number; threshold: number; time_window: string };
  raised_at: string;
}

type Send = (msg: Record<string, unknown>) => void;

/** "last_hour" for the documents' hour, else the window in its largest whole unit. */
export function windowLabel(ms: number): string {
  if (ms === 3_600_000) return "last_hour";
  if (ms % 3_600_000 === 0) return `last_${ms / 3_600_000}h`;
  if (ms % 60_000 === 0) return `last_${ms / 60_000}m`;
  return ms % 1000 === 0 ? `last_${ms / 1000}s` : `last_${ms}ms`;
}

/**
 * Live quality over a sliding window: one final judgement per (session, item), replaced when a
 * person overrides the AI. Raises `quality_alert` once when the NG rate crosses the threshold
 * upward, and re-arms when it falls back to or below it (a result, or the window sliding on).
 * Pushes `quality_update` to attached clients after each judgement and every update interval.
 */
export class QualityMonitor {
  /** Insertion order is time order: a replaced judgement is re-inserted at the end with its new time. */
  private readonly events = new Map<string, { at: number; ng: boolean; inspector: string | null }>();
  private readonly alertLog: QualityAlert[] = [];
  private readonly clients = new Set<Send>();
  private armed = true;
  private seq = 0;
  private timer: unknown;
  private readonly timers: Timers;
  private readonly maxEvents: number;
  private readonly maxAlerts: number;

  constructor(private readonly opts: QualityMonitorOptions) {
    this.timers = opts.timers ?? systemTimers;
    this.maxEvents = opts.maxEvents ?? DEFAULT_MAX_EVENTS;
    this.maxAlerts = opts.maxAlerts ?? DEFAULT_MAX_ALERTS;
  }

  /** Judgements made before this process started; an NG rate already above the threshold is not news (no alert). */
  seed(finals: readonly { key: string; at: number; ng: boolean; inspector: string | null }[]): void {
    for (const f of [...finals].sort((a, b) => a.at - b.at)) this.put(f.key, f.at, f.ng, f.inspector);
    this.evict();
    const rate = this.rate();
    this.armed = !(rate !== null && rate > this.opts.ngRateThreshold);
    // Clients attached while the seed was read saw empty figures: give them the real ones.
    this.broadcast(this.update());
  }

  /** A final judgement of (session, item) now. */
  record(key: string, ng: boolean, inspector: string | null): void {
    // The window may have slid since the last look (no client ticking): judge that state first, so a rate that fell re-arms.
    this.evict();
    this.evaluate();
    this.put(key, this.timers.now(), ng, inspector);
    this.evaluate();
    this.broadcast(this.update());
  }

  figures(): QualityFigures {
    this.evict();
    let ng = 0;
    const inspectors = new Set<string>();
    for (const e of this.events.values()) {
      if (e.ng) ng++;
      if (e.inspector) inspectors.add(e.inspector);
    }
    const total = this.events.size;
    return { hourly_ok_rate: percent(total - ng, total), current_ng_count: ng, active_inspectors: inspectors.size, ng_rate: percent(ng, total), total, window_ms: this.opts.windowMs };
  }

  /** Newest first. */
  alerts(page: { limit?: number; cursor?: string }): Page<QualityAlert> {
    const limit = checkLimit(page.limit);
    const newestFirst = [...this.alertLog].reverse();
    let start = 0;
    if (page.cursor) {
      const [seq] = decodeCursor(page.cursor, ["number"]);
      start = newestFirst.findIndex((a) => Number(a.alert_id) < (seq as number));
      if (start < 0) start = newestFirst.length;
    }
    const items = newestFirst.slice(start, start + limit);
    const last = items.at(-1);
    return { items, next_cursor: start + limit < newestFirst.length && last ? encodeCursor([Number(last.alert_id)]) : null, total: newestFirst.length };
  }

  /** A client of /ws/quality-metrics: the figures at once, then every message. */
  attach(send: Send): () => void {
    this.clients.add(send);
    send(this.update());
    if (this.clients.size === 1) this.schedule();
    return () => {
      this.clients.delete(send);
      if (this.clients.size === 0 && this.timer !== undefined) {
        this.timers.clearTimeout(this.timer);
        this.timer = undefined;
      }
    };
  }

  /** IFC_QUALITY_ALERT_NG_RATE, percent. */
  get threshold(): number {
    return this.opts.ngRateThreshold;
  }

  get clientCount(): number {
    return this.clients.size;
  }

  close(): void {
    this.clients.clear();
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer);
    this.timer = undefined;
  }

  private schedule(): void {
    this.timer = this.timers.setTimeout(() => {
      this.timer = undefined;
      if (this.clients.size === 0) return;
      this.evict();
      this.evaluate();
      this.broadcast(this.update());
      this.schedule();
    }, this.opts.updateIntervalMs);
  }

  private put(key: string, at: number, ng: boolean, inspector: string | null): void {
    this.events.delete(key);
    this.events.set(key, { at, ng, inspector });
    while (this.events.size > this.maxEvents) this.events.delete(this.events.keys().next().value!);
  }

  private evict(): void {
    const since = this.timers.now() - this.opts.windowMs;
    for (const [k, e] of this.events) {
      if (e.at > since) break;
      this.events.delete(k);
    }
  }

  private rate(): number | null {
    let ng = 0;
    for (const e of this.events.values()) if (e.ng) ng++;
    return this.events.size > 0 ? (ng / this.events.size) * 100 : null;
  }

  private evaluate(): void {
    const rate = this.rate();
    const above = rate !== null && rate > this.opts.ngRateThreshold;
    if (!above) {
      this.armed = true;
      return;
    }
    if (!this.armed) return;
    this.armed = false;
    const alert: QualityAlert = {
      alert_id: String(++this.seq),
      type: "quality_alert",
      severity: "high",
      message: `NG rate exceeded threshold (>${this.opts.ngRateThreshold}%)`,
      data: { current_ng_rate: Math.round(rate * 10) / 10, threshold: this.opts.ngRateThreshold, time_window: windowLabel(this.opts.windowMs) },
      raised_at: new Date(this.timers.now()).toISOString(),
    };
    this.alertLog.push(alert);
    if (this.alertLog.length > this.maxAlerts) this.alertLog.shift();
    this.opts.onAlert?.(alert);
    const { type, severity, message, data } = alert;
    this.broadcast({ type, severity, message, data });
  }

  private update(): Record<string, unknown> {
    const f = this.figures();
    return { type: "quality_update", timestamp: new Date(this.timers.now()).toISOString(), metrics: { hourly_ok_rate: f.hourly_ok_rate, current_ng_count: f.current_ng_count, active_inspectors: f.active_inspectors } };
  }

  private broadcast(msg: Record<string, unknown>): void {
    for (const send of [...this.clients]) send(msg);
  }
}
