import type { FastifyInstance } from "fastify";
import type { Logger } from "pino";
import type { SpoolingObjectStore } from "./adapters/storage/spooling-object-store.js";
import { InProcessEventBus } from "./adapters/events/in-process-event-bus.js";
import { MemoryRateLimitStore } from "./adapters/state/memory-rate-limit-store.js";
import { buildAi } from "./composition/ai.js";
import { buildAuth, logAuditSink, type AuthParts } from "./composition/auth.js";
import { CloseStack } from "./composition/close-stack.js";
import { installHttpAuth, registerRoutes, type HttpAuth } from "./composition/http.js";
import { assertEveryRouteHasAuth } from "./control/auth/gate.js";
import { buildRecording } from "./composition/recording.js";
import { buildRtc } from "./composition/rtc.js";
import { buildStore } from "./composition/store.js";
import type { Config } from "./config.js";
import { createApp } from "./control/app.js";
import { StreamRegistry } from "./core/stream-registry.js";
import type { WhepEgress } from "./distributor/whep/whep-egress.js";
import type { AiFeed } from "./extractor/ai-feed.js";
import type { DecoderManager } from "./extractor/decoder-manager.js";
import type { WhipIngest } from "./ingest/whip-ingest.js";
import type { EventBus } from "./ports/event-bus.js";
import type { ObjectStore } from "./ports/object-store.js";
import type { ClipService } from "./recorder/clips.js";
import type { RecordingCatalog } from "./recorder/recording-catalog.js";
import type { Recorder } from "./recorder/recorder.js";
import type { RetentionCleaner } from "./recorder/retention.js";
import type { SegmentLeases } from "./recorder/segment-leases.js";
import type { EmbeddedWorker } from "./worker/spawn-worker.js";

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
  recorder: Recorder;
  catalog: RecordingCatalog;
  bus: EventBus;
  /** One decoder per live stream, shared by every frame consumer. */
  decoders: DecoderManager;
  /** The AI feed (undefined with IFC_AI_ENABLED=false). */
  ai: AiFeed | undefined;
  /** The bundled reference worker, a child process (IFC_AI_WORKERS empty). */
  embeddedWorker: EmbeddedWorker | undefined;
  store: ObjectStore;
  /** Users, signing keys, publish keys and the Authenticator every surface checks credentials through. */
  auth: AuthParts;
  /** The route table with each route's permission, and the gate's metrics. */
  httpAuth: HttpAuth;
  /** Base URL, e.g. http://127.0.0.1:8080 */
  url: string;
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
    const app = at("http app", () => createApp({ logger, bodyLimit: config.whipMaxOfferBytes, corsOrigins: config.corsOrigins }));
    stack.push("http server", () => app.close());
    const { store, spool } = await at("object store", () => buildStore(config, logger, stack));
    const registry = new StreamRegistry({
      maxStreams: config.maxPublishers,
      readerQueueFrames: config.readerQueueFrames,
      readerWatch: { log: logger.child({ component: "stream-hub" }), warnIntervalMs: config.readerWarnIntervalMs, maxConsecutiveErrors: config.readerMaxConsecutiveErrors },
    });
    const bus: EventBus = new InProcessEventBus(logger.child({ component: "events" }));
    stack.push("event bus", () => bus.close());
    const recording = await at("recording", () => buildRecording(config, logger, stack, { store, registry }));
    const { decoders, ai, embeddedWorker } = await at("ai", () => buildAi(config, logger, stack, { registry, bus, recorder: recording.recorder }));
    const { ingest, whep } = at("webrtc", () => buildRtc(config, logger, stack, { registry }));
    // TODO(lead): the shared RateLimitStore and the real audit sink (log + bus) go here.
    const auth = await at("auth", () => buildAuth(config, logger, { rateLimits: new MemoryRateLimitStore(), audit: logAuditSink(logger) }));
    const httpAuth = await at("auth gate", () => installHttpAuth(app, config, auth.authenticator));
    await at("auth routes", () => app.register(auth.routes.plugin, auth.routes.opts));
    await at("routes", () => registerRoutes(app, config, { ...recording, registry, store, uploads: spool, ingest, whep, bus, decoders, ai, httpAuth }));
    // Plugins register when the app gets ready: only then is the route table complete.
    await at("route permissions", async () => {
      await app.ready();
      assertEveryRouteHasAuth(httpAuth.routes);
    });
    await at(`http listen on ${config.httpHost}:${config.httpPort}`, () => app.listen({ host: config.httpHost, port: config.httpPort }));

    const address = app.server.address();
    const port = typeof address === "object" && address ? address.port : config.httpPort;
    const host = config.httpHost === "0.0.0.0" ? "127.0.0.1" : config.httpHost;
    return {
      ...recording, app, registry, ingest, whep, store, spool, bus, decoders, ai, embeddedWorker, auth, httpAuth,
      url: `http://${host}:${port}`,
      close: () => stack.close(),
    };
  } catch (err) {
    // Undo what was made (a spawned worker, timers, sockets); closing errors are logged by the stack.
    await stack.close().catch(() => undefined);
    throw new StartError(step, err);
  }
}
