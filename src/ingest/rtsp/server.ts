import { createServer, type Server, type Socket } from "node:net";
import type { Logger } from "pino";
import type { StreamRegistry } from "../../core/stream-registry.js";
import type { RtspAuthorizer } from "./authorizer.js";
import { RtspConnection } from "./connection.js";
import { reasonPhrase, RtspHeaders, serializeResponse } from "./message.js";
import type { RtspInputCounters, RtspServerContext, RtspServerOptions } from "./server-context.js";
import type { RtspSession } from "./session.js";
import { UdpPortPool, type UdpPortPoolOptions } from "./udp-ports.js";

export type { RtspServerOptions } from "./server-context.js";

/** Figures for logs, metrics and tests. */
export interface RtspServerStats {
  connections: number;
  sessions: number;
  publishing: number;
  reading: number;
  udpPairsInUse: number;
  /** Connections refused at IFC_RTSP_MAX_CONNECTIONS. */
  refusedConnections: number;
  /** Sessions ended by IFC_RTSP_SESSION_TIMEOUT_MS or, recording, by IFC_RTP_SILENCE_TIMEOUT_MS. */
  timedOut: number;
  input: RtspInputCounters;
}

/**
 * The RTSP server (RFC 2326), modelled on gortsplib's: it accepts connections and routes; each
 * connection frames and answers requests, each session holds its state and per-track
 * transports, and publishers and readers meet only in the Stream hub. A bad connection or
 * session ends alone: nothing it sends can take the server or another session down.
 */
export class RtspServer implements RtspServerContext {
  readonly udp: UdpPortPool;
  readonly input: RtspInputCounters = { unknownChannelFrames: 0, badFrames: 0, refusedRequests: 0 };
  private readonly server: Server;
  private readonly connections = new Set<RtspConnection>();
  private readonly table = new Map<string, RtspSession>();
  private sweep: NodeJS.Timeout | undefined;
  private refused = 0;
  private timedOut = 0;
  private boundPort = 0;
  private accepting = true;

  constructor(
    readonly registry: StreamRegistry,
    readonly authorizer: RtspAuthorizer,
    readonly opts: RtspServerOptions,
    udp: UdpPortPoolOptions,
    private readonly log: Logger,
  ) {
    this.udp = new UdpPortPool(udp);
    this.server = createServer((socket) => this.accept(socket));
    this.server.on("error", (err) => this.log.error({ err }, "rtsp server error"));
  }

  get sessions(): ReadonlyMap<string, RtspSession> {
    return this.table;
  }

  /** The bound TCP port (IFC_RTSP_PORT 0: the one the kernel chose). */
  get port(): number {
    return this.boundPort;
  }

  async listen(): Promise<number> {
    await new Promise<void>((resolve, reject) => {
      const onError = (err: Error): void => reject(err);
      this.server.once("error", onError);
      this.server.listen({ host: this.opts.host, port: this.opts.port }, () => {
        this.server.off("error", onError);
        resolve();
      });
    });
    const address = this.server.address();
    this.boundPort = typeof address === "object" && address ? address.port : this.opts.port;
    this.log.info({ host: this.opts.host, port: this.boundPort, udp: this.udp.enabled ? `${this.udp.capacity} pairs` : "off" }, "rtsp server listening");
    return this.boundPort;
  }

  private accept(socket: Socket): void {
    if (!this.accepting || this.connections.size >= this.opts.maxConnections) {
      this.refused++;
      socket.on("error", () => undefined);
      const headers = new RtspHeaders().set("Retry-After", "5");
      const body = Buffer.from(this.accepting ? `the server holds ${this.opts.maxConnections} RTSP connections (IFC_RTSP_MAX_CONNECTIONS)\r\n` : "the server is shutting down\r\n");
      headers.set("Content-Type", "text/plain");
      socket.end(serializeResponse({ status: 503, reason: reasonPhrase(503), headers, body }));
      return;
    }
    const conn = new RtspConnection(socket, this, this.log);
    this.connections.add(conn);
  }

  addSession(session: RtspSession): void {
    this.table.set(session.id, session);
    // Timeouts are checked a few times per period, off the media path, and only while there is a
    // session to check: an idle server has no timer of its own.
    if (!this.sweep && this.accepting) {
      const every = Math.max(250, Math.min(5000, Math.floor(Math.min(this.opts.sessionTimeoutMs, this.opts.rtpSilenceTimeoutMs) / 4)));
      this.sweep = setInterval(() => this.expire(), every);
      this.sweep.unref();
    }
    session.onEnd((reason) => {
      this.table.delete(session.id);
      if (this.table.size === 0 && this.sweep) {
        clearInterval(this.sweep);
        this.sweep = undefined;
      }
      // A TCP publisher whose stream was ended for it (kick, takeover): close its connection so it notices.
      if ((reason === "stream-ended" || reason === "taken-over" || reason === "kicked") && session.usesTcp) session.owner.close();
    });
  }

  connectionClosed(conn: RtspConnection): void {
    this.connections.delete(conn);
  }

  private expire(): void {
    const now = Date.now();
    for (const session of this.table.values()) {
      session.sendReceiverReports();
      // A TCP reader shows life through its connection (which ends the session when it drops).
      if (session.mode === "read" && session.state === "play" && session.usesTcp) continue;
      const silent = session.rtpSilent(now, this.opts.rtpSilenceTimeoutMs);
      if (silent || now - session.lastAlive() > this.opts.sessionTimeoutMs) {
        this.timedOut++;
        session.end(silent ? "rtp-timeout" : "timeout");
        if (session.usesTcp) session.owner.close();
      }
    }
  }

  stats(): RtspServerStats {
    let publishing = 0;
    let reading = 0;
    for (const s of this.table.values()) {
      if (s.state === "record") publishing++;
      else if (s.state === "play") reading++;
    }
    return {
      connections: this.connections.size,
      sessions: this.table.size,
      publishing,
      reading,
      udpPairsInUse: this.udp.inUse,
      refusedConnections: this.refused,
      timedOut: this.timedOut,
      input: { ...this.input },
    };
  }

  /** Stops accepting, ends every session (publishers' streams end: recordings close) and closes the connections. */
  async close(): Promise<void> {
    this.accepting = false;
    if (this.sweep) clearInterval(this.sweep);
    const closed = new Promise<void>((resolve) => this.server.close(() => resolve()));
    for (const s of [...this.table.values()]) s.end("shutdown");
    // Streams whose RTSP publisher is gone wait for nobody now.
    for (const s of this.registry.list()) if (s.state === "reconnecting" && s.stats().protocol === "rtsp") this.registry.release(s, "shutdown");
    for (const c of [...this.connections]) c.destroy();
    await closed;
  }
}
