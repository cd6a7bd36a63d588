import { Server, ServerCredentials, type ServiceDefinition, type UntypedServiceImplementation } from "@grpc/grpc-js";
import type { Logger } from "pino";
import type { Registry } from "prom-client";
import { AuthServiceService, IngestControlService as IngestControlDefinition } from "../../generated/imageflow/v1/ingest_control.js";
import type { RateLimitStore } from "../../ports/rate-limit-store.js";
import type { Authenticator } from "../auth/authenticator.js";
import type { AuditSink } from "../auth/principal.js";
import { authServiceImplementation } from "./auth-service.js";
import { CallGuard } from "./call-guard.js";
import { CameraStreamService, type CameraStreamServiceOptions } from "./camera-stream-service.js";
import { CameraStreamServiceService } from "../../generated/imageflow/v1/camera_stream.js";
import { grpcMetrics, type GrpcMetrics } from "./grpc-metrics.js";
import { IngestControlService, type IngestControlDeps } from "./ingest-control-service.js";
import { NetworkList } from "../auth/networks.js";
import { ReloadableTlsCredentials, type TlsFiles } from "./reloadable-tls-credentials.js";
import { StreamEventFeed } from "./stream-events.js";

export interface GrpcControlOptions {
  host: string;
  /** 0: any free port (see `port`). */
  port: number;
  /** Serve TLS with these files (IFC_TLS_CERT/IFC_TLS_KEY); plaintext without. */
  tls?: TlsFiles;
  authenticator: Authenticator;
  anonymousNetworks: readonly string[];
  anonymousPermissions: readonly string[];
  rateLimit: { store: RateLimitStore; perMinute: number; onLimited?: () => void };
  audit: AuditSink;
  services: Omit<IngestControlDeps, "feed">;
  log: Logger;
  /** Made by the caller when /metrics must hold them before the server starts; else its own. */
  metrics?: GrpcMetrics;
  /** How long close() lets calls in flight finish before cutting them. */
  shutdownGraceMs?: number;
  /** Serve CameraStreamService (the frame API for native clients); off when unset. */
  cameraStream?: CameraStreamServiceOptions;
  /** More services behind the same guard (ProductService, SyncService, …). */
  extraServices?: readonly GrpcServiceRegistration[];
}

/** Makes a module's registration when the control server starts: its gRPC modules load only then. */
export type GrpcServiceLoader = () => Promise<GrpcServiceRegistration>;

/** A service another module serves on the control port, its calls checked by the shared guard. */
export interface GrpcServiceRegistration {
  definition: ServiceDefinition;
  implementation(guard: CallGuard): UntypedServiceImplementation;
}

/** Small control messages only: a bigger one is a mistake or an attack. */
const MAX_MESSAGE_BYTES = 1024 * 1024;

/**
 * The gRPC control server (IngestControl + AuthService) on its own port, beside the HTTP
 * server: its own listener, so its TLS reload or shutdown never touches HTTP or media.
 */
export class GrpcControlServer {
  private closing: Promise<void> | undefined;

  private constructor(
    private readonly server: Server,
    private readonly service: IngestControlService,
    private readonly feed: StreamEventFeed,
    private readonly credentials: ReloadableTlsCredentials | undefined,
    /** The bound port (the one asked for, or the one chosen for port 0). */
    readonly port: number,
    /** `ifc_grpc_*`, for /metrics. */
    readonly metrics: Registry,
    private readonly log: Logger,
    private readonly graceMs: number,
    /** The frame API's service, when served. */
    readonly cameraStream: CameraStreamService | undefined,
  ) {}

  static async start(opts: GrpcControlOptions): Promise<GrpcControlServer> {
    const metrics = opts.metrics ?? grpcMetrics();
    const guard = new CallGuard({
      authenticator: opts.authenticator,
      anonymousNetworks: new NetworkList(opts.anonymousNetworks, "IFC_AUTH_ANONYMOUS_NETWORKS"),
      anonymousPermissions: opts.anonymousPermissions,
      rateLimit: opts.rateLimit,
      metrics,
      audit: opts.audit,
      log: opts.log,
    });
    const feed = new StreamEventFeed(opts.services);
    const service = new IngestControlService({ ...opts.services, feed });
    const cameraStream = opts.cameraStream ? new CameraStreamService(opts.cameraStream) : undefined;
    // grpc-js has one receive limit per server: client frames need more than control messages.
    const maxReceive = Math.max(MAX_MESSAGE_BYTES, cameraStream?.maxMessageBytes ?? 0);
    const server = new Server({ "grpc.max_receive_message_length": maxReceive, "grpc.max_send_message_length": 16 * MAX_MESSAGE_BYTES });
    server.addService(IngestControlDefinition, service.implementation(guard));
    if (cameraStream) server.addService(CameraStreamServiceService, cameraStream.implementation(guard));
    server.addService(AuthServiceService, authServiceImplementation(guard, opts.authenticator));
    for (const extra of opts.extraServices ?? []) server.addService(extra.definition, extra.implementation(guard));
    const credentials = opts.tls ? await ReloadableTlsCredentials.load(opts.tls) : undefined;
    const host = opts.host.includes(":") ? `[${opts.host}]` : opts.host;
    let port: number;
    try {
      port = await new Promise<number>((resolve, reject) =>
        server.bindAsync(`${host}:${opts.port}`, credentials ?? ServerCredentials.createInsecure(), (err, bound) => (err ? reject(err) : resolve(bound))),
      );
    } catch (err) {
      feed.close();
      server.forceShutdown();
      throw err;
    }
    opts.log.info({ host: opts.host, port, tls: credentials !== undefined }, "gRPC control listening");
    return new GrpcControlServer(server, service, feed, credentials, port, metrics.registry, opts.log, opts.shutdownGraceMs ?? 5000, cameraStream);
  }

  get tls(): boolean {
    return this.credentials !== undefined;
  }

  /**
   * Re-reads the certificate and key (SIGHUP): new connections get the new certificate, those
   * open keep theirs. A file that does not load leaves the current certificate in use and rejects.
   */
  async reload(): Promise<void> {
    if (!this.credentials) return;
    await this.credentials.reload();
    this.log.info("gRPC TLS certificate reloaded");
  }

  /** Ends watch streams, lets unary calls finish for the grace period, then cuts what is left. Idempotent. */
  close(): Promise<void> {
    return (this.closing ??= (async () => {
      this.service.endWatchers();
      this.cameraStream?.endAll();
      this.feed.close();
      await new Promise<void>((resolve) => {
        const timer = setTimeout(() => {
          this.server.forceShutdown();
          resolve();
        }, this.graceMs);
        this.server.tryShutdown(() => {
          clearTimeout(timer);
          resolve();
        });
      });
    })());
  }
}
