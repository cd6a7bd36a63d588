/**
 * RTP (RFC 3550 §5.1) and RTCP sender reports as bytes from a socket, for the ingest paths that
 * have no WebRTC stack under them (RTSP over UDP or TCP interleaved). CONTRACT: signatures fixed;
 * implemented by the rtsp-wire work.
 */
import type { TappedRtpPacket } from "../core/stream-hub.js";

/** A parsed RTP packet: the header fields the depacketizers and the RTP tap use, and the payload (a view, padding removed). */
export interface ParsedRtpPacket extends TappedRtpPacket {
  readonly header: { readonly sequenceNumber: number; readonly timestamp: number; readonly marker: boolean; readonly ssrc: number; readonly payloadType: number };
  readonly payload: Buffer;
}

/** Parses one RTP packet (version 2, CSRCs and header extension skipped, padding removed); undefined when it is not one. */
export declare function parseRtpPacket(buf: Buffer): ParsedRtpPacket | undefined;

/** The sender reports in an RTCP compound packet (RFC 3550 §6.4.1): for capture wall clock. */
export declare function senderReports(buf: Buffer): { ssrc: number; ntpTimestamp: bigint; rtpTimestamp: number }[];

/** A receiver report with no report blocks (RFC 3550 §6.4.2), with this SSRC: keeps UDP publishers' NAT and liveness checks happy. */
export declare function emptyReceiverReport(ssrc: number): Buffer;
