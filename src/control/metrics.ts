import type { FastifyInstance } from "fastify";
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { SpoolingObjectStore } from "../adapters/storage/spooling-object-store.js";
import type { StreamRegistry } from "../core/stream-registry.js";
import type { AiFeed } from "../extractor/ai-feed.js";

export interface MetricsOptions {
  registry: StreamRegistry;
  spool: SpoolingObjectStore | undefined;
  ai?: AiFeed | undefined;
  /** Registries of other modules (WHEP), served on the same `/metrics`. */
  extra?: Registry[];
}

/**
 * Prometheus metrics (`ifc_` prefix) on `/metrics`. Values are read from the services when
 * scraped, so nothing on the media path touches a metric per packet.
 */
export async function metricsRoutes(app: FastifyInstance, opts: MetricsOptions): Promise<void> {
  const reg = new Registry();
  collectDefaultMetrics({ register: reg, prefix: "ifc_" });

  new Gauge({
    name: "ifc_live_streams", help: "Live publishing sessions", registers: [reg],
    collect() {
      this.set(opts.registry.list().length);
    },
  });
  const perStream = (name: string, help: string, read: (s: ReturnType<StreamRegistry["list"]>[number]) => number) =>
    new Gauge({
      name, help, labelNames: ["stream"], registers: [reg],
      collect() {
        this.reset();
        for (const s of opts.registry.list()) this.set({ stream: s.name }, read(s));
      },
    });
  perStream("ifc_stream_packets_received", "RTP packets received from the publisher", (s) => s.stats().packetsReceived);
  perStream("ifc_stream_packets_lost", "RTP packets lost (never recovered)", (s) => s.stats().packetsLost);
  perStream("ifc_stream_frames_received", "Access units assembled", (s) => s.stats().framesReceived);
  perStream("ifc_stream_bitrate_bps", "Incoming bitrate", (s) => s.stats().bitrateBps);
  new Gauge({
    name: "ifc_reader_frames_dropped", help: "Frames a stream reader dropped because its queue was full", labelNames: ["stream", "reader"], registers: [reg],
    collect() {
      this.reset();
      for (const s of opts.registry.list()) for (const r of s.hub.readerStats) this.set({ stream: s.name, reader: r.name }, r.dropped);
    },
  });

  const spool = opts.spool;
  if (spool) {
    new Gauge({ name: "ifc_upload_queue_objects", help: "Objects waiting for upload (memory and spool)", registers: [reg], collect() { this.set(spool.stats.queuedObjects); } });
    new Gauge({ name: "ifc_upload_queue_memory_bytes", help: "Bytes waiting for upload in memory", registers: [reg], collect() { this.set(spool.stats.memoryBytes); } });
    new Gauge({ name: "ifc_upload_spool_bytes", help: "Bytes waiting for upload in the local spool", registers: [reg], collect() { this.set(spool.stats.spoolBytes); } });
    new Counter({ name: "ifc_upload_failures_total", help: "Failed upload attempts", registers: [reg], collect() { this.reset(); this.inc(spool.stats.failures); } });
    new Counter({ name: "ifc_uploads_total", help: "Objects uploaded", registers: [reg], collect() { this.reset(); this.inc(spool.stats.uploaded); } });
    const lag = new Histogram({
      name: "ifc_upload_lag_seconds", help: "Time from an object being accepted to it being in the object store", registers: [reg],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300],
      collect() {
        for (const ms of spool.takeLags()) lag.observe(ms / 1000);
      },
    });
  }

  const ai = opts.ai;
  if (ai) {
    // Filled from the feed's samples at scrape time: the result path only appends to an array.
    const latency = new Histogram({
      name: "ifc_ai_latency_seconds",
      help: "Per frame, from the arrival of its last RTP packet: decode (decoded), to_worker (written to the worker's stream), worker_received (reported by the worker), total (result back); worker_round_trip is written → result",
      labelNames: ["stage"], registers: [reg],
      buckets: [0.002, 0.005, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.2, 0.5, 1, 2, 5],
      collect() {
        const names: Record<string, string> = { decodeMs: "decode", toWorkerMs: "to_worker", workerRoundTripMs: "worker_round_trip", totalMs: "total", workerReceivedMs: "worker_received" };
        for (const s of ai.takeLatencySamples()) latency.observe({ stage: names[s.stage] ?? s.stage }, s.ms / 1000);
      },
    });
    const perAi = (name: string, help: string, read: (s: NonNullable<ReturnType<AiFeed["stats"]>>) => number) =>
      new Gauge({
        name, help, labelNames: ["stream"], registers: [reg],
        collect() {
          this.reset();
          for (const s of opts.registry.list()) {
            const st = ai.stats(s.name);
            if (st) this.set({ stream: s.name }, read(st));
          }
        },
      });
    perAi("ifc_ai_frames_sent", "Frames sent to AI workers", (s) => s.framesSent);
    perAi("ifc_ai_frames_dropped", "Sampled frames dropped while waiting for a credit (superseded by a newer one)", (s) => s.framesDropped);
    perAi("ifc_ai_results", "Results received from AI workers", (s) => s.results);
    perAi("ifc_ai_qos_level", "QoS preset in force: 2 high, 1 medium, 0 low", (s) => ({ high: 2, medium: 1, low: 0 })[s.preset]);
    new Gauge({
      name: "ifc_ai_worker_state", help: "Per AI worker: 1 healthy and breaker closed, 0.5 half-open, 0 unhealthy or open", labelNames: ["worker"], registers: [reg],
      collect() {
        this.reset();
        for (const w of ai.pool.status()) this.set({ worker: w.address }, !w.healthy || w.breaker === "open" ? 0 : w.breaker === "half-open" ? 0.5 : 1);
      },
    });
  }

  const all = opts.extra?.length ? Registry.merge([reg, ...opts.extra]) : reg;
  app.get("/metrics", async (_req, reply) => reply.header("content-type", all.contentType).send(await all.metrics()));
}
