import type { FastifyInstance } from "fastify";
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from "prom-client";
import type { StreamRegistry } from "../core/stream-registry.js";
import { binary, problems } from "./schemas.js";
import type { AiFeed } from "../extractor/ai-feed.js";
import type { EventBusStats } from "../ports/event-bus.js";
import type { DiskSpaceStats } from "../ports/free-space.js";
import type { UploadStats } from "../ports/upload-stats.js";
import { liveSocketDrops } from "../rtc/socket-buffer.js";
import { DEFAULT_LAG_METRICS, EventLoopDelay, registerEventLoopMetrics } from "./event-loop-delay.js";

/** A sample period that never comes (2^31−1 ms, the longest a timer takes): prom-client's own monitor stays asleep. */
const DORMANT_MS = 2_147_483_647;

export interface MetricsOptions {
  registry: StreamRegistry;
  /** Upload figures of the object store (IFC_STORE=s3: the spool); undefined when nothing uploads. */
  uploads: UploadStats | undefined;
  ai?: AiFeed | undefined;
  /** Free space of the recordings' disk as the retention cleaner last saw it. */
  disk?: { readonly diskStats: DiskSpaceStats } | undefined;
  /** The event bus's counters (in-process or Kafka). */
  events?: { stats(): EventBusStats } | undefined;
  /** Registries of other modules (WHEP), served on the same `/metrics`. */
  extra?: Registry[];
}

type Labels = Record<string, string>;

/**
 * A counter whose value is read at scrape time from a cumulative figure the service keeps
 * (prom-client's Counter has no set(): reset, then add the total). A series restarts from 0
 * when its stream does, which Prometheus' rate() takes as a counter reset.
 */
function cumulativeCounter(reg: Registry, name: string, help: string, labelNames: string[], read: (add: (labels: Labels, total: number) => void) => void): void {
  new Counter({
    name, help, labelNames, registers: [reg],
    collect() {
      this.reset();
      read((labels, total) => this.inc(labels, total));
    },
  });
}

/**
 * Prometheus metrics (`ifc_` prefix) on `/metrics`. Values are read from the services when
 * scraped, so nothing on the media path touches a metric per packet. What only grows is a
 * counter named `_total`; what goes up and down is a gauge.
 */
