import type { WebSocket } from "ws";

export interface WsChannelOptions {
  /** Most bytes queued for one client; a client that lets more pile up is dropped. */
  maxBufferedBytes: number;
  /** Client → server messages allowed per minute (token bucket of that size, refilled evenly). */
  maxMessagesPerMinute: number;
  /** Called when a client is closed for its message rate (the `ifc_rate_limited_total{surface="ws"}` metric). */
  onRateLimited?: () => void;
  now?: () => number;
}

/** Close codes clients can act on (RFC 6455 §7.4.1). */
export const WS_CLOSE = {
  /** 1008 policy violation: too many client messages. */
  rateLimited: 1008,
  /** 1013 try again later: the client read too slowly and its send buffer overflowed. */
  slowConsumer: 1013,
  /** 1001 going away: the stream ended or the server shuts down. */
  goingAway: 1001,
} as const;

/**
 * One WebSocket client of a push feed. Sends never wait: when the client does not read fast
 * enough and its buffer passes the bound, it is closed (1013) rather than slowing the feed or
 * the other clients. Messages from the client pass a token bucket; past it, close 1008.
 */
export class WsChannel {
  private tokens: number;
  private refilledAt: number;
  private readonly now: () => number;
  private closed = false;
  sent = 0;

  constructor(
    readonly socket: WebSocket,
    private readonly opts: WsChannelOptions,
  ) {
    this.now = opts.now ?? Date.now;
    this.tokens = opts.maxMessagesPerMinute;
    this.refilledAt = this.now();
    socket.on("close", () => {
      this.closed = true;
    });
  }

  get isOpen(): boolean {
    return !this.closed && this.socket.readyState === this.socket.OPEN;
  }

  /** Queues a JSON message; false (and the client closed) when its buffer overflowed. */
  send(message: unknown): boolean {
    if (!this.isOpen) return false;
    const text = JSON.stringify(message);
    if (this.socket.bufferedAmount + Buffer.byteLength(text) > this.opts.maxBufferedBytes) {
      this.close(WS_CLOSE.slowConsumer, "send buffer overflow: read faster");
      return false;
    }
    this.socket.send(text);
    this.sent++;
    return true;
  }

  /** Accounts one client message; false (and the client closed) past the rate limit. */
  admitClientMessage(): boolean {
    const now = this.now();
    const perMs = this.opts.maxMessagesPerMinute / 60_000;
    this.tokens = Math.min(this.opts.maxMessagesPerMinute, this.tokens + (now - this.refilledAt) * perMs);
    this.refilledAt = now;
    if (this.tokens < 1) {
      this.opts.onRateLimited?.();
      this.close(WS_CLOSE.rateLimited, `more than ${this.opts.maxMessagesPerMinute} messages per minute`);
      return false;
    }
    this.tokens -= 1;
    return true;
  }

  close(code: number, reason: string): void {
    if (this.closed) return;
    this.closed = true;
    this.socket.close(code, reason);
    // A client that reads nothing never completes the closing handshake.
    setTimeout(() => this.socket.terminate(), 2000).unref();
  }
}
