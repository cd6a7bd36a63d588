import { monitorEventLoopDelay, type IntervalHistogram } from "node:perf_hooks";
import { setImmediate as nextTurn } from "node:timers/promises";
import { Gauge, type Metric, type MetricValueWithName, type Registry } from "prom-client";

/** How often the monitor's timer samples the loop, ms (prom-client's default precision). */
export const EVENT_LOOP_SAMPLE_MS = 10;
/** Upper bounds of `ifc_event_loop_delay_seconds`, s: from a 1 ms hiccup to a 1 s stall. */
export const EVENT_LOOP_DELAY_BUCKETS_S = [0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1];

const NS_PER_S = 1e9;

/**
 * The event loop's delay, sampled by perf_hooks.monitorEventLoopDelay only while `active`:
 * its timer wakes the process every EVENT_LOOP_SAMPLE_MS, which is most of what an idle server
 * would otherwise spend. Disabling keeps what was recorded; each scrape folds the window into
 * the cumulative histogram and resets it.
 */
export class EventLoopDelay {
  /**
   * Made at the first enable: on Node 20 a monitor created and never enabled is an active
   * handle ("IntervalHistogram") that outlives the server.
   */
  private histogram: IntervalHistogram | undefined;
  private enabled = false;
  /** Cumulative count per bucket (non-cumulative across buckets: one slot per bound, last is +Inf). */
  private readonly counts = new Array<number>(EVENT_LOOP_DELAY_BUCKETS_S.length + 1).fill(0);
  private total = 0;
  private sumS = 0;

  /** Samples in the current window (not reset by reading). */
  get sampled(): number {
    return this.histogram?.count ?? 0;
  }

  get active(): boolean {
    return this.enabled;
  }

  setActive(on: boolean): void {
    if (on === this.enabled) return;
    this.enabled = on;
    if (on) (this.histogram ??= monitorEventLoopDelay({ resolution: EVENT_LOOP_SAMPLE_MS })).enable();
    else this.histogram?.disable();
  }

  /**
   * The window since the last call (raw intervals between samples, ns, as prom-client reported
   * them: a free loop reads ~EVENT_LOOP_SAMPLE_MS), folded into the cumulative buckets as delays
   * (interval − sample period); undefined when nothing was sampled.
   */
  takeWindow(): { min: number; max: number; mean: number; stddev: number; p50: number; p90: number; p99: number } | undefined {
    const h = this.histogram;
    if (!h || h.count === 0) return undefined;
    const window = { min: h.min, max: h.max, mean: h.mean, stddev: h.stddev, p50: h.percentile(50), p90: h.percentile(90), p99: h.percentile(99) };
    this.fold(h);
    h.reset();
    return window;
  }

  /** Buckets from the HDR histogram's percentile steps: the share of samples at or below each bound. */
  private fold(h: IntervalHistogram): void {
    const period = EVENT_LOOP_SAMPLE_MS * 1e6;
    const steps = [...h.percentiles].sort((a, b) => a[0] - b[0]);
    let below = 0;
    for (let i = 0; i < EVENT_LOOP_DELAY_BUCKETS_S.length; i++) {
      const boundNs = (EVENT_LOOP_DELAY_BUCKETS_S[i] as number) * NS_PER_S + period;
      let share = 0;
      for (const [p, v] of steps) if (v <= boundNs) share = p / 100;
      const atOrBelow = Math.round(share * h.count);
      this.counts[i] = (this.counts[i] as number) + (atOrBelow - below);
      below = atOrBelow;
    }
    this.counts[EVENT_LOOP_DELAY_BUCKETS_S.length] = (this.counts[EVENT_LOOP_DELAY_BUCKETS_S.length] as number) + (h.count - below);
    this.total += h.count;
    this.sumS += (Math.max(0, h.mean - period) * h.count) / NS_PER_S;
  }

