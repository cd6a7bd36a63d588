/**
 * Frames a TCP byte stream into RTSP messages and interleaved binary frames (RFC 2326 §10.12),
 * incrementally: chunks may split anything anywhere. Used by both the server's connections and
 * the pull client. CONTRACT: signatures fixed; implemented by the rtsp-wire work.
 */
import type { RtspRequest, RtspResponse } from "./message.js";

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

export declare class RtspWireReader {
  constructor(limits: RtspWireLimits, handlers: RtspWireHandlers);
  /**
   * Feeds bytes; calls the handlers synchronously for every complete unit. Throws RtspWireError
   * on bad input: when `fatal`, the stream can no longer be framed and the reader refuses more
   * input; otherwise the bad message was skipped whole and reading may go on.
   */
  push(chunk: Buffer): void;
  /** Bytes held waiting for the rest of a unit. */
  get buffered(): number;
}
