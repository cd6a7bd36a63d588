import { Gauge, Registry } from "prom-client";
import type { RtspServerStats } from "../ingest/rtsp/server.js";

export interface RtspMetrics {
  registry: Registry;
  /** Where the figures come from once the RTSP server runs (read at each scrape, never per packet). */
  attach(source: () => RtspServerStats): void;
}

/**
 * The RTSP server's figures for /metrics (`ifc_rtsp_` prefix), read from its stats at scrape
 * time. Made before the HTTP routes (the metrics route takes its registries then), attached
 * once the server listens; with RTSP off they stay empty.
 */
export function rtspMetrics(): RtspMetrics {
  const registry = new Registry();
  let source: (() => RtspServerStats) | undefined;
  const gauge = (name: string, help: string, read: (s: RtspServerStats) => number, labelNames: string[] = []): void => {
    new Gauge({
      name, help, labelNames, registers: [registry],
      collect() {
        const s = source?.();
        if (s) this.set(read(s));
      },
    });
  };
  gauge("ifc_rtsp_connections", "RTSP TCP connections open", (s) => s.connections);
  gauge("ifc_rtsp_publishing_sessions", "RTSP sessions recording (publishers)", (s) => s.publishing);
  gauge("ifc_rtsp_reading_sessions", "RTSP sessions playing (readers)", (s) => s.reading);
  gauge("ifc_rtsp_udp_pairs_in_use", "Server UDP port pairs of IFC_RTSP_UDP_PORT_MIN..MAX in use", (s) => s.udpPairsInUse);
  // Monotonic figures, exposed as gauges read from the server's own counters (a restart resets them).
  gauge("ifc_rtsp_refused_connections", "RTSP connections refused at IFC_RTSP_MAX_CONNECTIONS since start", (s) => s.refusedConnections);
  gauge("ifc_rtsp_timed_out_sessions", "RTSP sessions ended by IFC_RTSP_SESSION_TIMEOUT_MS or RTP silence since start", (s) => s.timedOut);
  gauge("ifc_rtsp_refused_requests", "RTSP requests answered 4xx/5xx, and unreadable input, since start", (s) => s.input.refusedRequests);
  gauge("ifc_rtsp_dropped_interleaved_frames", "Interleaved frames dropped (channel not set up, or empty) since start", (s) => s.input.unknownChannelFrames + s.input.badFrames);
  return {
    registry,
    attach(fn) {
      source = fn;
    },
  };
}
