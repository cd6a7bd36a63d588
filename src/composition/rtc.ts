import type { Logger } from "pino";
import type { Config } from "../config.js";
import type { AdmissionGate } from "../core/admission.js";
import type { StreamRegistry } from "../core/stream-registry.js";
import { STREAM_EVENTS_TOPIC, type EventBus, type StreamLifecycleEvent } from "../ports/event-bus.js";
import { WhepEgress } from "../distributor/whep/whep-egress.js";
import { WhipIngest } from "../ingest/whip-ingest.js";
import { ldcPeerOptionsFrom, ldcWhipPeers, loadNodeDatachannel } from "../ingest/ldc-whip-peer.js";
import { weriftWhipPeers } from "../ingest/werift-whip-peer.js";
import { RtcPortBudget } from "../rtc/port-budget.js";
import { icePortsPerSession, peerOptionsFrom } from "../rtc/werift-peer.js";
import { installFastRtpHeaderParsing } from "../rtc/werift-fast-rtp.js";
import { installNativeX25519 } from "../rtc/werift-native-x25519.js";
import { installReceivePathFastPaths } from "../rtc/werift-receive-path.js";
import type { CloseStack } from "./close-stack.js";

export interface BuiltRtc {
  ingest: WhipIngest;
  whep: WhepEgress;
}

/**
 * WebRTC in and out: WHIP publishers and WHEP viewers, sharing one budget of ICE ports.
 * Closing ends viewers first, then publishers (whose streams end, so recordings close).
 */
export function buildRtc(config: Config, logger: Logger, stack: CloseStack, deps: { registry: StreamRegistry; bus: EventBus; admission?: AdmissionGate | undefined }): BuiltRtc {
  // werift's RTP header parse is 9 % of the ingest CPU (werift-fast-rtp.ts); a werift whose parse
  // changed keeps its own, and says so.
  if (installFastRtpHeaderParsing() === "disagrees") logger.warn({ component: "rtc" }, "werift's RTP header parse differs from the one checked against: the fast parse is not installed");
  // A DTLS handshake's X25519 in pure JS stalled the loop ~40 ms per joining peer (werift-native-x25519.ts).
  if (installNativeX25519() === "disagrees") logger.warn({ component: "rtc" }, "OpenSSL's X25519 disagrees with tweetnacl's: DTLS keeps tweetnacl");
  const receivePath = installReceivePathFastPaths();
  if (Object.values(receivePath).includes(false)) logger.warn({ component: "rtc", ...receivePath }, "werift's receive path differs from the one checked against: parts marked false keep werift's own");
  // Stream lifecycle (published, reconnecting, resumed, unpublished) onto the bus, keyed by stream.
  deps.registry.onLifecycle((e) => {
    const value: StreamLifecycleEvent = { ...e };
    deps.bus.publish({ topic: STREAM_EVENTS_TOPIC, key: e.stream, value });
  });
  // The kernel-cap warning is given once per process, whichever session sizes a socket first.
  const socketWarn = (obj: Record<string, unknown>, msg: string): void => logger.warn({ component: "rtc", ...obj }, msg);
  const rtcPorts = config.rtcPortMin > 0 ? RtcPortBudget.forRange(config.rtcPortMin, config.rtcPortMax, icePortsPerSession(config)) : RtcPortBudget.unlimited();
  // IFC_RTC_INGEST_TRANSPORT: libdatachannel is native and opt-in, so it is loaded only when chosen.
  const libdatachannel = config.rtcIngestTransport === "libdatachannel";
  if (libdatachannel) loadNodeDatachannel().catch((err: unknown) => logger.error({ component: "whip", err }, "IFC_RTC_INGEST_TRANSPORT=libdatachannel: node-datachannel does not load; WHIP publishers will fail"));
  const ingest = new WhipIngest(deps.registry, {
    peers: libdatachannel ? ldcWhipPeers(ldcPeerOptionsFrom(config)) : weriftWhipPeers(peerOptionsFrom(config, socketWarn)),
    iceRestartTimeoutMs: config.iceRestartTimeoutMs,
    connectTimeoutMs: config.whipConnectTimeoutMs,
    rtpSilenceTimeoutMs: config.rtpSilenceTimeoutMs,
    rtcpSilenceTimeoutMs: config.rtcpSilenceTimeoutMs,
    clockDriftToleranceMs: config.clockDriftToleranceMs,
    iceDisconnectedTimeoutMs: config.iceDisconnectedTimeoutMs,
    pliMinIntervalMs: config.pliMinIntervalMs,
    rembBitrateBps: config.rembBitrateBps,
    reorderWindowPackets: config.reorderWindowPackets,
  }, rtcPorts, logger.child({ component: "whip" }), deps.admission);
  stack.push("whip ingest", () => ingest.shutdown());
  const whep = new WhepEgress(deps.registry, {
    peer: peerOptionsFrom(config, socketWarn),
    connectTimeoutMs: config.whipConnectTimeoutMs,
    idleTimeoutMs: config.whepIdleTimeoutMs,
    maxViewersPerStream: config.whepMaxViewersPerStream,
    maxViewers: config.whepMaxViewers,
    packetCachePackets: config.whepPacketCachePackets,
    streamBufferMs: config.streamBufferMs,
    streamBufferBytes: config.streamBufferBytes,
    join: config.whepJoin,
    strictProfile: config.whepStrictProfile,
  }, rtcPorts, logger.child({ component: "whep" }), deps.admission);
  stack.push("whep egress", () => whep.shutdown());
  return { ingest, whep };
}
