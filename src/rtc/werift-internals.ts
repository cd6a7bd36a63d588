import type { Socket } from "node:dgram";
import type { RTCDtlsTransport, RTCPeerConnection } from "werift";

/**
 * The one place that reaches into werift's private objects (checked against werift 0.25.2:
 * ice/src/ice.js Connection, common/src/transport.js UdpTransport, dtls/src/socket.js
 * DtlsSocket). Each accessor degrades to "nothing found" when a shape differs, so a werift
 * upgrade loses the fix (hold across restart, socket sizing, close_notify) rather than crashing;
 * test/unit/rtc/werift-internals.test.ts fails loudly when that happens.
 */

export type UdpAddress = [string, number];

/** ice/src/iceBase.js CandidatePair, the fields we use. */
export interface WeriftCandidatePair {
  id: string;
  remoteAddr: UdpAddress;
  protocol: { sendData(data: Buffer, addr: UdpAddress): Promise<void> };
  packetsSent: number;
  bytesSent: number;
}

interface WeriftEvent<T extends unknown[]> {
  subscribe(fn: (...args: T) => void): { unSubscribe(): void };
}

/** ice/src/ice.js Connection: the ICE agent of one transport. */
export interface WeriftIceConnection {
  nominated?: WeriftCandidatePair;
  state: string;
  generation: number;
  send: (data: Buffer) => Promise<void>;
  canSendApplicationData(): boolean;
  stateChanged: WeriftEvent<[string]>;
  protocols: { transport?: { socket?: unknown } }[];
}

/** dtls/src/socket.js DtlsSocket: the record layer pieces a close_notify needs. */
export interface WeriftDtlsSocket {
  dtls: { version: { major: number; minor: number }; epoch: number; recordSequenceNumber: number };
  cipher: {
    encryptPacket(pkt: DtlsRecord): DtlsRecord;
  };
  transport: { send(buf: Buffer): Promise<void> | void };
}

/** dtls/src/record/message/plaintext.js DtlsPlaintext, as CipherContext.encryptPacket reads and writes it. */
export interface DtlsRecord {
  recordLayerHeader: {
    contentType: number;
    protocolVersion: { major: number; minor: number };
    epoch: number;
    sequenceNumber: number;
    contentLen: number;
  };
  fragment: Buffer;
}

function isIceConnection(v: unknown): v is WeriftIceConnection {
  const c = v as Partial<WeriftIceConnection> | undefined;
  return typeof c === "object" && c !== null && typeof c.send === "function" && typeof c.canSendApplicationData === "function" && Array.isArray(c.protocols) && typeof c.stateChanged?.subscribe === "function";
}

/** Every distinct DTLS transport of a peer (one with max-bundle, one per m-line otherwise). */
export function dtlsTransports(pc: RTCPeerConnection): RTCDtlsTransport[] {
  const out = new Set<RTCDtlsTransport>();
  for (const t of pc.getTransceivers()) if (t.dtlsTransport) out.add(t.dtlsTransport);
  return [...out];
}

/** The ICE agents of a peer's transports. */
export function iceConnections(pc: RTCPeerConnection): WeriftIceConnection[] {
  const out: WeriftIceConnection[] = [];
  for (const d of dtlsTransports(pc)) {
    const c = (d.iceTransport as unknown as { connection?: unknown }).connection;
    if (isIceConnection(c) && !out.includes(c)) out.push(c);
  }
  return out;
}

function isDgramSocket(v: unknown): v is Socket {
  const s = v as Partial<Socket> | undefined;
  return typeof s === "object" && s !== null && typeof s.setRecvBufferSize === "function" && typeof s.address === "function";
}

/** The UDP sockets werift bound for a peer (one per gathered host address; TURN/TCP ones are skipped). */
export function udpSockets(pc: RTCPeerConnection): Socket[] {
  const out: Socket[] = [];
  for (const c of iceConnections(pc)) {
    for (const p of c.protocols) {
      const s = p.transport?.socket;
      if (isDgramSocket(s) && !out.includes(s)) out.push(s);
    }
  }
  return out;
}

/** The established DTLS socket of a transport, or undefined before the handshake / after a change of shape. */
export function dtlsSocket(t: RTCDtlsTransport): WeriftDtlsSocket | undefined {
  const s = (t as unknown as { dtls?: Partial<WeriftDtlsSocket> }).dtls;
  if (!s || typeof s.cipher?.encryptPacket !== "function" || typeof s.transport?.send !== "function" || typeof s.dtls?.epoch !== "number") return undefined;
  return s as WeriftDtlsSocket;
}
