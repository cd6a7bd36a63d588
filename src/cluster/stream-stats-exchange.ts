import { EVENT_SCHEMA_VERSION, SYSTEM_METRICS_TOPIC, type EventBus } from "../ports/event-bus.js";
import { systemTimers, type Timers } from "../core/timers.js";

/** What one node says of one of its streams: the WebSocket `stream_stats` figures and the REST entry. */
export interface StreamFigures {
  ws: Record<string, unknown>;
  rest: Record<string, unknown>;
}

interface Heard extends StreamFigures {
  node: string;
  at: number;
}

export interface StreamStatsExchangeOptions {
  nodeId: string;
  /** How often each node tells its streams' figures (IFC_WS_STATS_INTERVAL_MS). */
  intervalMs: number;
  /** This node's live streams and their figures. */
  local: () => Iterable<[string, StreamFigures]>;
  timers?: Timers;
}

/**
 * Streams' figures across the cluster, through the event bus (`system-metrics`, keyed by
 * stream): each node tells its own streams' figures every interval and keeps what the others
 * said, so REST and the WebSocket feeds of any node show every stream. Figures older than three
 * intervals are not shown (their node stopped telling: it left, or the stream ended).
 */
export class StreamStatsExchange {
  private readonly heard = new Map<string, Heard>();
  private readonly timers: Timers;
  private timer: unknown;
  private unsubscribe: (() => void) | undefined;

  constructor(private readonly bus: EventBus, private readonly opts: StreamStatsExchangeOptions) {
    this.timers = opts.timers ?? systemTimers;
  }

  start(): void {
    this.unsubscribe = this.bus.subscribe(SYSTEM_METRICS_TOPIC, (e) => {
      const v = e.value as { type?: unknown; node?: unknown; at?: unknown; ws?: unknown; rest?: unknown };
      if (v.type !== "stream_stats" || typeof v.node !== "string" || v.node === this.opts.nodeId || typeof v.at !== "number") return;
      if (!isRecord(v.ws) || !isRecord(v.rest)) return;
      this.heard.set(e.key, { node: v.node, at: v.at, ws: v.ws, rest: v.rest });
    });
    this.tick();
  }

  /** Another node's latest figures of `stream`, if fresh. */
  get(stream: string): (StreamFigures & { node: string }) | undefined {
    const h = this.heard.get(stream);
    if (!h) return undefined;
    if (this.timers.now() - h.at > 3 * this.opts.intervalMs) {
      this.heard.delete(stream);
      return undefined;
    }
    return h;
  }

  close(): void {
    this.timers.clearTimeout(this.timer);
    this.unsubscribe?.();
  }

  private tick(): void {
    const at = this.timers.now();
    for (const [stream, figures] of this.opts.local()) {
      this.bus.publish({ topic: SYSTEM_METRICS_TOPIC, key: stream, value: { schema_version: EVENT_SCHEMA_VERSION, type: "stream_stats", node: this.opts.nodeId, stream, at, ...figures } });
    }
    this.timer = this.timers.setTimeout(() => this.tick(), this.opts.intervalMs);
  }
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === "object" && v !== null && !Array.isArray(v);
}
