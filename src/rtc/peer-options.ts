import type { RTCPeerConnectionConfig } from "werift";
import type { Config } from "../config.js";
import type { SocketWarn } from "./socket-buffer.js";

export interface PeerOptions {
  config: Partial<RTCPeerConnectionConfig>;
  /** True when the operator configured a STUN (or TURN) server. */
  hasStun: boolean;
  /** UDP receive buffer requested per socket (IFC_RTC_RECV_BUFFER_BYTES); 0 keeps the kernel default. */
  recvBufferBytes: number;
  /** An ICE restart not completed within this ends the session (IFC_ICE_RESTART_TIMEOUT_MS). */
  iceRestartTimeoutMs: number;
  /** IFC_DTLS_START_DELAY_MS: our ClientHello this long after ICE connects (werift-dtls-start.ts). */
  dtlsStartDelayMs: number;
  /** Where the once-per-process "buffer capped by the kernel" warning goes. */
  warn?: SocketWarn;
}

/** Translates our NAT/firewall settings into werift's PeerConnection options. */
export function peerOptionsFrom(cfg: Config, warn?: SocketWarn): PeerOptions {
  const iceServers = cfg.iceServers.map((url) =>
    url.startsWith("turn") ? { urls: url, username: cfg.iceUsername, credential: cfg.iceCredential } : { urls: url },
  );
  return {
    hasStun: iceServers.length > 0,
    recvBufferBytes: cfg.rtcRecvBufferBytes,
    iceRestartTimeoutMs: cfg.iceRestartTimeoutMs,
    dtlsStartDelayMs: cfg.dtlsStartDelayMs,
    ...(warn ? { warn } : {}),
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
