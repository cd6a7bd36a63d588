import type { Logger } from "pino";
import type { Config } from "../config.js";
import type { AdmissionGate } from "../core/admission.js";
import { ControlRtspAuthorizer, type RtspCredentialChecks } from "../control/rtsp-authorizer.js";
import type { StreamRegistry } from "../core/stream-registry.js";
import { RtspServer } from "../ingest/rtsp/server.js";
import type { CloseStack } from "./close-stack.js";

/** RTP packets to RTSP readers: what fits a 1500-byte Ethernet MTU in UDP over IPv4 (NVRs expect it over TCP too). */
const RTSP_MAX_PACKET_BYTES = 1472;

/**
 * The RTSP server (IFC_RTSP_ENABLED) on IFC_RTSP_HOST:IFC_RTSP_PORT: publishers into the
 * registry's streams, readers of any live stream, through the same permission model as WHIP.
 * Closed on the stack (its publishers' streams end, so recordings close); undefined when off.
 */
export async function buildRtsp(
  config: Config,
  logger: Logger,
  stack: CloseStack,
  deps: { registry: StreamRegistry; checks: RtspCredentialChecks; demand?: (stream: string) => Promise<void>; ownerElsewhere?: (stream: string) => Promise<string | undefined>; admission?: AdmissionGate | undefined },
): Promise<RtspServer | undefined> {
  if (!config.rtspEnabled) return undefined;
  const log = logger.child({ component: "rtsp" });
  const authorizer = new ControlRtspAuthorizer({
    checks: deps.checks,
    anonymousNetworks: config.authAnonymousNetworks,
    anonymousPermissions: config.authAnonymousPermissions,
  });
  const server = new RtspServer(
    deps.registry,
    authorizer,
    {
      host: config.rtspHost,
      port: config.rtspPort,
      maxConnections: config.rtspMaxConnections,
      sessionTimeoutMs: config.rtspSessionTimeoutMs,
      rtpSilenceTimeoutMs: config.rtpSilenceTimeoutMs,
      maxHeaderBytes: config.rtspMaxHeaderBytes,
      maxBodyBytes: config.rtspMaxBodyBytes,
      writeBufferBytes: config.rtspWriteBufferBytes,
      ingest: { reorderWindowPackets: config.reorderWindowPackets, clockDriftToleranceMs: config.clockDriftToleranceMs },
      reader: { queueFrames: config.readerQueueFrames, maxPacketBytes: RTSP_MAX_PACKET_BYTES },
      realm: "ifc",
      ...(deps.demand ? { demand: deps.demand } : {}),
      ...(deps.ownerElsewhere ? { ownerElsewhere: deps.ownerElsewhere } : {}),
      ...(deps.admission ? { admission: deps.admission } : {}),
    },
    {
      host: config.rtspHost, min: config.rtspUdpPortMin, max: config.rtspUdpPortMax, recvBufferBytes: config.rtspUdpRecvBufferBytes,
      warn: (obj, msg) => log.warn(obj, msg),
    },
    log,
  );
  await server.listen();
  stack.push("rtsp server", () => server.close());
  return server;
}
