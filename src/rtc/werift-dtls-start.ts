import type { RTCPeerConnection } from "werift";
import { dtlsTransports } from "./werift-internals.js";

/**
 * werift 0.25.2's `RTCDtlsTransport.start` (transport/dtls.js) waits a fixed 100 ms after ICE
 * connects before a DTLS client sends its ClientHello, so that a peer which is itself werift has
 * started its DTLS server: a ClientHello that arrives before is dropped, and werift resends it
 * only after 500 ms. The server answers every offer, so it is the DTLS client (setup:active) of
 * every WHIP and WHEP session, and that wait was 100 of the ~140 ms from POST to connected on
 * loopback (a werift viewer connects to MediaMTX, which answers the same way, in ~20 ms).
 *
 * Browsers, OBS and ffmpeg take a ClientHello as soon as ICE has a pair; a werift peer needs
 * some ms after its own ICE connects, more when its process is busy (bench/ingest-cost.ts, werift
 * publishers joining 250 ms apart: at 10 ms several of 8 lost the race and took 500 ms more;
 * at 40 ms none of 12; IFC_DTLS_START_DELAY_MS, default 40). `startDtlsClientSooner` sends it
 * `delayMs` after `start` instead;
 * werift's own call at 100 ms then finds the handshake started and gets the same promise. A
 * ClientHello a werift peer was not ready for is resent by werift's flight timer 500 ms later.
 * It is not resent sooner: werift's DTLS handles a handshake message it receives twice as new
 * (see werift-dtls-order.ts), so a resend that crosses a slow peer's answer breaks the handshake
 * (seen at 100 ms on a loaded machine); a lost race costs 500 ms, a broken handshake the session.
 */

/** werift's own wait before a DTLS client's first flight (transport/dtls.js). */
export const WERIFT_CLIENT_WAIT_MS = 100;

interface DtlsClientLike {
  connect(): Promise<void>;
}

interface DtlsTransportLike {
  role: string;
  state: string;
  dtls?: unknown;
  start(): Promise<void>;
}

/** Who sent the first ClientHello of a transport: this module's timer, or werift's own. */
export type HandshakeStarter = "sooner" | "werift";

export interface SoonerStart {
  /** Per DTLS transport hooked, who started the handshake (undefined until it starts). */
  startedBy(): (HandshakeStarter | undefined)[];
}

const isClient = (d: unknown): d is DtlsClientLike => typeof (d as Partial<DtlsClientLike> | undefined)?.connect === "function";

/**
 * Hooks `pc`'s DTLS transports (call once transports exist, before ICE can connect) so that, in
 * the client role, the handshake starts `delayMs` after the transport starts. A `delayMs` of 100
 * or more leaves werift's own timing.
 */
export function startDtlsClientSooner(pc: RTCPeerConnection, delayMs: number): SoonerStart {
  const starters: { by?: HandshakeStarter }[] = [];
  if (delayMs >= WERIFT_CLIENT_WAIT_MS) return { startedBy: () => [] };
  for (const t of dtlsTransports(pc) as unknown as DtlsTransportLike[]) {
    const record: { by?: HandshakeStarter } = {};
    starters.push(record);
    const start = t.start;
    // An own property shadows the prototype's for this transport only: other sessions (and a
    // test's own werift peers in the same process) keep werift's timing.
    t.start = function (this: DtlsTransportLike): Promise<void> {
      const running = start.call(this);
      // werift builds its DtlsClient synchronously in start(), then waits.
      const client = this.dtls;
      if (this.role === "client" && isClient(client)) {
        const connect = client.connect.bind(client);
        let handshake: Promise<void> | undefined;
        const once = (by: HandshakeStarter): Promise<void> => {
          if (!handshake) {
            record.by = by;
            handshake = connect();
          }
          return handshake;
        };
        client.connect = () => once("werift");
        setTimeout(() => {
          // werift attaches its failure handling when its own call comes; until then a
          // rejection is handled here, not left unhandled.
          if (this.state === "connecting") once("sooner").catch(() => undefined);
        }, delayMs).unref();
      }
      return running;
    };
  }
  return { startedBy: () => starters.map((s) => s.by) };
}

