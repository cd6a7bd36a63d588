/**
 * The Transport header (RFC 2326 §12.39). CONTRACT: signatures fixed; implemented by the
 * rtsp-wire work.
 */
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
export declare function parseTransportHeader(value: string): RtspTransport[];
/** One alternative as a header value (what a response or the client's SETUP sends). */
export declare function formatTransport(t: RtspTransport): string;
