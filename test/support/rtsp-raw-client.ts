import { connect, type Socket } from "node:net";
import type { RtspResponse } from "../../src/ingest/rtsp/message.js";
import { RtspWireReader } from "../../src/ingest/rtsp/wire-reader.js";
import { waitFor } from "./wait-for.js";

/**
 * A scripted RTSP client on a raw TCP connection: it writes exactly the bytes a test gives it
 * (well-formed or not) and reads the server's responses with the server's own wire reader.
 */
export class RawRtspClient {
  readonly responses: RtspResponse[] = [];
  /** Interleaved frames the server sent, by channel. */
  readonly frames = new Map<number, number>();
  private closed = false;
  private taken = 0;
  private cseq = 0;

  private constructor(private readonly socket: Socket) {
    const reader = new RtspWireReader(
      { maxHeaderBytes: 64 * 1024, maxBodyBytes: 1024 * 1024 },
      {
        onRequest: () => undefined,
        onResponse: (res) => void this.responses.push(res),
        onInterleaved: (channel) => void this.frames.set(channel, (this.frames.get(channel) ?? 0) + 1),
      },
    );
    socket.on("data", (d: Buffer) => reader.push(d));
    socket.on("close", () => {
      this.closed = true;
    });
    socket.on("error", () => undefined);
  }

  static async open(port: number, host = "127.0.0.1"): Promise<RawRtspClient> {
    const socket = connect({ port, host });
    await new Promise<void>((resolve, reject) => {
      socket.once("connect", () => resolve());
      socket.once("error", reject);
    });
    return new RawRtspClient(socket);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  write(data: string | Buffer): void {
    this.socket.write(data);
  }

  /** The next response not yet taken. */
  async next(timeoutMs = 10_000): Promise<RtspResponse> {
    await waitFor(() => this.responses.length > this.taken, { timeoutMs, what: "an RTSP response" });
    return this.responses[this.taken++] as RtspResponse;
  }

  /** Sends a well-formed request (CSeq counted here unless given) and returns its response. */
  async request(method: string, uri: string, headers: Record<string, string> = {}, body = ""): Promise<RtspResponse> {
    const lines = [`${method} ${uri} RTSP/1.0`];
    if (!Object.keys(headers).some((h) => h.toLowerCase() === "cseq")) lines.push(`CSeq: ${++this.cseq}`);
    for (const [k, v] of Object.entries(headers)) lines.push(`${k}: ${v}`);
    const bytes = Buffer.from(body, "utf8");
    if (bytes.length > 0) lines.push(`Content-Length: ${bytes.length}`);
    this.write(Buffer.concat([Buffer.from(`${lines.join("\r\n")}\r\n\r\n`, "latin1"), bytes]));
    return this.next();
  }

  async waitClosed(timeoutMs = 10_000): Promise<void> {
    await waitFor(() => this.closed, { timeoutMs, what: "the server to close the connection" });
  }

  close(): void {
    this.socket.destroy();
  }
}

/** An H.264 SDP as ffmpeg writes it for ANNOUNCE, with `extra` lines appended to the video section. */
export function h264Sdp(extra: string[] = []): string {
  return [
    "v=0", "o=- 0 0 IN IP4 127.0.0.1", "s=test", "c=IN IP4 127.0.0.1", "t=0 0",
    "m=video 0 RTP/AVP 96", "a=rtpmap:96 H264/90000", "a=fmtp:96 packetization-mode=1", "a=control:streamid=0",
    ...extra, "",
  ].join("\r\n");
}
