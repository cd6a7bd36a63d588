import type { Logger } from "pino";
import { MemoryRateLimitStore } from "../adapters/state/memory-rate-limit-store.js";
import type { Config } from "../config.js";
import { AuthError, type Authenticator } from "../control/auth/authenticator.js";
import type { AuditSink } from "../control/auth/principal.js";
import type { GrpcControlServer, GrpcServiceLoader } from "../control/grpc/grpc-control-server.js";
import type { GrpcMetrics } from "../control/grpc/grpc-metrics.js";
import type { IngestControlDeps } from "../control/grpc/ingest-control-service.js";
import type { RateLimitStore } from "../ports/rate-limit-store.js";
import type { CloseStack } from "./close-stack.js";
import type { FrameApiParts } from "./pipelines.js";

export interface GrpcControlDeps extends Omit<IngestControlDeps, "feed" | "maxTags" | "maxPreRollMs"> {
  /** The one Authenticator of every surface; without it every credential is refused (anonymous networks only). */
  authenticator?: Authenticator;
  /** The audit trail; without it entries become log lines only. */
  audit?: AuditSink;
  /** Shared with the REST limits when given (Redis later); else one in memory. */
  rateLimitStore?: RateLimitStore;
  /** `grpcMetrics()` made before the HTTP routes, so /metrics includes them. */
  metrics?: GrpcMetrics;
  /** Each call refused by the rate limit (`ifc_rate_limited_total{surface="grpc"}`). */
  onRateLimited?: () => void;
  /** The frame API for native clients (CameraStreamService); absent without AI workers. */
  frameApi?: FrameApiParts;
  /** Other modules' services (products, offline sync), loaded here. */
  extraServices?: readonly GrpcServiceLoader[];
}

/** Until an Authenticator is wired: no credential is valid, no password either. */
const refuseAll: Authenticator = {
  verifyBearer: () => Promise.reject(new AuthError("bad-credentials", "no credentials are accepted: no authenticator is configured")),
  verifyViewToken: () => Promise.reject(new AuthError("bad-credentials", "no view tokens are accepted")),
  login: () => Promise.reject(new AuthError("bad-credentials", "login is not available")),
  refresh: () => Promise.reject(new AuthError("bad-credentials", "refresh is not available")),
  logout: () => Promise.resolve(),
  issueViewToken: () => Promise.reject(new AuthError("bad-credentials", "view tokens are not available")),
};

/**
 * The gRPC control server (IFC_GRPC_ENABLED) on IFC_GRPC_HOST:IFC_GRPC_PORT, over the same
 * services, authenticator, permissions and rate-limit store as REST, with TLS from
 * IFC_TLS_CERT/IFC_TLS_KEY. Closed on the stack; undefined when disabled.
 */
export async function buildGrpcControl(config: Config, logger: Logger, stack: CloseStack, deps: GrpcControlDeps): Promise<GrpcControlServer | undefined> {
  if (!config.grpcEnabled) return undefined;
  const log = logger.child({ component: "grpc-control" });
  if ((config.tlsCert === "") !== (config.tlsKey === "")) throw new Error("IFC_TLS_CERT and IFC_TLS_KEY must be set together");
  const { authenticator, audit, rateLimitStore, metrics, onRateLimited, frameApi, extraServices, ...services } = deps;
  if (!authenticator) log.warn("no authenticator: gRPC accepts only anonymous calls from IFC_AUTH_ANONYMOUS_NETWORKS");
  // gRPC (@grpc/grpc-js and the generated code, ~13 MiB resident) is loaded only when enabled.
  const { GrpcControlServer } = await import("../control/grpc/grpc-control-server.js");
  const extra = extraServices ? await Promise.all(extraServices.map((load) => load())) : undefined;
  const server = await GrpcControlServer.start({
    host: config.grpcHost,
    port: config.grpcPort,
    ...(config.tlsCert ? { tls: { certFile: config.tlsCert, keyFile: config.tlsKey, minVersion: config.tlsMinVersion } } : {}),
    authenticator: authenticator ?? refuseAll,
    anonymousNetworks: config.authAnonymousNetworks,
    anonymousPermissions: config.authAnonymousPermissions,
    rateLimit: { store: rateLimitStore ?? new MemoryRateLimitStore(), perMinute: config.grpcRateLimitPerMinute, ...(onRateLimited ? { onLimited: onRateLimited } : {}) },
    audit: audit ?? { record: (entry) => log.info({ audit: entry }, `audit ${entry.action}`) },
    services: { ...services, maxTags: config.maxTags, maxPreRollMs: config.streamBufferMs },
    ...(metrics ? { metrics } : {}),
    ...(extra ? { extraServices: extra } : {}),
    ...(frameApi ? { cameraStream: { pool: frameApi.pool, archiver: frameApi.archiver, session: frameApi.session, maxSessions: frameApi.maxSessions, log: log.child({ component: "frame-api" }) } } : {}),
    log,
  });
  stack.push("grpc control server", () => server.close());
  return server;
}
