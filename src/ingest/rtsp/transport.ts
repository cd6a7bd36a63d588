/**
 * The Transport header (RFC 2326 §12.39). CONTRACT: signatures fixed; implemented by the
 * rtsp-wire work.
 */
import { RtspWireError } from "./message.js";

export interface RtspTransport {
  /** `RTP/AVP` and `RTP/AVP/UDP` are UDP; `RTP/AVP/TCP` is interleaved on the RTSP connection. */
  lower: "udp" | "tcp";
  /** `unicast` (the default when neither is given) or `multicast`. */
  delivery: "unicast" | "multicast";
  /** Interleaved channel pair (RTP, RTCP) for TCP. */
  interleaved?: [number, number];
  /** The client's UDP ports (RTP, RTCP). */
  clientPort?: [number, number];
  /** The server's UDP ports (RTP, RTCP). */
  serverPort?: [number, number];
  /** `record` for a publisher's SETUP (RFC 2326 §12.39 mode="RECORD"), else play. */
  mode?: "play" | "record";
  ssrc?: number;
  source?: string;
  destination?: string;
}

/**
 * Parses a Transport header value: a comma-separated list of alternatives, in the client's
 * order of preference. Alternatives this server cannot use (other profiles) are left out;
 * throws RtspWireError 461 (Unsupported Transport) when none is left, 400 when malformed.
 */
export function parseTransportHeader(value: string): RtspTransport[] {
  const out: RtspTransport[] = [];
  const alternatives = value.split(",").map((a) => a.trim()).filter((a) => a !== "");
  if (alternatives.length === 0) throw new RtspWireError(400, "empty Transport header");
  for (const alt of alternatives) {
    const t = parseOne(alt);
    if (t) out.push(t);
  }
  if (out.length === 0) throw new RtspWireError(461, `no usable transport in ${JSON.stringify(value.slice(0, 120))} (this server takes RTP/AVP over UDP unicast or RTP/AVP/TCP interleaved)`);
  return out;
}

/** One alternative; undefined when its profile is not RTP/AVP (e.g. RTP/SAVP, x-real-rdt). */
function parseOne(alt: string): RtspTransport | undefined {
  const parts = alt.split(";").map((p) => p.trim());
  const spec = (parts[0] ?? "").toUpperCase();
  let lower: "udp" | "tcp";
  if (spec === "RTP/AVP" || spec === "RTP/AVP/UDP") lower = "udp";
  else if (spec === "RTP/AVP/TCP") lower = "tcp";
  else if (/^[A-Z0-9.-]+\/[A-Z0-9.-]+(\/[A-Z0-9.-]+)?$/.test(spec)) return undefined;
  else throw new RtspWireError(400, `malformed transport-spec ${JSON.stringify(alt.slice(0, 80))}`);
  const t: RtspTransport = { lower, delivery: "unicast" };
  for (const p of parts.slice(1)) {
    if (p === "") continue;
    const eq = p.indexOf("=");
    const key = (eq < 0 ? p : p.slice(0, eq)).trim().toLowerCase();
    const val = eq < 0 ? "" : p.slice(eq + 1).trim().replace(/^"(.*)"$/, "$1");
    switch (key) {
      case "unicast":
      case "multicast":
        t.delivery = key;
        break;
      case "interleaved":
        t.interleaved = portPair(val, "interleaved", 255);
        break;
      case "client_port":
        t.clientPort = portPair(val, "client_port", 65535);
        break;
      case "server_port":
        t.serverPort = portPair(val, "server_port", 65535);
        break;
      case "mode": {
        const m = val.toLowerCase();
        if (m === "record" || m === "receive") t.mode = "record";
        else if (m === "play") t.mode = "play";
        else throw new RtspWireError(400, `unknown transport mode ${JSON.stringify(val.slice(0, 20))}`);
        break;
      }
      case "ssrc": {
        if (!/^[0-9a-f]{1,8}$/i.test(val)) throw new RtspWireError(400, `malformed ssrc ${JSON.stringify(val.slice(0, 20))}`);
        t.ssrc = parseInt(val, 16) >>> 0;
        break;
      }
      case "source":
        t.source = val;
        break;
      case "destination":
        t.destination = val;
        break;
      default:
        // ttl, layers, port, append, ...: not used by this server.
        break;
    }
  }
  return t;
}

/** `a-b` or a single `a` (the pair is then a, a+1, RFC 2326 §12.39). */
function portPair(val: string, what: string, max: number): [number, number] {
  const m = /^(\d{1,5})(?:-(\d{1,5}))?$/.exec(val);
  const a = m ? Number(m[1]) : NaN;
  const b = m ? (m[2] !== undefined ? Number(m[2]) : a + 1) : NaN;
  if (!(a <= max && b <= max)) throw new RtspWireError(400, `malformed ${what} ${JSON.stringify(val.slice(0, 20))}`);
  return [a, b];
}

/** One alternative as a header value (what a response or the client's SETUP sends). */
export function formatTransport(t: RtspTransport): string {
  const parts = [t.lower === "tcp" ? "RTP/AVP/TCP" : "RTP/AVP", t.delivery];
  if (t.destination !== undefined) parts.push(`destination=${t.destination}`);
  if (t.source !== undefined) parts.push(`source=${t.source}`);
  if (t.interleaved) parts.push(`interleaved=${t.interleaved[0]}-${t.interleaved[1]}`);
  if (t.clientPort) parts.push(`client_port=${t.clientPort[0]}-${t.clientPort[1]}`);
  if (t.serverPort) parts.push(`server_port=${t.serverPort[0]}-${t.serverPort[1]}`);
  if (t.ssrc !== undefined) parts.push(`ssrc=${(t.ssrc >>> 0).toString(16).toUpperCase().padStart(8, "0")}`);
  if (t.mode === "record") parts.push("mode=record");
  return parts.join(";");
}
