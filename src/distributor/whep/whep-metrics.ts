import { Counter, Gauge, Histogram, Registry } from "prom-client";
import type { WhepEgress } from "./whep-egress.js";

/**
 * WHEP metrics (`ifc_whep_` prefix), read from the egress when scraped: nothing on the packet
 * path touches a metric. Its own registry, merged into `/metrics` by the control plane.
 */
export function whepMetrics(egress: WhepEgress): Registry {
  const reg = new Registry();
  const snap = () => egress.snapshot();
  new Gauge({
    name: "ifc_whep_viewers", help: "WHEP viewers per stream", labelNames: ["stream"], registers: [reg],
    collect() {
      this.reset();
      for (const [stream, n] of snap().viewersByStream) this.set({ stream }, n);
    },
  });
  const counter = (name: string, help: string, read: (s: ReturnType<typeof snap>) => number) =>
    new Counter({ name, help, registers: [reg], collect() { this.reset(); this.inc(read(snap())); } });
  counter("ifc_whep_sessions_total", "WHEP viewer sessions accepted", (s) => s.sessions);
  counter("ifc_whep_packets_sent_total", "RTP packets sent to viewers (retransmissions included)", (s) => s.packetsSent);
  counter("ifc_whep_packets_dropped_total", "RTP packets not sent to a viewer because it lagged (slow viewer)", (s) => s.packetsDropped);
  counter("ifc_whep_nack_packets_total", "Packets viewers asked for again (generic NACK)", (s) => s.nackedPackets);
  counter("ifc_whep_retransmissions_total", "Packets resent to viewers from the stream's packet cache", (s) => s.retransmitted);
  counter("ifc_whep_retransmission_misses_total", "NACKed packets no longer in the packet cache", (s) => s.retransmitMisses);
  counter("ifc_whep_retransmissions_suppressed_total", "NACKs not answered because the packet was resent less than 30 ms before", (s) => s.retransmitsSuppressed);
  counter("ifc_whep_cached_joins_total", "Viewers started from the stream's GOP cache (IFC_WHEP_JOIN=cached-gop)", (s) => s.cachedJoins);
  counter("ifc_whep_publisher_changes_total", "Publisher changes (resumes after a break) that viewers were carried across", (s) => s.publisherChanges);
  counter("ifc_whep_keyframe_requests_total", "Keyframe requests passed on to publishers (before their PLI rate limit)", (s) => s.keyframeRequestsSent);
  counter("ifc_whep_keyframe_requests_coalesced_total", "Viewer keyframe needs absorbed by an outstanding request", (s) => s.keyframeRequestsCoalesced);
  new Counter({
    name: "ifc_whep_rejected_total", help: "WHEP offers refused, by reason", labelNames: ["reason"], registers: [reg],
    collect() {
      this.reset();
      for (const [reason, n] of Object.entries(snap().rejected)) this.inc({ reason }, n);
    },
  });
  const ttff = new Histogram({
    name: "ifc_whep_time_to_first_frame_seconds", help: "WHEP POST to the first keyframe packet sent to the viewer", registers: [reg],
    buckets: [0.05, 0.1, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 3, 5],
    collect() {
      for (const ms of egress.takeFirstFrameMs()) ttff.observe(ms / 1000);
    },
  });
  return reg;
}