  /** The cumulative histogram in prom-client's shape. */
  values(name: string): MetricValueWithName<string>[] {
    const out: MetricValueWithName<string>[] = [];
    let acc = 0;
    EVENT_LOOP_DELAY_BUCKETS_S.forEach((le, i) => {
      acc += this.counts[i] as number;
      out.push({ metricName: `${name}_bucket`, labels: { le }, value: acc });
    });
    out.push({ metricName: `${name}_bucket`, labels: { le: "+Inf" }, value: this.total });
    out.push({ metricName: `${name}_sum`, labels: {}, value: this.sumS });
    out.push({ metricName: `${name}_count`, labels: {}, value: this.total });
    return out;
  }

  close(): void {
    this.setActive(false);
  }
}

/** Names prom-client's collectDefaultMetrics gives its own event-loop monitor (replaced here). */
export const DEFAULT_LAG_METRICS = ["lag", "lag_min", "lag_max", "lag_mean", "lag_stddev", "lag_p50", "lag_p90", "lag_p99"].map((s) => `ifc_nodejs_eventloop_${s}_seconds`);

/**
 * Registers on `reg`: `ifc_event_loop_delay_seconds` (histogram of delays beyond the sample
 * period), `ifc_event_loop_delay_max_seconds` (the window's longest, reset per scrape), and the
 * `ifc_nodejs_eventloop_lag_*` gauges prom-client used to export, with the same meaning (raw
 * sample intervals per scrape window; `_lag_seconds` is the scrape's own setImmediate delay).
 * Window figures read 0 when no stream was live since the last scrape.
 */
export function registerEventLoopMetrics(reg: Registry, eld: EventLoopDelay): void {
  const name = "ifc_event_loop_delay_seconds";
  const help = "Event-loop delay beyond the sample period, measured while at least one stream is live (perf_hooks.monitorEventLoopDelay)";
  const gauges = {
    min: "The minimum recorded event loop delay.", max: "The maximum recorded event loop delay.", mean: "The mean of the recorded event loop delays.",
    stddev: "The standard deviation of the recorded event loop delays.", p50: "The 50th percentile of the recorded event loop delays.",
    p90: "The 90th percentile of the recorded event loop delays.", p99: "The 99th percentile of the recorded event loop delays.",
  } as const;
  new Gauge({
    name: "ifc_nodejs_eventloop_lag_seconds", help: "Lag of event loop in seconds.", registers: [reg],
    // Registered first, so its collect runs first at a scrape: it takes the window the gauges below read.
    async collect() {
      const w = eld.takeWindow();
      for (const [k, g] of Object.entries(window)) {
        g.reset();
        if (w) g.set(w[k as keyof typeof gauges] / NS_PER_S);
      }
      maxDelay.reset();
      if (w) maxDelay.set(Math.max(0, w.max / NS_PER_S - EVENT_LOOP_SAMPLE_MS / 1000));
      const start = process.hrtime.bigint();
      await nextTurn();
      this.set(Number(process.hrtime.bigint() - start) / NS_PER_S);
    },
  });
  const window = Object.fromEntries(Object.entries(gauges).map(([k, h]) => [k, new Gauge({ name: `ifc_nodejs_eventloop_lag_${k}_seconds`, help: `${h} Per scrape window, while a stream is live.`, registers: [reg] })])) as Record<keyof typeof gauges, Gauge>;
  const maxDelay = new Gauge({ name: "ifc_event_loop_delay_max_seconds", help: "Longest event-loop delay since the last scrape (reset by each scrape), while a stream is live", registers: [reg] });
  new Gauge({ name: "ifc_event_loop_monitor_active", help: "1 while the event-loop delay is sampled (a stream is live), 0 at idle", registers: [reg], collect() { this.set(eld.active ? 1 : 0); } });
  // prom-client's Histogram only takes one observation at a time; the buckets here come whole from the HDR histogram.
  const histogram = {
    name, help, type: "histogram", aggregator: "sum",
    get: () => Promise.resolve({ name, help, type: "histogram", aggregator: "sum", values: eld.values(name) }),
    reset: () => undefined,
  };
  reg.registerMetric(histogram as unknown as Metric);
}
