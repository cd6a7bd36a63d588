import type { RTCDtlsTransport, RTCPeerConnection } from "werift";
import { dtlsTransports } from "./werift-internals.js";

/**
 * werift 0.25.x (checked against 0.25.2, dtls/src/socket.js + flight/*) handles each DTLS
 * handshake message the moment it arrives, in arrival order, and never retransmits its last
 * flight. One lost datagram can then hang the handshake for good (ICE connected, DTLS
 * "connecting" until the peer gives up after ~30 s):
 * - a message that arrives after a later one of its flight is hashed out of order (the
 *   extended master secret takes whatever is cached), so the keys are wrong and every Finished
 *   fails to decrypt; a CertificateVerify before its Certificate throws and fails the transport;
 * - a retransmitted ClientKeyExchange is re-handled and recomputes the keys over a transcript that
 *   already holds the CertificateVerify;
 * - the server's final flight (ChangeCipherSpec + Finished) has no retransmission timer.
 *
 * This shim sits between werift's ICE transport and its DtlsSocket and restores RFC 6347 §4.2.2
 * and §4.2.4 for the handshake: messages are handed on in message_seq order (later ones wait for
 * the gap to be filled, and so does whatever record comes after them), a retransmitted message
 * already handed on is not handled twice, and its arrival makes us resend our last flight.
 * Application data passes straight through once no gap is open. See
 * docs/upstream/werift-dtls-retransmit.md.
 */

const CONTENT_HANDSHAKE = 22;
const HS_CLIENT_HELLO = 1;
const HS_HELLO_VERIFY_REQUEST = 3;
const RECORD_HEADER = 13;
const HS_HEADER = 12;
/** At most one resend of our last flight per this many ms: a peer's flight is several datagrams. */
export const RESEND_MIN_INTERVAL_MS = 200;
/** Records held behind a gap; beyond this the oldest is dropped (the peer will retransmit). */
export const MAX_HELD_RECORDS = 64;

/** The record layer of werift's DtlsSocket this shim needs (dtls/src/socket.js, context/dtls.js). */
interface DtlsSocketShape {
  transport: { socket: { onData?: (buf: Buffer) => void }; send(buf: Buffer): Promise<unknown> | unknown };
  dtls: { lastMessage?: Buffer[] };
}

function isDtlsSocketShape(v: unknown): v is DtlsSocketShape {
  const s = v as Partial<DtlsSocketShape> | undefined;
  return typeof s === "object" && s !== null && typeof s.transport?.send === "function" && typeof s.transport.socket === "object" && typeof s.dtls === "object";
}

/** The handshake messages a plaintext (epoch 0) handshake record carries: first and last message_seq. */
interface HsSpan {
  type: number;
  first: number;
  last: number;
  /** The record ends the last message (not a leading fragment of it). */
  lastComplete: boolean;
}

function handshakeSpan(rec: Buffer): HsSpan | undefined {
  if (rec[0] !== CONTENT_HANDSHAKE || rec.readUInt16BE(3) !== 0) return undefined;
  let off = RECORD_HEADER;
  let span: HsSpan | undefined;
  while (off + HS_HEADER <= rec.length) {
    const type = rec[off]!;
    const length = rec.readUIntBE(off + 1, 3);
    const seq = rec.readUInt16BE(off + 4);
    const fragOffset = rec.readUIntBE(off + 6, 3);
    const fragLength = rec.readUIntBE(off + 9, 3);
    const complete = fragOffset + fragLength === length;
    span = span ? { ...span, last: seq, lastComplete: complete } : { type, first: seq, last: seq, lastComplete: complete };
    off += HS_HEADER + fragLength;
  }
  return span;
}

/** Sort key of a held record: unsequenced records (CCS, encrypted Finished) after every message. */
function seqKey(rec: Buffer): number {
  return handshakeSpan(rec)?.first ?? 0x10000;
}

/** Splits a datagram into its DTLS records (werift sends one per datagram; Chromium packs a flight). */
function records(data: Buffer): Buffer[] {
  const out: Buffer[] = [];
  let off = 0;
  while (off + RECORD_HEADER <= data.length) {
    const end = off + RECORD_HEADER + data.readUInt16BE(off + 11);
    if (end > data.length) break;
    out.push(data.subarray(off, end));
    off = end;
  }
  return out;
}

/** Totals since the gate was installed: records held behind a gap, retransmissions not handed on, resends of our last flight. */
export interface DtlsOrderStats {
  held: number;
  duplicates: number;
  resends: number;
}

