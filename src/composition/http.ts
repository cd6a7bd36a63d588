import { execFile } from "node:child_process";
import { promisify } from "node:util";
import type { FastifyInstance } from "fastify";
import type { Registry } from "prom-client";
import type { Config } from "../config.js";
import type { Authenticator } from "../control/auth/authenticator.js";
import { authGateMetrics, collectRoutes, installAuthGate, type AuthGateMetrics, type CollectedRoute } from "../control/auth/gate.js";
import { sessionRoutes } from "../control/auth/session-routes.js";
import { MemoryRateLimitStore } from "../adapters/state/memory-rate-limit-store.js";
import { aiRoutes } from "../control/ai-routes.js";
import { installAuditHook } from "../control/audit.js";
import type { AuditSink } from "../control/auth/principal.js";
import { httpMetrics } from "../control/http-metrics.js";
import { metricsRoutes } from "../control/metrics.js";
import type { DiskSpaceStats } from "../ports/free-space.js";
import { installRestRateLimit, rateLimitMetrics, type RateLimitMetrics } from "../control/rate-limit.js";
import { recordingRoutes } from "../control/recording-routes.js";
import { describeStream, restRoutes } from "../control/rest-routes.js";
import { iceServerLinks, webRtcSessionRoutes } from "../control/webrtc-session-routes.js";
import { PendingSessions } from "../rtc/pending-sessions.js";
import type { StreamRegistry } from "../core/stream-registry.js";
import { hlsRoutes } from "../distributor/hls/hls-routes.js";
import cookie from "@fastify/cookie";
import { pageRoutes } from "../distributor/pages/page-routes.js";
import type { WhepEgress } from "../distributor/whep/whep-egress.js";
import { whepMetrics } from "../distributor/whep/whep-metrics.js";
import { wsRoutes } from "../distributor/ws/ws-routes.js";
import type { StreamFigures } from "../cluster/stream-stats-exchange.js";
import type { HttpCluster } from "./cluster.js";
import type { AiFeed } from "../extractor/ai-feed.js";
import type { DecoderManager } from "../extractor/decoder-manager.js";
import type { SourceManager } from "../ingest/source-manager.js";
import type { WhipIngest } from "../ingest/whip-ingest.js";
import { sourceRoutes } from "../control/source-routes.js";
import { executionFeed, pipelineRoutes } from "../control/pipeline-routes.js";
import type { PipelinesRuntime } from "../pipelines/runtime.js";
import { registerCameraStreamWs } from "../control/camera-stream-ws.js";
import type { FrameApiParts } from "./pipelines.js";
import type { ModuleParts } from "./products.js";
import type { WhipSession } from "../ingest/whip-session.js";
import type { WhepSession } from "../distributor/whep/whep-session.js";
import type { EventBus } from "../ports/event-bus.js";
import type { ObjectStore } from "../ports/object-store.js";
import type { RateLimitStore } from "../ports/rate-limit-store.js";
import type { UploadStats } from "../ports/upload-stats.js";
import type { ClipService } from "../recorder/clips.js";
import type { RecordingCatalog } from "../recorder/recording-catalog.js";
import type { Recorder } from "../recorder/recorder.js";
import type { SegmentLeases } from "../recorder/segment-leases.js";

const execFileAsync = promisify(execFile);

export interface HttpAuth {
  /** Every route registered after `prepareHttpAuth`, with its `config.auth` (the matrix test's table). */
  routes: CollectedRoute[];
  metrics: AuthGateMetrics;
  authenticator: Authenticator;
}

/**
 * Before any route: the cookie parser, the route collector and the pages' session routes. The gate itself is installed by registerRoutes,
 * after the rate limit, so a client guessing tokens spends its request budget.
 */
export async function prepareHttpAuth(app: FastifyInstance, config: Config, authenticator: Authenticator): Promise<HttpAuth> {
  await app.register(cookie);
  const routes = collectRoutes(app);
  await app.register(sessionRoutes, { authenticator, publicUrl: config.publicUrl });
  return { routes, metrics: authGateMetrics(), authenticator };
}

