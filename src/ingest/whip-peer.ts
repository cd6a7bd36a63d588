/**
 * The WebRTC transport under a WHIP session, as a port: the session owns everything from "an RTP
 * packet arrived" on (depacketizing, clocks, liveness, keyframe requests, hub publishing); a peer
 * only answers the offer, hands packets and state changes over and sends the session's feedback.
 * werift (werift-whip-peer.ts) is the one in use. A libdatachannel peer (node-datachannel) was
 * built behind this port and measured on bench/ingest-cost.ts's table: it did not win at 8
 * publishers and lacked NACK, sender reports and ICE restart, so it was not kept (README,
 * "Performance").
 */
import type { Logger } from "pino";
import type { TappedRtpPacket } from "../core/stream-hub.js";
import type { CodecSelection } from "../rtc/sdp-offer.js";

/** What a peer tells its session. Called synchronously on the packet path: never await in them. */
export interface WhipPeerEvents {
  /** One RTP packet as received (the hub's WHEP tap may keep it: it must not be reused). */
  rtp(isVideo: boolean, packet: TappedRtpPacket): void;
  /** Any RTCP packet of the track arrived (RTCP liveness). */
  rtcp(isVideo: boolean): void;
  /** A sender report: the publisher's NTP time of an RTP timestamp (capture wall clock). */
  senderReport(isVideo: boolean, ntpTimestamp: bigint, rtpTimestamp: number): void;
  /** The PeerConnection's state (`connected`, `failed`, `closed`...). */
  connectionState(state: string): void;
  /** The ICE connection state (`disconnected`, `connected`, `completed`...). */
  iceState(state: string): void;
}

export interface WhipPeer {
  /** Answers the offer (recvonly, the selected codecs only); resolves with the answer SDP, ICE gathered. */
  answer(offerSdp: string): Promise<string>;
  /** Fire-and-forget keyframe request (PLI) for the publisher's video SSRC. */
  sendPli(videoSsrc: number): void;
  /** Fire-and-forget bandwidth estimate (REMB) for the publisher's video SSRC. */
  sendRemb(videoSsrc: number, bps: number): void;
  /** Trickled candidates (RFC 9725 §4.4). */
  addRemoteCandidates(candidates: { candidate: string; sdpMid?: string; sdpMLineIndex?: number }[]): Promise<void>;
  /** ICE restart with the remote's new credentials; returns the new answer SDP. */
  restartIce(ufrag: string, pwd: string, candidates: { candidate: string; sdpMid?: string }[], offerSdp: string, restart: { timeoutMs: number; onTimeout: () => void }): Promise<string>;
  close(): Promise<void>;
  /** Kernel drops at this peer's sockets, when the transport can tell (undefined: unknown). */
  socketDrops(): number | undefined;
}

/** Makes the peer of one session. `events` are the session's; the peer must not call them after close(). */
export type WhipPeerFactory = (codecs: CodecSelection, events: WhipPeerEvents, log: Logger) => WhipPeer;