/** The ordering gate for one DtlsSocket; exported for tests. */
export class DtlsHandshakeOrder {
  private next = 0;
  private readonly held: Buffer[] = [];
  private lastResend = -Infinity;
  readonly stats: DtlsOrderStats = { held: 0, duplicates: 0, resends: 0 };

  constructor(
    private readonly deliver: (rec: Buffer) => void,
    private readonly resendLastFlight: () => void,
    private readonly now: () => number = Date.now,
  ) {}

  /** Records waiting behind a gap now. */
  get heldRecords(): number {
    return this.held.length;
  }

  receive(datagram: Buffer): void {
    // Fast path: no gap open and not a handshake record — application data, alerts.
    if (this.held.length === 0 && datagram[0] !== CONTENT_HANDSHAKE) {
      this.deliver(datagram);
      return;
    }
    for (const rec of records(datagram)) this.onRecord(rec);
  }

  private onRecord(rec: Buffer): void {
    const span = handshakeSpan(rec);
    if (!span) {
      // Encrypted Finished, ChangeCipherSpec, data: in order behind any open gap.
      if (this.held.length > 0) this.hold(rec);
      else this.deliver(rec);
      return;
    }
    if (span.last < this.next) {
      // A retransmission of what werift already handled. A Hello(VerifyRequest) is stateless
      // for werift and answered by it; anything else would be re-handled wrongly, so drop it
      // and answer as RFC 6347 §4.2.4 asks: resend our last flight.
      if (span.type === HS_CLIENT_HELLO || span.type === HS_HELLO_VERIFY_REQUEST) {
        this.deliver(rec);
        return;
      }
      this.stats.duplicates++;
      this.resend();
      return;
    }
    if (span.first > this.next) {
      this.hold(rec);
      return;
    }
    this.pass(rec, span);
    this.drain();
  }

  private pass(rec: Buffer, span: HsSpan): void {
    if (span.lastComplete) this.next = Math.max(this.next, span.last + 1);
    this.deliver(rec);
  }

  private hold(rec: Buffer): void {
    if (this.held.length >= MAX_HELD_RECORDS) this.held.shift();
    this.held.push(rec);
    this.stats.held++;
  }

  /** Hands on held records once the message they wait for has come, keeping their order. */
  private drain(): void {
    for (;;) {
      this.held.sort((a, b) => seqKey(a) - seqKey(b));
      const head = this.held[0];
      if (!head) return;
      const span = handshakeSpan(head);
      if (span && span.first > this.next) return;
      this.held.shift();
      if (!span) this.deliver(head);
      else if (span.last < this.next) continue;
      else this.pass(head, span);
    }
  }

  private resend(): void {
    const t = this.now();
    if (t - this.lastResend < RESEND_MIN_INTERVAL_MS) return;
    this.lastResend = t;
    this.stats.resends++;
    this.resendLastFlight();
  }
}

/**
 * Puts the ordering gate in front of a DtlsSocket's input. The stable sort in drain keeps
 * unsequenced records (CCS, encrypted Finished) after every handshake message held before them.
 */
function gate(socket: DtlsSocketShape): DtlsHandshakeOrder | undefined {
  const input = socket.transport.socket;
  const original = input.onData;
  if (typeof original !== "function") return undefined;
  const order = new DtlsHandshakeOrder(
    (rec) => original(rec),
    () => {
      for (const buf of socket.dtls.lastMessage ?? []) void Promise.resolve(socket.transport.send(buf)).catch(() => undefined);
    },
  );
  input.onData = (buf) => order.receive(buf);
  return order;
}

function dtlsOf(t: RTCDtlsTransport): unknown {
  return (t as unknown as { dtls?: unknown }).dtls;
}

/**
 * Installs the gate on every DTLS transport of a peer as its DtlsSocket is created (werift builds
 * it synchronously right after announcing "connecting"). Call once transports exist (after the
 * descriptions are set). Returns the gates installed so far, for stats and tests.
 */
export function orderDtlsHandshakes(pc: RTCPeerConnection): DtlsHandshakeOrder[] {
  const gates: DtlsHandshakeOrder[] = [];
  for (const t of dtlsTransports(pc)) {
    const install = (): void => {
      const s = dtlsOf(t);
      if (!isDtlsSocketShape(s)) return;
      const g = gate(s);
      if (g) gates.push(g);
    };
    if (dtlsOf(t)) {
      install();
      continue;
    }
    const sub = t.onStateChange.subscribe((state) => {
      if (state !== "connecting") return;
      sub.unSubscribe();
      queueMicrotask(install);
    });
  }
  return gates;
}
