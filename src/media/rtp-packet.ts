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
export function parseRtpPacket(buf: Buffer): ParsedRtpPacket | undefined {
  if (buf.length < 12) return undefined;
  const b0 = buf[0] as number;
  const b1 = buf[1] as number;
  if (b0 >> 6 !== 2) return undefined;
  // RTCP shares the port on rtcp-mux peers: payload types 72..76 with the marker bit are RTCP (RFC 5761 §4).
  if (b1 >= 200 && b1 <= 204) return undefined;
  let off = 12 + (b0 & 0x0f) * 4;
  if (b0 & 0x10) {
    if (buf.length < off + 4) return undefined;
    off += 4 + buf.readUInt16BE(off + 2) * 4;
  }
  let end = buf.length;
  if (b0 & 0x20) {
    const pad = buf[end - 1] as number;
    if (pad === 0 || pad > end - off) return undefined;
    end -= pad;
  }
  if (off > end) return undefined;
  return {
    header: { sequenceNumber: buf.readUInt16BE(2), timestamp: buf.readUInt32BE(4), marker: (b1 & 0x80) !== 0, ssrc: buf.readUInt32BE(8), payloadType: b1 & 0x7f },
    payload: buf.subarray(off, end),
  };
}

/** The sender reports in an RTCP compound packet (RFC 3550 §6.4.1): for capture wall clock. */
export function senderReports(buf: Buffer): { ssrc: number; ntpTimestamp: bigint; rtpTimestamp: number }[] {
  const out: { ssrc: number; ntpTimestamp: bigint; rtpTimestamp: number }[] = [];
  let off = 0;
  while (off + 4 <= buf.length) {
    const b0 = buf[off] as number;
    if (b0 >> 6 !== 2) break;
    const len = (buf.readUInt16BE(off + 2) + 1) * 4;
    if (off + len > buf.length) break;
    // SR: PT 200, sender SSRC, NTP (64 bits), RTP timestamp.
    if (buf[off + 1] === 200 && len >= 20) {
      out.push({ ssrc: buf.readUInt32BE(off + 4), ntpTimestamp: buf.readBigUInt64BE(off + 8), rtpTimestamp: buf.readUInt32BE(off + 16) });
    }
    off += len;
  }
  return out;
}

/** A receiver report with no report blocks (RFC 3550 §6.4.2), with this SSRC: keeps UDP publishers' NAT and liveness checks happy. */
export function emptyReceiverReport(ssrc: number): Buffer {
  const out = Buffer.alloc(8);
  out[0] = 0x80; // V=2, P=0, RC=0
  out[1] = 201; // RR
  out.writeUInt16BE(1, 2); // length in 32-bit words minus one
  out.writeUInt32BE(ssrc >>> 0, 4);
  return out;
}
