import type { Logger } from "pino";
import type { Config } from "../config.js";
import type { AdmissionGate } from "../core/admission.js";
import type { StreamRegistry } from "../core/stream-registry.js";
import { STREAM_EVENTS_TOPIC, type EventBus, type StreamLifecycleEvent } from "../ports/event-bus.js";
import { loadOnce } from "../core/load-once.js";
import type { WhepSession } from "../distributor/whep/whep-session.js";
import { WhepEgress } from "../distributor/whep/whep-egress.js";
import type { WhipSession } from "../ingest/whip-session.js";
import { WhipIngest } from "../ingest/whip-ingest.js";
import type { WhipPeerFactory } from "../ingest/whip-peer.js";
import type { weriftWhipPeers } from "../ingest/werift-whip-peer.js";
import { peerOptionsFrom } from "../rtc/peer-options.js";
import { RtcPortBudget } from "../rtc/port-budget.js";
import type { CloseStack } from "./close-stack.js";

export interface BuiltRtc {
  ingest: WhipIngest;
  whep: WhepEgress;
}

/**
 * WebRTC in and out: WHIP publishers and WHEP viewers, sharing one budget of ICE ports.
 * Closing ends viewers first, then publishers (whose streams end, so recordings close).
 */
export async function buildRtc(config: Config, logger: Logger, stack: CloseStack, deps: { registry: StreamRegistry; bus: EventBus; admission?: AdmissionGate | undefined }): Promise<BuiltRtc> {
  // werift (~33 MiB resident) is loaded by the first WHIP or WHEP POST, not at start: a node
  // that only records RTSP cameras, or has no publisher yet, does not carry it.
  let loaded: WebRtcModules | undefined;
  const loadSessions = loadOnce(async () => (loaded ??= await loadWebRtc(logger)));
  // Stream lifecycle (published, reconnecting, resumed, unpublished) onto the bus, keyed by stream.
  deps.registry.onLifecycle((e) => {
    const value: StreamLifecycleEvent = { ...e };
    deps.bus.publish({ topic: STREAM_EVENTS_TOPIC, key: e.stream, value });
  });
  // The kernel-cap warning is given once per process, whichever session sizes a socket first.
  const socketWarn = (obj: Record<string, unknown>, msg: string): void => logger.warn({ component: "rtc", ...obj }, msg);
  // A port range is sized by the host addresses werift gathers on: only then is werift loaded at start.
  const rtcPorts = config.rtcPortMin > 0
    ? RtcPortBudget.forRange(config.rtcPortMin, config.rtcPortMax, (await import("../rtc/werift-peer.js")).icePortsPerSession(config))
    : RtcPortBudget.unlimited();
  const weriftPeerOptions = peerOptionsFrom(config, socketWarn);
  // WhipIngest awaits the load before it makes a session, so werift's factory is there by then.
  const weriftPeers: WhipPeerFactory = (codecs, events, log) => {
    if (!loaded) throw new Error("WebRTC (werift) is not loaded yet");
    return loaded.weriftWhipPeers(weriftPeerOptions)(codecs, events, log);
  };
  const ingest = new WhipIngest(deps.registry, {
    peers: weriftPeers,
    iceRestartTimeoutMs: config.iceRestartTimeoutMs,
    connectTimeoutMs: config.whipConnectTimeoutMs,
    rtpSilenceTimeoutMs: config.rtpSilenceTimeoutMs,
    rtcpSilenceTimeoutMs: config.rtcpSilenceTimeoutMs,
    clockDriftToleranceMs: config.clockDriftToleranceMs,
    iceDisconnectedTimeoutMs: config.iceDisconnectedTimeoutMs,
    pliMinIntervalMs: config.pliMinIntervalMs,
    rembBitrateBps: config.rembBitrateBps,
    reorderWindowPackets: config.reorderWindowPackets,
  }, rtcPorts, logger.child({ component: "whip" }), async () => (await loadSessions()).WhipSession, deps.admission);
  stack.push("whip ingest", () => ingest.shutdown());
  const whep = new WhepEgress(deps.registry, {
    peer: weriftPeerOptions,
    connectTimeoutMs: config.whipConnectTimeoutMs,
    idleTimeoutMs: config.whepIdleTimeoutMs,
    maxViewersPerStream: config.whepMaxViewersPerStream,
    maxViewers: config.whepMaxViewers,
    packetCachePackets: config.whepPacketCachePackets,
    streamBufferMs: config.streamBufferMs,
    streamBufferBytes: config.streamBufferBytes,
    join: config.whepJoin,
    strictProfile: config.whepStrictProfile,
  }, rtcPorts, logger.child({ component: "whep" }), async () => (await loadSessions()).WhepSession, deps.admission);
  stack.push("whep egress", () => whep.shutdown());
  return { ingest, whep };
}

/**
 * Loads werift and installs the checked replacements of its functions (src/rtc/werift-*.ts)
 * before the session modules, so that no peer is ever made with werift's own. A failure rejects
 * the POST that asked (a 500 problem), and the next POST tries again.
 */
interface WebRtcModules {
  WhipSession: typeof WhipSession;
  WhepSession: typeof WhepSession;
  weriftWhipPeers: typeof weriftWhipPeers;
}

async function loadWebRtc(logger: Logger): Promise<WebRtcModules> {
  try {
    const [fastRtp, x25519, receive, fastEvents] = await Promise.all([
      import("../rtc/werift-fast-rtp.js"),
      import("../rtc/werift-native-x25519.js"),
      import("../rtc/werift-receive-path.js"),
      import("../rtc/werift-fast-events.js"),
    ]);
    // werift's RTP header parse is 9 % of the ingest CPU (werift-fast-rtp.ts); a werift whose parse
    // changed keeps its own, and says so.
    if (fastRtp.installFastRtpHeaderParsing() === "disagrees") logger.warn({ component: "rtc" }, "werift's RTP header parse differs from the one checked against: the fast parse is not installed");
    // A DTLS handshake's X25519 in pure JS stalled the loop ~40 ms per joining peer (werift-native-x25519.ts).
    if (x25519.installNativeX25519() === "disagrees") logger.warn({ component: "rtc" }, "OpenSSL's X25519 disagrees with tweetnacl's: DTLS keeps tweetnacl");
    if (!(await fastEvents.checkFastEvents())) logger.warn({ component: "rtc" }, "werift's Event differs from the one checked against: per-packet events keep werift's execute");
    const receivePath = receive.installReceivePathFastPaths();
    if (Object.values(receivePath).includes(false)) logger.warn({ component: "rtc", ...receivePath }, "werift's receive path differs from the one checked against: parts marked false keep werift's own");
    const [whip, whep, weriftWhip] = await Promise.all([import("../ingest/whip-session.js"), import("../distributor/whep/whep-session.js"), import("../ingest/werift-whip-peer.js")]);
    return { WhipSession: whip.WhipSession, WhepSession: whep.WhepSession, weriftWhipPeers: weriftWhip.weriftWhipPeers };
  } catch (err) {
    logger.error({ component: "rtc", err }, "WebRTC (werift) could not be loaded");
    throw new Error(`WebRTC could not be loaded: ${err instanceof Error ? err.message : String(err)}`, { cause: err });
  }
}