/** Puts every HTTP route behind the permission model (a root onRequest hook). Throws on a bad CIDR list. */
export function installHttpAuthGate(app: FastifyInstance, config: Config, auth: HttpAuth): void {
  installAuthGate(app, {
    authenticator: auth.authenticator,
    anonymousNetworks: config.authAnonymousNetworks,
    anonymousPermissions: config.authAnonymousPermissions,
    metricsNetworks: config.metricsNetworks,
    // Behind a proxy the Host header may not be the public one: IFC_PUBLIC_URL's origin is ours too.
    corsOrigins: [...config.corsOrigins, ...(config.publicUrl ? [new URL(config.publicUrl).origin] : [])],
    log: app.log.child({ component: "auth-gate" }),
    metrics: auth.metrics,
  });
}

/** Everything the HTTP surface serves. */
export interface HttpServices {
  registry: StreamRegistry;
  store: ObjectStore;
  uploads: UploadStats | undefined;
  recorder: Recorder;
  catalog: RecordingCatalog;
  leases: SegmentLeases;
  clips: ClipService;
  ingest: WhipIngest;
  whep: WhepEgress;
  /** Pulled cameras: /api/v1/sources, and readers' demand for on-demand ones. */
  sources?: SourceManager;
  bus: EventBus;
  decoders: DecoderManager;
  ai: AiFeed | undefined;
  audit: AuditSink;
  /** Counters of the rate limits (memory by default; shared with the login and gRPC limits). */
  rateLimits?: RateLimitStore;
  /** Other modules' registries merged into /metrics (gRPC control). */
  extraMetrics?: Registry[];
  /** `ifc_rate_limited_total`, shared with the gRPC limit; made here when not given. */
  rateLimitMetrics?: RateLimitMetrics;
  /** Set by prepareHttpAuth: the gate goes in after the rate limit; its metrics join /metrics. */
  httpAuth?: HttpAuth;
  /** The retention cleaner: its view of free disk space goes on /metrics. */
  retention?: { readonly diskStats: DiskSpaceStats };
  /** This node in the cluster: redirects to a stream's owner, other nodes' streams in REST and WebSocket. */
  cluster?: HttpCluster;
  /** More readiness probes (the shared state store). */
  readinessChecks?: Record<string, () => Promise<void>>;
  /** The batch pipelines (/api/v1/pipelines, executions, files; /ws/execution/{id}). */
  pipelines?: PipelinesRuntime;
  /** The frame API for browsers (WS /ws/camera-stream); absent without AI workers. */
  frameApi?: FrameApiParts;
  /** Products, traceability, inspection, offline devices: their REST plugins and the quality feed. */
  productSide?: Pick<ModuleParts, "routes" | "quality">;
}

/** A live stream's `stream_stats` figures (WebSocket), or undefined when it is not live here. */
export function wsStreamStats(s: Pick<HttpServices, "registry" | "recorder" | "ai">, name: string): Record<string, unknown> | undefined {
  const live = s.registry.get(name);
  if (!live) return undefined;
  const st = live.stats();
  const aiStats = s.ai?.stats(name);
  return {
    live: true,
    state: st.state,
    reconnects: st.reconnects,
    ...(st.reconnectingSince !== undefined ? { reconnecting_since: new Date(st.reconnectingSince).toISOString() } : {}),
    fps: st.video?.fps ?? 0,
    width: st.video?.width,
    height: st.video?.height,
    bitrate_bps: st.bitrateBps,
    packets_received: st.packetsReceived,
    packets_lost: st.packetsLost,
    packet_loss_ratio: st.packetsReceived + st.packetsLost > 0 ? st.packetsLost / (st.packetsReceived + st.packetsLost) : 0,
    frames_received: st.framesReceived,
    frames_dropped: st.framesDropped,
    viewers: live.hub.viewerCount,
    recording: s.recorder.isRecording(name),
    ...(aiStats ? { ai: { preset: aiStats.preset, worker: aiStats.worker, state: aiStats.state, frames_sent: aiStats.framesSent, frames_dropped: aiStats.framesDropped }, latency_ms: aiStats.latencyMs?.p50, ingest_to_worker_ms: aiStats.ingestToWorkerMs?.p50 } : {}),
  };
}

