import type { RTCDtlsTransport, RTCPeerConnection, RtcpPacket } from "werift";
import { dtlsSocket, dtlsTransports, type DtlsRecord } from "./werift-internals.js";

/**
 * Ending a session so the peer knows at once: werift 0.25.2's close() sends neither an RTCP BYE
 * nor a DTLS close_notify ("todo impl send alert"), so a WHEP player kept showing a frozen
 * picture and publishers kept sending into the void for 10-18 s (issue 12).
 */

/** RTCP packet types (RFC 3550 §12.1). */
const RTCP_RR = 201;
const RTCP_BYE = 203;
/** DTLS record content type alert, alert level warning, description close_notify (RFC 5246 §7.2). */
const CONTENT_ALERT = 21;
const ALERT_WARNING = 1;
const CLOSE_NOTIFY = 0;
/** The whole goodbye must not hold up a shutdown: the peer may already be gone. */
export const GRACEFUL_CLOSE_BUDGET_MS = 1000;

/**
 * An RTCP compound packet (RFC 3550 §6.1: it starts with a report) of an empty receiver report
 * from the first SSRC and a BYE for all of them.
 */
export function byeCompound(ssrcs: readonly number[]): Buffer {
  if (ssrcs.length === 0 || ssrcs.length > 31) throw new RangeError("BYE carries 1..31 SSRCs");
  const buf = Buffer.alloc(8 + 4 + 4 * ssrcs.length);
  buf[0] = 0x80; // V=2, P=0, RC=0
  buf[1] = RTCP_RR;
  buf.writeUInt16BE(1, 2); // length in 32-bit words minus one
  buf.writeUInt32BE(ssrcs[0] ?? 0, 4);
  buf[8] = 0x80 | ssrcs.length; // V=2, SC
  buf[9] = RTCP_BYE;
  buf.writeUInt16BE(ssrcs.length, 10);
  ssrcs.forEach((s, i) => buf.writeUInt32BE(s >>> 0, 12 + 4 * i));
  return buf;
}

/** The SSRCs we send from on a transport: senders' media SSRCs and receivers' RTCP SSRCs. */
function localSsrcs(pc: RTCPeerConnection, transport: RTCDtlsTransport): number[] {
  const out = new Set<number>();
  for (const t of pc.getTransceivers()) {
    if (t.dtlsTransport !== transport) continue;
    if (t.sender.ssrc) out.add(t.sender.ssrc);
    const rtcpSsrc = (t.receiver as unknown as { rtcpSsrc?: unknown }).rtcpSsrc;
    if (typeof rtcpSsrc === "number") out.add(rtcpSsrc);
  }
  return [...out].slice(0, 31);
}

async function sendBye(pc: RTCPeerConnection, transport: RTCDtlsTransport): Promise<void> {
  const ssrcs = localSsrcs(pc, transport);
  if (ssrcs.length === 0 || transport.state !== "connected") return;
  const compound = byeCompound(ssrcs);
  // sendRtcp concatenates serialize() of each packet; ours is already one compound.
  const packet = { serialize: () => compound } as unknown as RtcpPacket;
  await transport.sendRtcp([packet]);
}

/** Sends a DTLS close_notify alert through the transport's record layer (epoch 1, encrypted). */
export async function sendCloseNotify(transport: RTCDtlsTransport): Promise<boolean> {
  const socket = dtlsSocket(transport);
  if (!socket || transport.state !== "connected") return false;
  const ctx = socket.dtls;
  const record: DtlsRecord = {
    recordLayerHeader: {
      contentType: CONTENT_ALERT,
      protocolVersion: ctx.version,
      epoch: ctx.epoch,
      sequenceNumber: ++ctx.recordSequenceNumber,
      contentLen: 2,
    },
    fragment: Buffer.from([ALERT_WARNING, CLOSE_NOTIFY]),
  };
  const enc = socket.cipher.encryptPacket(record);
  await socket.transport.send(serializeRecord(enc));
  return true;
}

/** DTLS record layer (RFC 6347 §4.1): type, version, epoch, 48-bit sequence number, length, fragment. */
export function serializeRecord(r: DtlsRecord): Buffer {
  const h = r.recordLayerHeader;
  const out = Buffer.alloc(13 + r.fragment.length);
  out[0] = h.contentType;
  out[1] = h.protocolVersion.major;
  out[2] = h.protocolVersion.minor;
  out.writeUInt16BE(h.epoch, 3);
  out.writeUIntBE(h.sequenceNumber, 5, 6);
  out.writeUInt16BE(r.fragment.length, 11);
  r.fragment.copy(out, 13);
  return out;
}

/**
 * RTCP BYE for our SSRCs, then a DTLS close_notify, then close. Resolves within
 * GRACEFUL_CLOSE_BUDGET_MS whatever the peer does (UDP sends do not wait for it; werift's
 * close() is bounded by the same budget).
 */
export async function closePeerGracefully(pc: RTCPeerConnection, budgetMs = GRACEFUL_CLOSE_BUDGET_MS): Promise<void> {
  let timer: NodeJS.Timeout | undefined;
  const deadline = new Promise<void>((resolve) => {
    timer = setTimeout(resolve, budgetMs);
    timer.unref();
  });
  const goodbye = (async () => {
    for (const t of dtlsTransports(pc)) {
      await sendBye(pc, t).catch(() => undefined);
      await sendCloseNotify(t).catch(() => false);
    }
    // werift sends without a callback, and Node's dgram resolves even an IP address on the next
    // tick: closing now would drop both goodbyes from the socket unsent.
    await new Promise<void>((resolve) => setImmediate(resolve));
    await pc.close().catch(() => undefined);
  })();
  try {
    await Promise.race([goodbye, deadline]);
  } finally {
    clearTimeout(timer);
  }
}
