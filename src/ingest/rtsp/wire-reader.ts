/**
 * Frames a TCP byte stream into RTSP messages and interleaved binary frames (RFC 2326 §10.12),
 * incrementally: chunks may split anything anywhere. Used by both the server's connections and
 * the pull client.
 *
 * The head limit counts the request/status line, the headers and the empty line that ends
 * them (CRLFs included): a head of exactly maxHeaderBytes is read, one byte more is refused,
 * however the bytes are chunked.
 *
 * What it refuses (RtspWireError.status, fatal?):
 * - start line + headers longer than maxHeaderBytes: 414 fatal when the request line alone does
 *   not fit, else 400 fatal (the end of the message cannot be found within the limit);
 * - Content-Length not a decimal number: 400 fatal; above maxBodyBytes: 413 fatal;
 * - a malformed request/status line or header line: 400, non-fatal (the message, body
 *   included, is skipped whole);
 * - a version other than RTSP/1.0: 505, non-fatal.
 * A missing or malformed CSeq is left to the connection (the headers are delivered as sent);
 * errors carry the CSeq when one could be read.
 */
import { RtspHeaders, RtspWireError, type RtspRequest, type RtspResponse } from "./message.js";

export interface RtspWireLimits {
  /** Request/status line plus headers, bytes (IFC_RTSP_MAX_HEADER_BYTES). Beyond: RtspWireError, fatal. */
  maxHeaderBytes: number;
  /** Body (Content-Length), bytes (IFC_RTSP_MAX_BODY_BYTES). Beyond: RtspWireError 413 (fatal: the body is not read). */
  maxBodyBytes: number;
}

export interface RtspWireHandlers {
  onRequest(req: RtspRequest): void;
  onResponse(res: RtspResponse): void;
  /** One `$`-framed packet; `payload` may view the reader's buffer only until the call returns. */
  onInterleaved(channel: number, payload: Buffer): void;
}

