/**
 * RTSP 1.0 messages (RFC 2326 §6, §7) as values, and their bytes. No I/O here: the server's
 * connections and the pull client read and write through these.
 *
 * CONTRACT (implemented by the rtsp-wire work): signatures are fixed; bodies to be written.
 */

/** A malformed or refused message: the RTSP status to answer with (400, 413, 414, 461, 505, ...). */
export class RtspWireError extends Error {
  override name = "RtspWireError";
  constructor(
    readonly status: number,
    message: string,
    /** Close the connection after answering (the byte stream can no longer be framed). */
    readonly fatal = false,
    /** The bad message's CSeq when it could be read, so the answer can echo it. */
    readonly cseq?: string,
  ) {
    super(message);
  }
}

/** Header fields, looked up case-insensitively; sent in insertion order with the name as first set. */
export class RtspHeaders {
  private readonly map = new Map<string, { name: string; values: string[] }>();
  get(name: string): string | undefined {
    return this.map.get(name.toLowerCase())?.values[0];
  }
  getAll(name: string): string[] {
    return this.map.get(name.toLowerCase())?.values ?? [];
  }
  has(name: string): boolean {
    return this.map.has(name.toLowerCase());
  }
  set(name: string, value: string): this {
    this.map.set(name.toLowerCase(), { name, values: [value] });
    return this;
  }
  append(name: string, value: string): this {
    const e = this.map.get(name.toLowerCase());
    if (e) e.values.push(value);
    else this.map.set(name.toLowerCase(), { name, values: [value] });
    return this;
  }
  delete(name: string): void {
    this.map.delete(name.toLowerCase());
  }
  *entries(): IterableIterator<[string, string]> {
    for (const { name, values } of this.map.values()) for (const v of values) yield [name, v];
  }
}

export interface RtspRequest {
  method: string;
  /** The Request-URI as sent (absolute `rtsp://host[:port]/path`, or `*`). */
  uri: string;
  headers: RtspHeaders;
  body: Buffer;
}

export interface RtspResponse {
  status: number;
  reason: string;
  headers: RtspHeaders;
  body: Buffer;
}

const REASONS: Record<number, string> = {
  100: "Continue",
  200: "OK",
  201: "Created",
  250: "Low on Storage Space",
  300: "Multiple Choices",
  301: "Moved Permanently",
  302: "Moved Temporarily",
  303: "See Other",
  304: "Not Modified",
  305: "Use Proxy",
  400: "Bad Request",
  401: "Unauthorized",
  402: "Payment Required",
  403: "Forbidden",
  404: "Not Found",
  405: "Method Not Allowed",
  406: "Not Acceptable",
  407: "Proxy Authentication Required",
  408: "Request Time-out",
  410: "Gone",
  411: "Length Required",
  412: "Precondition Failed",
  413: "Request Entity Too Large",
  414: "Request-URI Too Large",
  415: "Unsupported Media Type",
  429: "Too Many Requests",
  451: "Parameter Not Understood",
  452: "Conference Not Found",
  453: "Not Enough Bandwidth",
  454: "Session Not Found",
  455: "Method Not Valid in This State",
  456: "Header Field Not Valid for Resource",
  457: "Invalid Range",
  458: "Parameter Is Read-Only",
  459: "Aggregate operation not allowed",
  460: "Only aggregate operation allowed",
  461: "Unsupported transport",
  462: "Destination unreachable",
  500: "Internal Server Error",
  501: "Not Implemented",
  502: "Bad Gateway",
  503: "Service Unavailable",
  504: "Gateway Time-out",
  505: "RTSP Version not supported",
  551: "Option not supported",
};

/** The reason phrase of an RTSP status (RFC 2326 §7.1.1). */
export function reasonPhrase(status: number): string {
  return REASONS[status] ?? (status >= 200 && status < 300 ? "OK" : "Unknown");
}

function head(firstLine: string, headers: RtspHeaders, body: Buffer): Buffer {
  let text = firstLine + "\r\n";
  for (const [name, value] of headers.entries()) {
    // Our own Content-Length is written from the body; never twice.
    if (name.toLowerCase() === "content-length") continue;
    // A CR or LF in a value would let a caller forge headers (values often echo peer input).
    text += `${name}: ${value.replace(/[\r\n]+/g, " ")}\r\n`;
  }
  if (body.length > 0) text += `Content-Length: ${body.length}\r\n`;
  text += "\r\n";
  const h = Buffer.from(text, "utf8");
  return body.length > 0 ? Buffer.concat([h, body]) : h;
}

/** `METHOD uri RTSP/1.0\r\n` + headers (+ Content-Length when there is a body) + `\r\n` + body. */
export function serializeRequest(req: RtspRequest): Buffer {
  return head(`${req.method} ${req.uri} RTSP/1.0`, req.headers, req.body);
}

/** `RTSP/1.0 status reason\r\n` + headers (+ Content-Length when there is a body) + `\r\n` + body. */
export function serializeResponse(res: RtspResponse): Buffer {
  return head(`RTSP/1.0 ${res.status} ${res.reason || reasonPhrase(res.status)}`, res.headers, res.body);
}

/** An interleaved binary frame (RFC 2326 §10.12): `$`, channel, 16-bit length, payload. */
export function interleavedFrame(channel: number, payload: Uint8Array): Buffer {
  if (channel < 0 || channel > 255 || !Number.isInteger(channel)) throw new RangeError(`interleaved channel ${channel} outside 0..255`);
  if (payload.length > 0xffff) throw new RangeError(`interleaved payload of ${payload.length} bytes exceeds 65535`);
  const out = Buffer.allocUnsafe(4 + payload.length);
  out[0] = 0x24;
  out[1] = channel;
  out.writeUInt16BE(payload.length, 2);
  out.set(payload, 4);
  return out;
}