export async function metricsRoutes(app: FastifyInstance, opts: MetricsOptions): Promise<void> {
  const reg = new Registry();
  // prom-client's event-loop monitor would sample every 10 ms for good, the main cost of an idle
  // server: its timer is pushed out of reach and its series replaced by a monitor that runs only
  // while a stream is live.
  collectDefaultMetrics({ register: reg, prefix: "ifc_", eventLoopMonitoringPrecision: DORMANT_MS });
  for (const name of DEFAULT_LAG_METRICS) reg.removeSingleMetric(name);
  const loop = new EventLoopDelay();
  registerEventLoopMetrics(reg, loop);
  const follow = (): void => loop.setActive(!closed && opts.registry.list().length > 0);
  let closed = false;
  opts.registry.onClaimed(follow);
  opts.registry.onEnded(follow);
  app.addHook("onClose", async () => {
    closed = true;
    loop.close();
  });

  new Gauge({
    name: "ifc_live_streams", help: "Live publishing sessions", registers: [reg],
    collect() {
      this.set(opts.registry.list().length);
    },
  });
  type Live = ReturnType<StreamRegistry["list"]>[number];
  const perStreamTotal = (name: string, help: string, read: (s: Live) => number) =>
    cumulativeCounter(reg, name, help, ["stream"], (add) => {
      for (const s of opts.registry.list()) add({ stream: s.name }, read(s));
    });
  perStreamTotal("ifc_stream_packets_received_total", "RTP packets received from the publisher", (s) => s.stats().packetsReceived);
  perStreamTotal("ifc_stream_packets_lost_total", "RTP packets lost (never recovered)", (s) => s.stats().packetsLost);
  perStreamTotal("ifc_stream_frames_received_total", "Access units assembled", (s) => s.stats().framesReceived);
  cumulativeCounter(reg, "ifc_rtc_socket_drops_total", "UDP packets the kernel dropped at live WebRTC sessions' sockets (receive buffer full; see IFC_RTC_RECV_BUFFER_BYTES). Linux only", [], (add) => {
    const drops = liveSocketDrops();
    if (drops !== undefined) add({}, drops);
  });
  new Gauge({
    name: "ifc_stream_bitrate_bps", help: "Incoming bitrate", labelNames: ["stream"], registers: [reg],
    collect() {
      this.reset();
      for (const s of opts.registry.list()) this.set({ stream: s.name }, s.stats().bitrateBps);
    },
  });
  new Gauge({
    name: "ifc_stream_buffer_bytes", help: "Bytes held in a live stream's buffer (GOP cache and pre-roll; IFC_STREAM_BUFFER_MS / _BYTES)", labelNames: ["stream"], registers: [reg],
    collect() {
      this.reset();
      for (const s of opts.registry.list()) this.set({ stream: s.name }, s.hub.buffer.stats.bytes);
    },
  });
  const perReaderTotal = (name: string, help: string, read: (r: Live["hub"]["readerStats"][number]) => number) =>
    cumulativeCounter(reg, name, help, ["stream", "reader"], (add) => {
      for (const s of opts.registry.list()) for (const r of s.hub.readerStats) add({ stream: s.name, reader: r.name }, read(r));
    });
  perReaderTotal("ifc_reader_frames_dropped_total", "Frames a stream reader dropped because its queue was full", (r) => r.dropped);
  perReaderTotal("ifc_reader_frames_failed_total", "Frames whose reader callback threw", (r) => r.failed);
  new Gauge({
    name: "ifc_reader_detached", help: "1 for a stream reader the hub detached because its callback kept failing (reason in GET /api/v1/streams)", labelNames: ["stream", "reader"], registers: [reg],
    collect() {
      this.reset();
      for (const s of opts.registry.list()) for (const r of s.hub.readerStats) if (r.detachedReason) this.set({ stream: s.name, reader: r.name }, 1);
    },
  });

  const uploads = opts.uploads;
  if (uploads) {
    new Gauge({ name: "ifc_upload_queue_objects", help: "Objects waiting for upload (memory and spool)", registers: [reg], collect() { this.set(uploads.stats.queuedObjects); } });
    new Gauge({ name: "ifc_upload_queue_memory_bytes", help: "Bytes waiting for upload in memory", registers: [reg], collect() { this.set(uploads.stats.memoryBytes); } });
    new Gauge({ name: "ifc_upload_spool_bytes", help: "Bytes waiting for upload in the local spool", registers: [reg], collect() { this.set(uploads.stats.spoolBytes); } });
    cumulativeCounter(reg, "ifc_upload_failures_total", "Failed upload attempts", [], (add) => add({}, uploads.stats.failures));
    cumulativeCounter(reg, "ifc_uploads_total", "Objects uploaded", [], (add) => add({}, uploads.stats.uploaded));
    const lag = new Histogram({
      name: "ifc_upload_lag_seconds", help: "Time from an object being accepted to it being in the object store", registers: [reg],
      buckets: [0.01, 0.05, 0.1, 0.25, 0.5, 1, 2, 5, 10, 30, 60, 300],
      collect() {
        for (const ms of uploads.takeLags()) lag.observe(ms / 1000);
      },
    });
  }

  const disk = opts.disk;
  if (disk) {
    new Gauge({
      name: "ifc_disk_free_bytes", help: "Free bytes on the disk of the fs store or the S3 spool (path: the directory measured), at the last retention pass", labelNames: ["path"], registers: [reg],
      collect() {
        this.reset();
        // Absent until measured: a 0 would read as a full disk.
        const { freeBytes, path } = disk.diskStats;
        if (freeBytes !== undefined && path !== undefined) this.set({ path }, freeBytes);
      },
    });
    new Gauge({ name: "ifc_disk_min_free_bytes", help: "IFC_RETENTION_MIN_FREE_BYTES (0: no check)", registers: [reg], collect() { this.set(disk.diskStats.minFreeBytes); } });
    new Gauge({ name: "ifc_disk_low", help: "1 while free space is below IFC_RETENTION_MIN_FREE_BYTES", registers: [reg], collect() { this.set(disk.diskStats.low ? 1 : 0); } });
    cumulativeCounter(reg, "ifc_disk_low_evictions_total", "Rolling segments deleted because free space was below the minimum", [], (add) => add({}, disk.diskStats.lowEvictions));
    cumulativeCounter(reg, "ifc_disk_low_episodes_total", "Times free space fell below the minimum", [], (add) => add({}, disk.diskStats.lowEpisodes));
  }

  const events = opts.events;
  if (events) {
    const counter = (name: string, help: string, field: Exclude<keyof EventBusStats, "queued">): void =>
      cumulativeCounter(reg, name, help, [], (add) => add({}, events.stats()[field]));
    counter("ifc_events_published_total", "Events accepted by the bus's publish()", "published");
    counter("ifc_events_delivered_total", "Handler calls on this node that completed", "delivered");
    counter("ifc_events_failed_total", "Handler calls on this node that threw or rejected", "failed");
    counter("ifc_events_dead_lettered_total", "Events sent to a dead-letter topic (<topic>.dlq)", "deadLettered");
    counter("ifc_events_dropped_total", "Events lost to a full bounded queue (slow subscriber, or Kafka unreachable too long)", "dropped");
    new Gauge({ name: "ifc_events_queued", help: "Events accepted and not yet handed to the engine (Kafka: waiting for the broker)", registers: [reg], collect() { this.set(events.stats().queued); } });
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
    type AiStats = NonNullable<ReturnType<AiFeed["stats"]>>;
    const eachAi = (fn: (stream: string, st: AiStats) => void): void => {
      for (const s of opts.registry.list()) {
        const st = ai.stats(s.name);
        if (st) fn(s.name, st);
      }
    };
    const perAiTotal = (name: string, help: string, read: (s: AiStats) => number) =>
      cumulativeCounter(reg, name, help, ["stream"], (add) => eachAi((stream, st) => add({ stream }, read(st))));
    perAiTotal("ifc_ai_frames_sent_total", "Frames sent to AI workers", (s) => s.framesSent);
    perAiTotal("ifc_ai_frames_dropped_total", "Sampled frames dropped while waiting for a credit (superseded by a newer one)", (s) => s.framesDropped);
    perAiTotal("ifc_ai_results_total", "Results received from AI workers", (s) => s.results);
    new Gauge({
      name: "ifc_ai_qos_level", help: "QoS preset in force: 2 high, 1 medium, 0 low", labelNames: ["stream"], registers: [reg],
      collect() {
        this.reset();
        eachAi((stream, st) => this.set({ stream }, ({ high: 2, medium: 1, low: 0 })[st.preset]));
      },
    });
    new Gauge({
      name: "ifc_ai_worker_state", help: "Per AI worker: 1 healthy and breaker closed, 0.5 half-open, 0 unhealthy or open", labelNames: ["worker"], registers: [reg],
      collect() {
        this.reset();
        for (const w of ai.pool.status()) this.set({ worker: w.address }, !w.healthy || w.breaker === "open" ? 0 : w.breaker === "half-open" ? 0.5 : 1);
      },
    });
  }

  const all = opts.extra?.length ? Registry.merge([reg, ...opts.extra]) : reg;
  app.get("/metrics", {
    config: { auth: { permission: "system:view", metricsNetworks: true } },
    schema: {
      tags: ["system"], summary: "Prometheus metrics (system:view, or open from IFC_METRICS_NETWORKS)",
      response: { 200: binary("Prometheus text exposition format", "text/plain"), ...problems() },
    },
  }, async (_req, reply) => reply.header("content-type", all.contentType).send(await all.metrics()));
}