const DOLLAR = 0x24;
const CR = 0x0d;
const LF = 0x0a;
const TOKEN = /^[!#$%&'*+\-.^_`|~0-9A-Za-z]+$/;
const VERSION = /^[A-Za-z]+\/\d+\.\d+$/;
const EMPTY = Buffer.alloc(0);

/** A parsed head waiting for its body. */
interface PendingMessage {
  bodyLength: number;
  /** Set when the head was bad but its end was found: skip the body, then throw this. */
  error?: RtspWireError;
  deliver?: (body: Buffer) => void;
}

export class RtspWireReader {
  private buf: Buffer = EMPTY;
  private pending: PendingMessage | undefined;
  private failed: RtspWireError | undefined;
  /** Where the unit being handed to a handler ends: if the handler throws, reading goes on from there. */
  private mark = 0;
  /** The caller's chunk during push (its bytes must be copied to be kept). */
  private chunk: Buffer = EMPTY;

  constructor(
    private readonly limits: RtspWireLimits,
    private readonly handlers: RtspWireHandlers,
  ) {}

  /**
   * Feeds bytes; calls the handlers synchronously for every complete unit. Throws RtspWireError
   * on bad input: when `fatal`, the stream can no longer be framed and the reader refuses more
   * input; otherwise the bad message was skipped whole and reading may go on. Bytes after a
   * non-fatal error stay buffered (so answers keep the order of requests): after answering,
   * `push(Buffer.alloc(0))` goes on with them. An exception from a handler propagates the same
   * way (its unit consumed, the rest buffered; a fatal RtspWireError from a handler also stops
   * the reader).
   */
  push(chunk: Buffer): void {
    if (this.failed) throw this.failed;
    this.chunk = chunk;
    this.mark = 0;
    // The common case (nothing held) reads the chunk in place: no copy per interleaved packet.
    const data = this.buf.length === 0 ? chunk : chunk.length === 0 ? this.buf : Buffer.concat([this.buf, chunk]);
    let off = 0;
    try {
      for (;;) {
        const used = this.next(data, off);
        if (used === 0) break;
        off += used;
      }
    } catch (err) {
      // A handler's own exception (e.g. the connection's RtspWireError for a bad Transport)
      // leaves its unit consumed: it is never delivered twice.
      this.keep(data, err instanceof SkipThenThrow ? off + err.used : Math.max(off, this.mark));
      const e = err instanceof SkipThenThrow ? err.error : err;
      if (e instanceof RtspWireError && e.fatal) {
        this.failed = e;
        this.buf = EMPTY;
        this.pending = undefined;
      }
      throw e;
    }
    this.keep(data, off);
  }

  /** Bytes held waiting for the rest of a unit. */
  get buffered(): number {
    return this.buf.length;
  }

  /** Holds the unread tail (copied when it views the caller's chunk, which may be reused). */
  private keep(data: Buffer, off: number): void {
    if (off >= data.length) this.buf = EMPTY;
    else this.buf = data === this.chunk ? Buffer.from(data.subarray(off)) : data.subarray(off);
    this.chunk = EMPTY;
  }

  /** Reads one unit at `off`; returns the bytes it used, 0 when more input is needed. */
  private next(data: Buffer, off: number): number {
    const avail = data.length - off;
    if (avail <= 0) return 0;
    if (this.pending) {
      const p = this.pending;
      if (avail < p.bodyLength) return 0;
      this.pending = undefined;
      if (p.error) throw new SkipThenThrow(p.bodyLength, p.error);
      // The body is copied: the message outlives this call.
      this.mark = off + p.bodyLength;
      p.deliver?.(Buffer.from(data.subarray(off, off + p.bodyLength)));
      return p.bodyLength;
    }
    const first = data[off] as number;
    if (first === DOLLAR) {
      if (avail < 4) return 0;
      const len = data.readUInt16BE(off + 2);
      if (avail < 4 + len) return 0;
      this.mark = off + 4 + len;
      this.handlers.onInterleaved(data[off + 1] as number, data.subarray(off + 4, off + 4 + len));
      return 4 + len;
    }
    // Empty lines between messages (keep-alive CRLFs some clients send) are skipped.
    if (first === CR || first === LF) return 1;
    return this.head(data, off);
  }

  private head(data: Buffer, off: number): number {
    const max = this.limits.maxHeaderBytes;
    const end = findHeadEnd(data, off, Math.min(data.length, off + max));
    if (end < 0) {
      if (data.length - off < max) return 0;
      const firstLf = data.indexOf(LF, off);
      const lineTooLong = firstLf < 0 || firstLf - off >= max;
      const isResponse = data.subarray(off, off + 5).toString("latin1") === "RTSP/";
      if (lineTooLong && !isResponse) throw new RtspWireError(414, `request line longer than ${max} bytes`, true);
      throw new RtspWireError(400, `message head longer than ${max} bytes`, true);
    }
    const text = data.subarray(off, end).toString("utf8");
    const lines = text.split(/\r?\n/);
    // The head ends with an empty line: drop the two empty strings after it.
    while (lines.length > 0 && lines[lines.length - 1] === "") lines.pop();
    const headers = new RtspHeaders();
    let problem: string | undefined;
    let last: string | undefined;
    let status = 400;
    for (let i = 1; i < lines.length; i++) {
      const line = lines[i] as string;
      if (line.startsWith(" ") || line.startsWith("\t")) {
        // Folded continuation (RFC 2326 §4.2 via RFC 2616 §2.2 LWS).
        if (last === undefined) problem ??= "header continuation without a header";
        else appendToLast(headers, last, line.trim());
        continue;
      }
      const colon = line.indexOf(":");
      const name = colon > 0 ? line.slice(0, colon).trim() : "";
      if (!TOKEN.test(name)) {
        problem ??= `malformed header line ${JSON.stringify(line.slice(0, 80))}`;
        continue;
      }
      headers.append(name, line.slice(colon + 1).trim());
      last = name;
    }
    const cseq = headers.get("CSeq");
    const used = end - off;
    const clHeader = headers.get("Content-Length");
    let bodyLength = 0;
    if (clHeader !== undefined) {
      if (!/^\d{1,15}$/.test(clHeader)) throw new RtspWireError(400, `malformed Content-Length ${JSON.stringify(clHeader.slice(0, 40))}`, true, cseq);
      bodyLength = Number(clHeader);
      if (bodyLength > this.limits.maxBodyBytes) throw new RtspWireError(413, `body of ${bodyLength} bytes exceeds ${this.limits.maxBodyBytes}`, true, cseq);
    }
    const start = (lines[0] ?? "").split(" ");
    let deliver: ((body: Buffer) => void) | undefined;
    if (start[0]?.startsWith("RTSP/")) {
      // Status-Line = RTSP-Version SP Status-Code SP Reason-Phrase
      const code = start[1] ?? "";
      if (start[0] !== "RTSP/1.0") {
        if (VERSION.test(start[0])) status = 505;
        problem ??= `unsupported version ${JSON.stringify(start[0].slice(0, 20))}`;
      } else if (!/^\d{3}$/.test(code)) problem ??= `malformed status line ${JSON.stringify((lines[0] ?? "").slice(0, 80))}`;
      const reason = start.slice(2).join(" ");
      deliver = (body) => this.handlers.onResponse({ status: Number(code), reason, headers, body });
    } else {
      // Request-Line = Method SP Request-URI SP RTSP-Version
      const [method = "", uri = "", version = ""] = start;
      if (start.length !== 3 || !TOKEN.test(method) || uri === "") problem ??= `malformed request line ${JSON.stringify((lines[0] ?? "").slice(0, 80))}`;
      else if (version !== "RTSP/1.0") {
        if (VERSION.test(version)) status = 505;
        problem ??= `unsupported version ${JSON.stringify(version.slice(0, 20))}`;
      }
      deliver = (body) => this.handlers.onRequest({ method, uri, headers, body });
    }
    if (problem !== undefined) {
      const error = new RtspWireError(status, problem, false, cseq);
      if (bodyLength === 0) throw new SkipThenThrow(used, error);
      this.pending = { bodyLength, error };
      return used;
    }
    if (bodyLength === 0) {
      this.mark = off + used;
      deliver(Buffer.alloc(0));
      return used;
    }
    this.pending = { bodyLength, deliver };
    return used;
  }
}

/** Internal: the bytes of a bad message are consumed, then its error is thrown. */
class SkipThenThrow {
  constructor(
    readonly used: number,
    readonly error: RtspWireError,
  ) {}
}

/** The index just past the head's empty line (CRLFCRLF or LFLF, mixed allowed), searched in [off, limit); -1 when absent. */
function findHeadEnd(data: Buffer, off: number, limit: number): number {
  let i = data.indexOf(LF, off);
  while (i >= 0 && i < limit) {
    const n = data[i + 1];
    if (n === LF) return i + 2 <= limit ? i + 2 : -1;
    if (n === CR && data[i + 2] === LF) return i + 3 <= limit ? i + 3 : -1;
    i = data.indexOf(LF, i + 1);
  }
  return -1;
}

function appendToLast(headers: RtspHeaders, name: string, more: string): void {
  const values = headers.getAll(name);
  const i = values.length - 1;
  values[i] = `${values[i] ?? ""} ${more}`.trim();
}