/** What this node tells the cluster of each of its live streams (REST entry and WebSocket figures). */
export function* localStreamFigures(s: Pick<HttpServices, "registry" | "recorder" | "ai" | "sources" | "cluster">): Iterable<[string, StreamFigures]> {
  for (const live of s.registry.list()) {
    const ws = wsStreamStats(s, live.name);
    if (!ws) continue;
    yield [live.name, { ws, rest: describeStream(live, { recorder: s.recorder, ...(s.sources ? { sources: s.sources } : {}), ...(s.cluster ? { cluster: s.cluster } : {}) }).entry }];
  }
}

/** Registers every route plugin on the one HTTP server (WHIP, WHEP, REST, HLS, metrics, AI, pages, WebSocket). */
/** WS /ws/camera-stream, registered in the WebSocket routes' scope (one @fastify/websocket per server). */
function cameraStreamRoutes(config: Config, f: FrameApiParts, onRateLimited: () => void): { maxMessageBytes: number; register(scope: FastifyInstance): Promise<void> } {
  const maxFrameBytes = f.session.maxFrameBytes ?? 8 * 1024 * 1024;
  // base64 grows 4/3, plus the JSON around it.
  const maxMessageBytes = Math.ceil(maxFrameBytes / 3) * 4 + 16 * 1024;
  return {
    maxMessageBytes,
    register: (scope) =>
      registerCameraStreamWs(scope, {
        pool: f.pool, archiver: f.archiver, session: f.session, maxSessions: f.maxSessions, maxMessageBytes,
        statsIntervalMs: config.wsStatsIntervalMs, allowedOrigins: config.corsOrigins, onRateLimited,
      }),
  };
}

