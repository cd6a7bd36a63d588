import type { DisconnectCause } from "../core/stream-registry.js";

/** How long each sign of life may be missing before the publisher counts as gone (ms). */
export interface DisconnectTimeouts {
  /** IFC_RTP_SILENCE_TIMEOUT_MS. */
  rtpSilenceMs: number;
  /** IFC_RTCP_SILENCE_TIMEOUT_MS. */
  rtcpSilenceMs: number;
  /** IFC_ICE_DISCONNECTED_TIMEOUT_MS. */
  iceDisconnectedMs: number;
}

/**
 * Whether a connected publisher is gone, from the signs of life a session sees: RTP, RTCP and
 * ICE `disconnected`. Each has its own timeout; ICE `failed` and a DTLS close count at once and
 * are the session's to act on. The packet path only stores a time (no timer per packet); the
 * session asks `check` off the packet path. Times are epoch ms from the caller's clock.
 */
export class DisconnectDetector {
  private lastRtpAt = 0;
  /** 0 until the first RTCP: publishers that send none (some encoders) are not timed on it. */
  private lastRtcpAt = 0;
  private iceDisconnectedAt: number | undefined;

  constructor(private readonly timeouts: DisconnectTimeouts) {}

  /** The session connected: silence is counted from now. */
  connected(now: number): void {
    this.lastRtpAt = now;
  }

  rtp(now: number): void {
    this.lastRtpAt = now;
  }

  rtcp(now: number): void {
    this.lastRtcpAt = now;
  }

  /** ICE went `disconnected` (consent lost): gone unless it comes back within its timeout. */
  iceDisconnected(now: number): void {
    this.iceDisconnectedAt ??= now;
  }

  /** ICE is connected again (recovered, or restarted). */
  iceConnected(): void {
    this.iceDisconnectedAt = undefined;
  }

  get isIceDisconnected(): boolean {
    return this.iceDisconnectedAt !== undefined;
  }

  /** Epoch ms of the last RTP packet (or of the connect, before any). */
  get lastMediaAt(): number {
    return this.lastRtpAt;
  }

  /** Why the publisher counts as gone at `now`, or undefined while it is not (a limit reached exactly is not past). */
  check(now: number): DisconnectCause | undefined {
    const t = this.timeouts;
    if (this.iceDisconnectedAt !== undefined && now - this.iceDisconnectedAt > t.iceDisconnectedMs) return "ice-disconnected";
    if (now - this.lastRtpAt > t.rtpSilenceMs) return "rtp-timeout";
    if (this.lastRtcpAt > 0 && now - this.lastRtcpAt > t.rtcpSilenceMs) return "rtcp-timeout";
    return undefined;
  }
}
