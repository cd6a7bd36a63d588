import { Channel, credentials, type ChannelCredentials, type ChannelOptions, type Client, type ClientOptions } from "@grpc/grpc-js";

export interface GrpcChannelPoolOptions {
  /** Channels (each its own HTTP/2 connection) per instance. Default 10. */
  size?: number;
  /** HTTP/2 keep-alive ping interval (ms) while calls are active. Default 30 000. */
  keepaliveTimeMs?: number;
  /** How long a keep-alive ping may go unanswered before the connection is dropped (ms). Default 10 000. */
  keepaliveTimeoutMs?: number;
  /** Largest message either way (bytes). Default 16 MiB: requests carry references, not images. */
  maxMessageBytes?: number;
  /** Default insecure (resident services on the internal network). */
  credentials?: ChannelCredentials;
}

/** A constructor of a generated (ts-proto, grpc-js) client. */
export type GrpcClientCtor<T extends Client> = new (address: string, creds: ChannelCredentials, options?: Partial<ClientOptions>) => T;

/**
 * N grpc-js Channels to one address, handed out round-robin. Each channel has a local subchannel
 * pool: without it grpc-js shares one TCP connection between channels with equal options, and
 * the pool would spread calls over N handles of the same connection.
 */
export class GrpcChannelPool {
  readonly size: number;
  private readonly channels: Channel[];
  /** Clients bound to a channel, per generated constructor: making one per call would waste work. */
  private readonly clients = new Map<GrpcClientCtor<Client>, Client[]>();
  private cursor = 0;
  private closed = false;

  constructor(
    readonly address: string,
    opts: GrpcChannelPoolOptions = {},
  ) {
    this.size = opts.size ?? 10;
    if (!Number.isInteger(this.size) || this.size < 1) throw new RangeError(`pool size must be an integer >= 1, got ${this.size}`);
    const keepaliveTimeMs = opts.keepaliveTimeMs ?? 30_000;
    const keepaliveTimeoutMs = opts.keepaliveTimeoutMs ?? 10_000;
    const maxMessageBytes = opts.maxMessageBytes ?? 16 * 1024 * 1024;
    const creds = opts.credentials ?? credentials.createInsecure();
    const channelOpts: ChannelOptions = {
      "grpc.keepalive_time_ms": keepaliveTimeMs,
      "grpc.keepalive_timeout_ms": keepaliveTimeoutMs,
      "grpc.max_send_message_length": maxMessageBytes,
      "grpc.max_receive_message_length": maxMessageBytes,
      "grpc.use_local_subchannel_pool": 1,
    };
    this.channels = Array.from({ length: this.size }, () => new Channel(address, creds, channelOpts));
  }

  /** The next channel, round-robin. */
  next(): { channel: Channel; index: number } {
    if (this.closed) throw new Error(`channel pool for ${this.address} is closed`);
    const index = this.cursor;
    this.cursor = (this.cursor + 1) % this.size;
    return { channel: this.channels[index]!, index };
  }

  /** Channel `index` without moving the round-robin cursor (health checks use channel 0). */
  channelAt(index: number): Channel {
    const ch = this.channels[index];
    if (!ch) throw new RangeError(`channel ${index} out of 0..${this.size - 1}`);
    return ch;
  }

  /** A client of `ctor` bound to channel `index`; cached, so calling this per request is cheap. */
  client<T extends Client>(ctor: GrpcClientCtor<T>, index: number): T {
    if (this.closed) throw new Error(`channel pool for ${this.address} is closed`);
    let list = this.clients.get(ctor as GrpcClientCtor<Client>);
    if (!list) {
      list = [];
      this.clients.set(ctor as GrpcClientCtor<Client>, list);
    }
    let c = list[index];
    if (!c) {
      c = new ctor(this.address, credentials.createInsecure(), { channelOverride: this.channelAt(index) });
      list[index] = c;
    }
    return c as T;
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Closes every channel (in-flight calls end with CANCELLED/UNAVAILABLE). Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.clients.clear();
    for (const ch of this.channels) ch.close();
  }

  /** Connectivity of each channel (tests and diagnostics). */
  states(): number[] {
    return this.channels.map((c) => c.getConnectivityState(false));
  }
}