export async function registerRoutes(app: FastifyInstance, config: Config, s: HttpServices): Promise<void> {
  const { registry, store, recorder, catalog, ai } = s;
  const iceLinks = iceServerLinks(config.iceServers, config.iceUsername, config.iceCredential);
  // Root hooks first, so they cover every route below. The rate limit runs before the auth gate
  // (register the gate after it): a client guessing tokens spends its request budget.
  const limits = s.rateLimitMetrics ?? rateLimitMetrics();
  installRestRateLimit(app, { store: s.rateLimits ?? new MemoryRateLimitStore(), limit: config.restRateLimitPerMinute, onLimited: () => limits.limited("rest") });
  const http = httpMetrics(app);
  installAuditHook(app, s.audit);
  if (s.httpAuth) installHttpAuthGate(app, config, s.httpAuth);
  // One count of unconnected sessions per client address, across WHIP and WHEP.
  const pending = new PendingSessions(config.rtcMaxPendingPerClient);
  const pendingRetryAfterS = Math.ceil(config.whipConnectTimeoutMs / 1000);
  const { ingest, whep } = s;
  await app.register(webRtcSessionRoutes<WhipSession>, {
    protocol: "whip", auth: { permission: "stream:publish", stream: { in: "params", name: "stream" } },
    service: { create: (st, sdp, who) => ingest.publish(st, sdp, who), get: (st, id) => ingest.get(st, id), patch: (st, id, f) => ingest.patch(st, id, f), delete: (st, id) => ingest.delete(st, id) },
    iceLinks, publicUrl: config.publicUrl, pending, pendingRetryAfterS,
    ...(s.cluster ? { ownerElsewhere: s.cluster.ownerUrl } : {}),
  });
  await app.register(webRtcSessionRoutes<WhepSession>, {
    protocol: "whep", auth: { permission: "stream:view", stream: { in: "params", name: "stream" }, viewToken: true },
    service: { create: async (st, sdp) => { await s.sources?.demand(st); return whep.watch(st, sdp); }, get: (st, id) => whep.get(st, id), patch: (st, id, f) => whep.patch(st, id, f), delete: (st, id) => whep.delete(st, id) },
    iceLinks, publicUrl: config.publicUrl, pending, pendingRetryAfterS, acceptPatchOnCreate: true,
    ...(s.cluster ? { ownerElsewhere: s.cluster.ownerUrl, redirectCreate: true } : {}),
  });
  await app.register(restRoutes, {
    registry,
    kick: async (name) => {
      return ingest.kick(name);
    },
    ...(s.sources ? { sources: s.sources } : {}),
    ...(s.cluster ? { cluster: s.cluster } : {}),
    catalog,
    recorder,
    playMaxDurationMs: config.playMaxDurationMs,
    readinessChecks: {
      ...s.readinessChecks,
      store: () => store.checkWritable(),
      ffmpeg: async () => {
        await execFileAsync(config.ffmpegPath, ["-version"], { timeout: 5000 });
      },
    },
  });
  const { sources } = s;
  if (sources) await app.register(sourceRoutes, { sources });
  if (s.pipelines) await app.register(pipelineRoutes, { runtime: s.pipelines });
  for (const plugin of s.productSide?.routes ?? []) await app.register(plugin);
  // A player's playlist request starts an on-demand pulled camera (and keeps it up while it plays).
  await app.register(hlsRoutes, { ...(sources ? { demand: (st: string) => sources.demand(st) } : {}), ...(s.cluster ? { ownerElsewhere: s.cluster.ownerUrl } : {}), recorder, catalog, store, leases: s.leases, segmentDurationMs: config.segmentDurationMs, partDurationMs: config.partDurationMs, playMaxDurationMs: config.playMaxDurationMs, windowSegments: config.hlsWindowSegments, partSegments: config.hlsPartSegments, blockingReloadTimeoutMs: config.hlsBlockingTimeoutMs, maxBlockedRequests: config.hlsMaxBlockedRequests });
  await app.register(metricsRoutes, { registry, uploads: s.uploads, ai, disk: s.retention, events: s.bus, extra: [whepMetrics(s.whep), http, limits.registry, ...(s.extraMetrics ?? []), ...(s.httpAuth ? [s.httpAuth.metrics.registry] : [])] });
  await app.register(aiRoutes, { registry, ai });
  await app.register(pageRoutes, { publicUrl: config.publicUrl });
  await app.register(wsRoutes, {
    bus: s.bus,
    streamStats: (name) => wsStreamStats(s, name) ?? s.cluster?.remoteWsStats(name),
    systemStatus: () => ({
      streams: registry.list().length,
      viewers: registry.list().reduce((n, st) => n + st.hub.viewerCount, 0),
      decoders: s.decoders.allStats().length,
      ai: ai ? { sessions: ai.sessionCount, workers: ai.pool.status() } : { enabled: false },
      pipelines: s.pipelines?.current ? { ...s.pipelines.current.executor.stats(), services: s.pipelines.registry.list().length } : { started: false },
      memory_rss_bytes: process.memoryUsage.rss(),
      uptime_s: Math.round(process.uptime()),
    }),
    channel: { maxBufferedBytes: config.wsMaxBufferedBytes, maxMessagesPerMinute: config.wsMaxMessagesPerMinute, onRateLimited: () => limits.limited("ws") },
    statsIntervalMs: config.wsStatsIntervalMs,
    ...(s.pipelines ? { executions: executionFeed(s.pipelines) } : {}),
    ...(s.productSide?.quality ? { quality: s.productSide.quality } : {}),
    ...(s.frameApi ? { largeMessageRoutes: cameraStreamRoutes(config, s.frameApi, () => limits.limited("ws")) } : {}),
    maxClients: config.wsMaxClients,
    maxClientMessageBytes: config.wsMaxMessageBytes,
  });
  await app.register(recordingRoutes, { registry, recorder, catalog, clips: s.clips, store, maxTags: config.maxTags, publicUrl: config.publicUrl, maxPreRollMs: config.streamBufferMs });
}
