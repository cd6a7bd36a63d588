import type { Server as TlsServer } from "node:tls";
import type { FastifyInstance } from "fastify";
import type { Logger } from "pino";
import type { SpoolingObjectStore } from "./adapters/storage/spooling-object-store.js";
import { buildAdmission } from "./composition/admission.js";
import { buildAi } from "./composition/ai.js";
import { buildAuth, type AuthParts } from "./composition/auth.js";
import { buildGrpcControl } from "./composition/grpc.js";
import { CloseStack } from "./composition/close-stack.js";
import { localStreamFigures, prepareHttpAuth, registerRoutes, type HttpAuth } from "./composition/http.js";
import { buildCluster } from "./composition/cluster.js";
import { buildState, nodeIdOf } from "./composition/state.js";
import { buildEvents } from "./composition/events.js";
import { assertEveryRouteHasAuth } from "./control/auth/gate.js";
import { buildRecording } from "./composition/recording.js";
import { buildRtc } from "./composition/rtc.js";
import { buildRtsp } from "./composition/rtsp.js";
import { buildSources } from "./composition/sources.js";
import { buildFrameApi, buildMetadataDatabase, buildPipelines } from "./composition/pipelines.js";
import { buildProductSide } from "./composition/products.js";
import { buildStore } from "./composition/store.js";
import type { Config } from "./config.js";
import { createApp } from "./control/app.js";
import { createAuditSink } from "./control/audit.js";
import type { AuditSink } from "./control/auth/principal.js";
import type { GrpcControlServer } from "./control/grpc/grpc-control-server.js";
import { grpcMetrics } from "./control/grpc/grpc-metrics.js";
import { rateLimitMetrics } from "./control/rate-limit.js";
import { dropMetrics } from "./control/drop-metrics.js";
import { rtspMetrics } from "./control/rtsp-metrics.js";
import { httpsOptions, installHsts, loadCertificate, tlsReloader, tlsSettings } from "./control/tls.js";
import { StreamRegistry } from "./core/stream-registry.js";
import type { WhepEgress } from "./distributor/whep/whep-egress.js";
import type { AiFeed } from "./extractor/ai-feed.js";
import type { DecoderManager } from "./extractor/decoder-manager.js";
import type { SourceManager } from "./ingest/source-manager.js";
import type { WhipIngest } from "./ingest/whip-ingest.js";
import type { RtspServer } from "./ingest/rtsp/server.js";
import type { EventBus } from "./ports/event-bus.js";
import type { ObjectStore } from "./ports/object-store.js";
import type { ClipService } from "./recorder/clips.js";
import type { RecordingCatalog } from "./recorder/recording-catalog.js";
import type { Recorder } from "./recorder/recorder.js";
import type { RetentionCleaner } from "./recorder/retention.js";
import type { SegmentLeases } from "./recorder/segment-leases.js";
import type { EmbeddedWorker } from "./worker/spawn-worker.js";

/** The API's version in the OpenAPI document. */
const API_VERSION = "1.0.0";

export interface Server {
  clips: ClipService;
  retention: RetentionCleaner;
  leases: SegmentLeases;
  /** The upload spool in front of S3 (IFC_STORE=s3 only). */
  spool: SpoolingObjectStore | undefined;
  app: FastifyInstance;
  registry: StreamRegistry;
  ingest: WhipIngest;
  whep: WhepEgress;
  /** Pulled RTSP cameras (IFC_SOURCES, /api/v1/sources). */
  sources: SourceManager;
  recorder: Recorder;
  catalog: RecordingCatalog;
  bus: EventBus;
  /** The audit trail (log line + `audit-events` bus event). */
  audit: AuditSink;
  /** One decoder per live stream, shared by every frame consumer. */
  decoders: DecoderManager;
  /** The AI feed (undefined with IFC_AI_ENABLED=false). */
  ai: AiFeed | undefined;
  /** The bundled reference worker, a child process (IFC_AI_WORKERS empty). */
  embeddedWorker: EmbeddedWorker | undefined;
  store: ObjectStore;
  /** The gRPC control server (undefined with IFC_GRPC_ENABLED=false); `grpc.port` is its bound port. */
  grpc: GrpcControlServer | undefined;
  /** The RTSP server (undefined with IFC_RTSP_ENABLED=false); `rtsp.port` is its bound TCP port. */
  rtsp: RtspServer | undefined;
  /** Users, signing keys, publish keys and the Authenticator every surface checks credentials through. */
  auth: AuthParts;
  /** The route table with each route's permission, and the gate's metrics. */
  httpAuth: HttpAuth;
  /** Base URL the server listens at, e.g. http://127.0.0.1:8080 (https://… with TLS on). */
  url: string;
  /** The URL clients reach it at: IFC_PUBLIC_URL when set, else `url`. */
  publicUrl: string;
  /** Reads IFC_TLS_CERT/IFC_TLS_KEY again and serves the new certificate to new connections (SIGHUP); false when TLS is off or the files are bad (the old one stays). */
  reloadTls(): Promise<boolean>;
  /** Graceful stop: refuse new publishers, end sessions, write out every open recording. Idempotent. */
  close(): Promise<void>;
}

