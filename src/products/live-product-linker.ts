import type { Logger } from "pino";
import { Counter, Gauge, type Registry } from "prom-client";
import type { Timers } from "../core/timers.js";
import { VIDEO_ANALYSIS_TOPIC, type BusEvent, type EventBus } from "../ports/event-bus.js";
import { COALESCER_DEFAULTS, SightingCoalescer, type CoalescerOptions, type Sighting } from "./sighting-coalescer.js";
import type { ProductKey, TraceStore } from "./trace-store.js";

/** Work orders already logged as unknown are remembered up to this many (then the memory starts over). */
const UNKNOWN_LOGGED_MAX = 10_000;

/** The sighting an analysis event carries, or undefined (no product, no recording, malformed). */
export function sightingOf(value: Record<string, unknown>): Sighting | undefined {
  const stream = value.stream_id;
  const recordingId = value.video_id;
  const info = value.product_info as Record<string, unknown> | undefined;
  const frame = value.frame as Record<string, unknown> | undefined;
  if (typeof stream !== "string" || typeof recordingId !== "string" || recordingId === "" || !info || typeof info !== "object") return undefined;
  const wo = info.work_order;
  if (typeof wo !== "string" || wo === "") return undefined;
  const at = typeof frame?.captured_at === "string" ? Date.parse(frame.captured_at) : typeof value.timestamp === "string" ? Date.parse(value.timestamp) : NaN;
  if (!Number.isFinite(at)) return undefined;
  const product: ProductKey = { work_order_id: wo };
  if (typeof info.instruction === "string") product.instruction_id = info.instruction;
  if (typeof info.machine_number === "string") product.machine_number = info.machine_number;
  if (typeof info.monthly_sequence === "string" && /^\d{1,9}$/.test(info.monthly_sequence)) product.monthly_sequence = Number(info.monthly_sequence);
  return { product, stream, recordingId, firstMs: at, lastMs: at };
}

export interface LinkerMetrics {
  sightings: Counter;
  dropped: Counter;
  unknown: Counter;
  written: Counter;
  flushFailures: Counter;
  pending: Gauge;
}

export function linkerMetrics(registry: Registry): LinkerMetrics {
  return {
    sightings: new Counter({ name: "ifc_trace_sightings_total", help: "Analysis events naming a product in a recording (QR codes seen live)", registers: [registry] }),
    dropped: new Counter({ name: "ifc_trace_sightings_dropped_total", help: "Sightings of a new (product, recording) pair dropped because the coalescing map was full", registers: [registry] }),
    unknown: new Counter({ name: "ifc_trace_unknown_products_total", help: "Coalesced sightings whose product is not in the master (not linked)", registers: [registry] }),
    written: new Counter({ name: "ifc_trace_links_written_total", help: "Recording links upserted from live sightings", registers: [registry] }),
    flushFailures: new Counter({ name: "ifc_trace_flush_failures_total", help: "Link flushes that failed (database down); their spans are retried", registers: [registry] }),
    pending: new Gauge({ name: "ifc_trace_sightings_pending", help: "(product, recording) pairs waiting for the next flush", registers: [registry] }),
  };
}

/**
 * A QR code seen live links the recording to its product: analysis events on
 * `video-analysis-events` → coalesced per (product, recording) → one upsert per pair per second.
 * Unknown products are counted and logged once per work order, never linked.
 */
export class LiveProductLinker {
  private readonly coalescer: SightingCoalescer;
  private unsubscribe: (() => void) | undefined;
  private readonly unknownLogged = new Set<string>();

  constructor(
    /** The store, or undefined while no product master is open (then no product can match). */
    private readonly store: () => Promise<TraceStore | undefined>,
    private readonly metrics: LinkerMetrics,
    private readonly log: Logger,
    timers: Timers,
    opts: CoalescerOptions = COALESCER_DEFAULTS,
  ) {
    this.coalescer = new SightingCoalescer((batch) => this.write(batch), timers, opts, (err) => {
      this.metrics.flushFailures.inc();
      this.syncGauges();
      this.log.warn({ err: (err as Error).message }, "product links not written; retried at the next flush");
    });
  }

  start(bus: EventBus): void {
    this.unsubscribe = bus.subscribe(VIDEO_ANALYSIS_TOPIC, (e) => this.onEvent(e));
  }

  onEvent(e: BusEvent): void {
    const s = sightingOf(e.value);
    if (!s) return;
    this.metrics.sightings.inc();
    this.coalescer.add(s);
    this.syncGauges();
  }

  private droppedSeen = 0;
  private syncGauges(): void {
    this.metrics.dropped.inc(this.coalescer.dropped - this.droppedSeen);
    this.droppedSeen = this.coalescer.dropped;
    this.metrics.pending.set(this.coalescer.size);
  }

  /** Writes what is pending now (tests, close). */
  async flush(): Promise<void> {
    await this.coalescer.flushNow();
    this.syncGauges();
  }

  async close(): Promise<void> {
    this.unsubscribe?.();
    await this.coalescer.close();
    this.syncGauges();
  }

  private async write(batch: Sighting[]): Promise<void> {
    const store = await this.store();
    if (!store) {
      // No metadata database open: there is no product master to match, and opening one here
      // (PGlite's WASM start) would stall this process's media for seconds.
      this.metrics.unknown.inc(batch.length);
      return;
    }
    const resolved = new Map<string, string | undefined>();
    const rows = [];
    for (const s of batch) {
      const k = JSON.stringify(s.product);
      if (!resolved.has(k)) resolved.set(k, await store.findProduct(s.product));
      const productId = resolved.get(k);
      if (!productId) {
        this.metrics.unknown.inc();
        const wo = s.product.work_order_id;
        if (!this.unknownLogged.has(wo)) {
          if (this.unknownLogged.size >= UNKNOWN_LOGGED_MAX) this.unknownLogged.clear();
          this.unknownLogged.add(wo);
          this.log.info({ product: s.product, stream: s.stream, recording: s.recordingId }, "QR code names a product not in the master: recording not linked");
        }
        continue;
      }
      rows.push({
        product_id: productId, kind: "recording" as const, ref_id: `${s.stream}/${s.recordingId}`, stream: s.stream,
        first_seen_at: s.firstMs, last_seen_at: s.lastMs, detail: { source: "qr" },
      });
    }
    await store.upsertLinks(rows);
    this.metrics.written.inc(rows.length);
  }
}
