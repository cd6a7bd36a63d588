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

/** The reason phrase of an RTSP status (RFC 2326 §7.1.1). */
export declare function reasonPhrase(status: number): string;
/** `METHOD uri RTSP/1.0\r\n` + headers (+ Content-Length when there is a body) + `\r\n` + body. */
export declare function serializeRequest(req: RtspRequest): Buffer;
/** `RTSP/1.0 status reason\r\n` + headers (+ Content-Length when there is a body) + `\r\n` + body. */
export declare function serializeResponse(res: RtspResponse): Buffer;
/** An interleaved binary frame (RFC 2326 §10.12): `$`, channel, 16-bit length, payload. */
export declare function interleavedFrame(channel: number, payload: Uint8Array): Buffer;