/** A start that failed: names the step, carries the cause; everything made before it is closed. */
export class StartError extends Error {
  constructor(readonly step: string, cause: unknown) {
    super(`server start failed at ${step}: ${cause instanceof Error ? cause.message : String(cause)}`, { cause });
    this.name = "StartError";
  }
}

/**
 * The composition root's work, callable from main and from tests. Each builder pushes how to
 * undo what it made on one close stack; its reverse order is the shutdown order:
 * viewers → publishers → AI feed → decoders → reference worker → clip expiry → retention →
 * recorder flush → event bus → upload spool → HTTP server. A failed step closes the stack
 * and rejects with a StartError.
 */
export async function startServer(config: Config, logger: Logger): Promise<Server> {
  const stack = new CloseStack(logger.child({ component: "shutdown" }));
  let step = "";
  const at = <T>(name: string, make: () => T): T => {
    step = name;
    return make();
  };
  try {
    // The HTTP app first, so it closes last: requests in flight finish while the rest stops.
    const tls = at("tls", () => tlsSettings(config));
    const https = tls ? httpsOptions(tls, await at("tls certificate", () => loadCertificate(tls))) : undefined;
    const app = at("http app", () => createApp({
      logger,
      bodyLimit: config.whipMaxOfferBytes,
      corsOrigins: config.corsOrigins,
      https,
      headersTimeoutMs: config.httpHeadersTimeoutMs,
      requestTimeoutMs: config.httpRequestTimeoutMs,
      maxConnectionsPerClient: config.httpMaxConnectionsPerClient,
      openapi: { version: API_VERSION, ...(config.publicUrl ? { publicUrl: config.publicUrl } : {}) },
    }));
    if (tls) installHsts(app, config.hstsMaxAgeS);
    stack.push("http server", () => app.close());
    const { store, spool } = await at("object store", () => buildStore(config, logger, stack));
    const registry = new StreamRegistry({
      maxStreams: config.maxPublishers,
      readerQueueFrames: config.readerQueueFrames,
      reconnectGraceMs: config.reconnectGraceMs,
      rtpMaxJumpMs: config.rtpMaxJumpMs,
      readerWatch: { log: logger.child({ component: "stream-hub" }), warnIntervalMs: config.readerWarnIntervalMs, maxConsecutiveErrors: config.readerMaxConsecutiveErrors },
      streamBuffer: { maxMs: config.streamBufferMs, maxBytes: config.streamBufferBytes },
    });
    const events = await at(`event bus (${config.eventBus})`, () => buildEvents(config, logger, stack));
    const { bus } = events;
    const state = await at(`state (${config.state})`, () => buildState(config, logger, stack));
    const cluster = at("cluster", () => buildCluster(config, logger, stack, { registry, owners: state.streamOwners, bus }));
    const audit = createAuditSink(logger, bus);
    const recording = await at("recording", () => buildRecording(config, logger, stack, { store, registry, bus }));
    const { decoders, ai, embeddedWorker } = await at("ai", () => buildAi(config, logger, stack, { registry, bus, recorder: recording.recorder }));
    const admission = at("admission", () => buildAdmission(config, logger, stack, { registry }));
    const { ingest, whep } = await at("webrtc", () => buildRtc(config, logger, stack, { registry, bus, admission: admission.gate }));
    const sources = at("pull sources", () => buildSources(config, logger, stack, { registry }));
    const metadata = buildMetadataDatabase(config, logger, stack);
    const pipelines = await at("pipelines", () => buildPipelines(config, logger, stack, { store, bus, nodeId: nodeIdOf(config), metadata }));
    const frameApi = buildFrameApi(config, { pool: ai?.pool, store });
    // One store of rate-limit counters for every limiter (REST, login, gRPC).
    const { rateLimits } = state;
    const auth = await at("auth", () => buildAuth(config, logger, { rateLimits, audit, ...(state.sessions ? { sessions: state.sessions } : {}) }));
    stack.push("auth sessions", () => auth.close());
    const productSide = await at("products and inspection", () =>
      buildProductSide(config, logger, stack, { metadata, bus, store, pipelines, recorder: recording.recorder, catalog: recording.catalog, tokens: auth.tokens, nodeId: nodeIdOf(config) }),
    );
    if (productSide.deviceActive) auth.authenticator.useDeviceCheck(productSide.deviceActive);
    const httpAuth = await at("auth gate", () => prepareHttpAuth(app, config, auth.authenticator));
    await at("auth routes", () => app.register(auth.routes.plugin, auth.routes.opts));
    const grpcCalls = grpcMetrics();
    const limited = rateLimitMetrics();
    const rtspFigures = rtspMetrics();
    await at("routes", () =>
      registerRoutes(app, config, {
        ...recording, registry, store, uploads: spool, ingest, whep, sources, bus, audit, rateLimits, rateLimitMetrics: limited, decoders, ai, extraMetrics: [grpcCalls.registry, rtspFigures.registry, admission.metrics, dropMetrics({ registry, recorder: recording.recorder, decoders }), ...productSide.metrics], httpAuth, productSide,
        cluster: cluster.view, readinessChecks: { ...state.readinessChecks, ...events.readinessChecks }, pipelines, ...(frameApi ? { frameApi } : {}),
      }),
    );
    // Plugins register when the app gets ready: only then is the route table complete.
    await at("route permissions", async () => {
      await app.ready();
      assertEveryRouteHasAuth(httpAuth.routes);
    });
    const grpc = await at(`grpc listen on ${config.grpcHost}:${config.grpcPort}`, () =>
      buildGrpcControl(config, logger, stack, {
        registry, recorder: recording.recorder, catalog: recording.catalog, clips: recording.clips, ingest, ai,
        authenticator: auth.authenticator, audit, rateLimitStore: rateLimits, metrics: grpcCalls, onRateLimited: () => limited.limited("grpc"),
        ...(frameApi ? { frameApi } : {}),
        extraServices: productSide.grpc,
      }),
    );
    // After the registry and auth; closed before them (its publishers' recordings close first).
    const rtsp = await at(`rtsp listen on ${config.rtspHost}:${config.rtspPort}`, () =>
      buildRtsp(config, logger, stack, { registry, checks: auth.authenticator, demand: (stream) => sources.demand(stream), ownerElsewhere: cluster.view.ownerRtspUrl, admission: admission.gate }),
    );
    if (rtsp) rtspFigures.attach(() => rtsp.stats());
    await at(`http listen on ${config.httpHost}:${config.httpPort}`, () => app.listen({ host: config.httpHost, port: config.httpPort }));
    // Always-on cameras start once everything that reads their streams is up.
    await at("pull sources start", () => sources.start());

    const address = app.server.address();
    const port = typeof address === "object" && address ? address.port : config.httpPort;
    const host = config.httpHost === "0.0.0.0" ? "127.0.0.1" : config.httpHost;
    const url = `${tls ? "https" : "http"}://${host}:${port}`;
    cluster.start(
      { url: config.publicUrl || url, ...(rtsp ? { rtspUrl: `rtsp://${hostOf(config.publicUrl || url)}:${rtsp.port}` } : {}) },
      () => localStreamFigures({ registry, recorder: recording.recorder, ai, sources, cluster: cluster.view }),
    );
    const reloadHttpsTls = tls ? tlsReloader(app.server as unknown as TlsServer, tls, logger.child({ component: "tls" })) : async () => false;
    // SIGHUP: HTTPS and the gRPC port swap to the new certificate; each keeps the old one on bad files.
    const reloadTls = async (): Promise<boolean> => {
      const https = await reloadHttpsTls();
      if (!grpc?.tls) return https;
      try {
        await grpc.reload();
        return https;
      } catch (err) {
        logger.error({ err, component: "grpc-control" }, "gRPC TLS certificate not reloaded; the current one stays");
        return false;
      }
    };
    return {
      ...recording, app, registry, ingest, whep, sources, store, spool, bus, audit, decoders, ai, embeddedWorker, auth, grpc, rtsp, httpAuth,
      url,
      publicUrl: config.publicUrl || url,
      reloadTls,
      close: () => stack.close(),
    };
  } catch (err) {
    // Undo what was made (a spawned worker, timers, sockets); closing errors are logged by the stack.
    await stack.close().catch(() => undefined);
    throw new StartError(step, err);
  }
}

/** The host name of a base URL (the RTSP URL other nodes redirect readers to shares it). */
function hostOf(base: string): string {
  return new URL(base).hostname;
}
