import { createSocket, type RemoteInfo, type Socket } from "node:dgram";
import { isIPv6 } from "node:net";
import { sizeRecvBuffer, type RecvBufferResult } from "../../rtc/socket-buffer.js";

/** One track's UDP transport on the server: RTP on an even port, RTCP on the next (RFC 3550 §11). */
export interface UdpPair {
  readonly rtpPort: number;
  readonly rtcpPort: number;
  readonly rtp: Socket;
  readonly rtcp: Socket;
  /** What the kernel granted the RTP socket's receive buffer (undefined: kernel default kept). */
  readonly recvBuffer: RecvBufferResult | undefined;
  /** Closes both sockets and gives the ports back. Idempotent. */
  close(): void;
}

export interface UdpPortPoolOptions {
  host: string;
  /** IFC_RTSP_UDP_PORT_MIN..MAX; both 0: no UDP transport. */
  min: number;
  max: number;
  /** IFC_RTSP_UDP_RECV_BUFFER_BYTES, asked for on the RTP socket (0: kernel default). */
  recvBufferBytes: number;
}

/**
 * Server port pairs for RTSP's UDP transport, from a configured range. Ports held by another
 * process (a parallel server on the same range, anything else) are skipped: a bind that fails
 * with EADDRINUSE moves on to the next pair. A cursor walks the range so a port just given back
 * is not taken again at once (late packets of the old session would land in the new one).
 */
export class UdpPortPool {
  private readonly held = new Set<number>();
  private cursor: number;
  private readonly first: number;
  private readonly pairs: number;

  constructor(private readonly opts: UdpPortPoolOptions) {
    this.first = opts.min + (opts.min % 2);
    this.pairs = opts.min > 0 ? Math.max(0, Math.floor((opts.max - this.first + 1) / 2)) : 0;
    this.cursor = 0;
  }

  get enabled(): boolean {
    return this.pairs > 0;
  }

  /** Pairs the range holds at most. */
  get capacity(): number {
    return this.pairs;
  }

  get inUse(): number {
    return this.held.size;
  }

  /** Binds a free pair, or resolves undefined when every pair of the range is taken. */
  async allocate(): Promise<UdpPair | undefined> {
    for (let tried = 0; tried < this.pairs; tried++) {
      const port = this.first + 2 * ((this.cursor + tried) % this.pairs);
      if (this.held.has(port)) continue;
      this.held.add(port);
      const pair = await this.bindPair(port);
      if (pair) {
        this.cursor = (this.cursor + tried + 1) % this.pairs;
        return pair;
      }
      this.held.delete(port);
    }
    return undefined;
  }

  private async bindPair(port: number): Promise<UdpPair | undefined> {
    const type = isIPv6(this.opts.host) ? "udp6" : "udp4";
    const rtp = createSocket({ type });
    const rtcp = createSocket({ type });
    const closeBoth = (): void => {
      for (const s of [rtp, rtcp]) {
        try {
          s.close();
        } catch {
          // already closed
        }
      }
    };
    if (!(await bind(rtp, port, this.opts.host)) || !(await bind(rtcp, port + 1, this.opts.host))) {
      closeBoth();
      return undefined;
    }
    const recvBuffer = sizeRecvBuffer(rtp, this.opts.recvBufferBytes);
    let closed = false;
    return {
      rtpPort: port,
      rtcpPort: port + 1,
      rtp,
      rtcp,
      recvBuffer,
      close: () => {
        if (closed) return;
        closed = true;
        closeBoth();
        this.held.delete(port);
      },
    };
  }
}

/** Binds, resolving false when the port is taken (or cannot be bound): the caller tries the next. */
function bind(socket: Socket, port: number, host: string): Promise<boolean> {
  return new Promise((resolve) => {
    const onError = (): void => resolve(false);
    socket.once("error", onError);
    socket.bind({ port, address: host, exclusive: true }, () => {
      socket.off("error", onError);
      // Later socket errors (ICMP port unreachable on send, ...) must not crash the process.
      socket.on("error", () => undefined);
      resolve(true);
    });
  });
}

/** Whether a datagram came from the client's address (its ports may differ behind NAT). */
export function fromAddress(rinfo: RemoteInfo, address: string): boolean {
  return unmappedAddress(rinfo.address) === unmappedAddress(address);
}

export function unmappedAddress(address: string): string {
  return address.startsWith("::ffff:") && address.includes(".") ? address.slice(7) : address;
}
