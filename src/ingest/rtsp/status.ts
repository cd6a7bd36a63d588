/**
 * A request refused with an RTSP status: what the connection answers (with these headers and
 * the message as a text/plain body). Thrown by the method handlers; never leaves the connection.
 */
export class RtspStatus extends Error {
  override name = "RtspStatus";
  constructor(
    readonly status: number,
    message: string,
    readonly headers: Readonly<Record<string, string>> = {},
    /** A custom reason phrase (RFC 2326 §7.1.1 allows any); the standard one when undefined. */
    readonly reason?: string,
  ) {
    super(message);
  }
}
