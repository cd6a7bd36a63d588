import { getHostAddresses, type RTCPeerConnection, type RTCPeerConnectionConfig } from "werift";
import type { Config } from "../config.js";

export interface PeerOptions {
  config: Partial<RTCPeerConnectionConfig>;
  /** True when the operator configured a STUN (or TURN) server. */
  hasStun: boolean;
}

/** Translates our NAT/firewall settings into werift's PeerConnection options. */
export function peerOptionsFrom(cfg: Config): PeerOptions {
  const iceServers = cfg.iceServers.map((url) =>
    url.startsWith("turn") ? { urls: url, username: cfg.iceUsername, credential: cfg.iceCredential } : { urls: url },
  );
  return {
    hasStun: iceServers.length > 0,
    config: {
      iceServers,
      iceUseIpv4: true,
      iceUseIpv6: cfg.rtcIpv6,
      ...(cfg.rtcPortMin > 0 ? { icePortRange: [cfg.rtcPortMin, cfg.rtcPortMax] as [number, number] } : {}),
      ...(cfg.rtcPublicIps.length > 0 ? { iceAdditionalHostAddresses: cfg.rtcPublicIps } : {}),
      ...(cfg.rtcInterfaceAddress ? { iceInterfaceAddresses: { udp4: cfg.rtcInterfaceAddress } } : {}),
    },
  };
}

interface IceConnectionLike {
  stunServer?: unknown;
}

/**
 * werift's ICE agent falls back to a public STUN server when none is configured
 * (ice/src/ice.js: DEFAULT_STUN_SERVER), costing a DNS lookup and a timeout per
 * PeerConnection on a closed network. Clear it on every transport before gathering starts.
 */
export function disableDefaultStun(pc: RTCPeerConnection): void {
  for (const t of pc.getTransceivers()) {
    const connection = (t.dtlsTransport?.iceTransport as unknown as { connection?: IceConnectionLike } | undefined)?.connection;
    if (connection) connection.stunServer = undefined;
  }
}

/**
 * UDP ports one session takes from IFC_RTC_PORT_MIN..MAX: werift binds one socket per host
 * address it gathers on (each interface, and each advertised public IP gets its own socket, so a
 * 1:1 NAT forwards every advertised port). No single muxed port is possible with werift.
 */
export function icePortsPerSession(cfg: Config): number {
  const local = cfg.rtcInterfaceAddress ? 1 : Math.max(1, getHostAddresses(true, cfg.rtcIpv6).length);
  return local + cfg.rtcPublicIps.length;
}

/** Resolves once ICE gathering is complete (WHIP answers and offers carry all candidates). */
export async function waitIceGathered(pc: RTCPeerConnection): Promise<void> {
  if (pc.iceGatheringState === "complete") return;
  await new Promise<void>((resolve) => {
    const sub = pc.iceGatheringStateChange.subscribe((s) => {
      if (s === "complete") {
        sub.unSubscribe();
        resolve();
      }
    });
  });
}
