import { execFile } from "node:child_process";
import { promisify } from "node:util";
import type { FastifyInstance } from "fastify";
import type { Logger } from "pino";
import { FsObjectStore } from "./adapters/storage/fs-object-store.js";
import { MinioObjectStore } from "./adapters/storage/minio-object-store.js";
import { SpoolingObjectStore } from "./adapters/storage/spooling-object-store.js";
import { MANIFEST_NAME } from "./recorder/manifest.js";
import type { Config } from "./config.js";
import { createApp } from "./control/app.js";
import { restRoutes } from "./control/rest-routes.js";
import { hlsRoutes } from "./distributor/hls/hls-routes.js";
import { WhepEgress } from "./distributor/whep/whep-egress.js";
import { whepMetrics } from "./distributor/whep/whep-metrics.js";
import { whepRoutes } from "./distributor/whep/whep-routes.js";
import { StreamRegistry } from "./core/stream-registry.js";
import { WhipIngest } from "./ingest/whip-ingest.js";
import { iceServerLinks, whipRoutes } from "./ingest/whip-routes.js";
import { RtcPortBudget } from "./rtc/port-budget.js";
import { icePortsPerSession, peerOptionsFrom } from "./rtc/werift-peer.js";
import type { ObjectStore } from "./ports/object-store.js";
import { RecordingCatalog } from "./recorder/recording-catalog.js";
import { Recorder } from "./recorder/recorder.js";
import { ClipService } from "./recorder/clips.js";
import { recordingRoutes } from "./control/recording-routes.js";
import { metricsRoutes } from "./control/metrics.js";
import { recoverInterruptedRecordings } from "./recorder/recovery.js";
import { RetentionCleaner } from "./recorder/retention.js";
import { SegmentLeases } from "./recorder/segment-leases.js";
import { InProcessEventBus } from "./adapters/events/in-process-event-bus.js";
import type { EventBus } from "./ports/event-bus.js";
import { DecoderManager } from "./extractor/decoder-manager.js";
import { AiFeed, type FrameSource } from "./extractor/ai-feed.js";
import { WorkerPool } from "./extractor/worker-pool.js";
import { spawnReferenceWorker, type EmbeddedWorker } from "./worker/spawn-worker.js";
import { aiRoutes } from "./control/ai-routes.js";
import { wsRoutes } from "./distributor/ws/ws-routes.js";
import { pageRoutes } from "./distributor/pages/page-routes.js";

const execFileAsync = promisify(execFile);

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
  /** The bundled reference worker, when it runs in-process (IFC_AI_WORKERS empty). */
  embeddedWorker: EmbeddedWorker | undefined;
  store: ObjectStore;
  /** Base URL, e.g. http://127.0.0.1:8080 */
  url: string;
  /** Graceful stop: refuse new publishers, end sessions, write out every open recording. */
  close(): Promise<void>;
}

/** The composition root's work, callable from main and from tests. */
export async function startServer(config: Config, logger: Logger): Promise<Server> {
  let store: ObjectStore;
  let spool: SpoolingObjectStore | undefined;
  if (config.store === "s3") {
    const s3 = new MinioObjectStore({
      url: config.s3Url,
      accessKey: config.s3AccessKey,
      secretKey: config.s3SecretKey,
      bucket: config.s3Bucket,
      region: config.s3Region,
      pathStyle: config.s3PathStyle,
    });
    await s3.init();
    const storeLog = logger.child({ component: "store" });
    spool = new SpoolingObjectStore(s3, {
      spoolDir: config.spoolDir,
      maxQueueBytes: config.uploadQueueBytes,
      concurrency: config.uploadConcurrency,
      minBackoffMs: config.uploadMinBackoffMs,
      maxBackoffMs: config.uploadMaxBackoffMs,
      isBarrier: (key) => key.endsWith(`/${MANIFEST_NAME}`),
    }, (err, key) => storeLog.warn({ err: (err as Error).message, key }, "upload failed; will retry"));
    await spool.init();
    store = spool;
  } else {
    const fs = new FsObjectStore(config.dataDir);
    await fs.init();
    store = fs;
  }

  // Before any publisher: close recordings a crash left open, with the parts their manifests lag.
  await recoverInterruptedRecordings(store, logger.child({ component: "recovery" }));

  const registry = new StreamRegistry({ maxStreams: config.maxPublishers, readerQueueFrames: config.readerQueueFrames });
  const recorder = new Recorder(registry, store, {
    recordByDefault: config.recordByDefault,
    segmentDurationMs: config.segmentDurationMs,
    partDurationMs: config.partDurationMs,
    keyframeRequestLeadMs: config.keyframeRequestLeadMs,
    maxSegmentDurationMs: config.maxSegmentDurationMs,
    alignToWallClock: config.segmentAlignWallClock,
  }, logger.child({ component: "recorder" }));
  const leases = new SegmentLeases();
  const catalog = new RecordingCatalog(store, (stream) => recorder.liveManifest(stream), leases);
  const retention = new RetentionCleaner(store, catalog, recorder, leases, {
    maxAgeMs: (stream) => {
      const minutes = config.retentionMinutesByStream.get(stream) ?? config.retentionMinutes;
      return minutes > 0 ? minutes * 60_000 : Infinity;
    },
    maxStreamBytes: config.retentionStreamBytes,
    maxTotalBytes: config.retentionTotalBytes,
  }, logger.child({ component: "retention" }));
  retention.start(config.retentionIntervalMs);
  const clips = new ClipService(store, catalog, leases, config.clipRetentionDays * 86_400_000, logger.child({ component: "clips" }));
  const clipExpiry = setInterval(() => {
    void clips.deleteExpired().catch((err: unknown) => logger.warn({ err: (err as Error).message }, "clip expiry pass failed"));
  }, 60_000);
  clipExpiry.unref();
  // One budget of ICE ports for publishers and viewers alike.
  const rtcPorts = config.rtcPortMin > 0 ? RtcPortBudget.forRange(config.rtcPortMin, config.rtcPortMax, icePortsPerSession(config)) : RtcPortBudget.unlimited();
  const ingest = new WhipIngest(registry, {
    peer: peerOptionsFrom(config),
    connectTimeoutMs: config.whipConnectTimeoutMs,
    rtpSilenceTimeoutMs: config.rtpSilenceTimeoutMs,
    pliMinIntervalMs: config.pliMinIntervalMs,
    rembBitrateBps: config.rembBitrateBps,
    reorderWindowPackets: config.reorderWindowPackets,
  }, rtcPorts, logger.child({ component: "whip" }));

  const bus: EventBus = new InProcessEventBus(logger.child({ component: "events" }));
  const decoders = new DecoderManager(registry, {
    ffmpegPath: config.ffmpegPath,
    log: logger,
    readerCapacity: config.decoderReaderQueue,
    maxStdinBytes: config.decoderMaxStdinBytes,
    restartBackoffMinMs: config.decoderRestartBackoffMinMs,
    restartBackoffMaxMs: config.decoderRestartBackoffMaxMs,
    jpegQuality: config.decoderJpegQuality,
    desyncUnits: config.decoderDesyncUnits,
    desyncMs: config.decoderDesyncMs,
  });
  let ai: AiFeed | undefined;
  let embeddedWorker: EmbeddedWorker | undefined;
  if (config.aiEnabled) {
    let endpoints = config.aiWorkers;
    if (endpoints.length === 0 && config.aiEmbeddedWorker) {
      embeddedWorker = await spawnReferenceWorker({ capacityFps: config.aiEmbeddedWorkerCapacityFps, maxFrameBytes: config.aiMaxFrameBytes, log: logger.child({ component: "reference-worker" }) });
      endpoints = [embeddedWorker.address];
    }
    const pool = new WorkerPool({
      endpoints,
      healthIntervalMs: config.aiHealthIntervalMs,
      healthTimeoutMs: config.aiHealthTimeoutMs,
      breakerFailures: config.aiBreakerFailures,
      breakerOpenMs: config.aiBreakerOpenMs,
      breakerSuccesses: config.aiBreakerSuccesses,
      maxFrameBytes: config.aiMaxFrameBytes,
    }, logger.child({ component: "ai-workers" }));
    const frames: FrameSource = (stream, spec, onFrame) => {
      const sub = decoders.subscribe(stream.name, onFrame, spec);
      return { setSpec: (next) => sub.setSpec(next), close: () => sub.unsubscribe() };
    };
    ai = new AiFeed(registry, pool, frames, bus, {
      tagRecording: (stream, tags) => recorder.tagLive(stream, tags),
      recordingId: (stream) => recorder.liveManifest(stream)?.recordingId,
    }, {
      maxSessions: config.aiMaxSessions,
      maxFramesPerSecond: config.aiMaxFps > 0 ? config.aiMaxFps : Infinity,
      maxPreset: config.aiMaxPreset,
      priorities: config.aiPriorities,
      resultTimeoutMs: config.aiResultTimeoutMs,
      reconnectMinMs: config.aiReconnectMinMs,
      reconnectMaxMs: config.aiReconnectMaxMs,
      qos: {
        stepDownAfterMs: config.qosStepDownAfterMs,
        stepUpAfterMs: config.qosStepUpAfterMs,
        noCreditRatio: config.qosNoCreditPercent / 100,
        dropRatio: config.qosDropPercent / 100,
        latencyMs: config.qosLatencyMs,
      },
      tickMs: 250,
    }, logger.child({ component: "ai" }));
    ai.start();
  }

  const app = createApp({ logger, bodyLimit: config.whipMaxOfferBytes, corsOrigin: config.corsOrigin });
  await app.register(whipRoutes, { ingest, publicUrl: config.publicUrl, iceLinks: iceServerLinks(config.iceServers, config.iceUsername, config.iceCredential) });
  // WHEP egress: viewers of live streams, fed from the publisher's RTP (src/distributor/whep).
  const whep = new WhepEgress(registry, {
    peer: peerOptionsFrom(config),
    connectTimeoutMs: config.whipConnectTimeoutMs,
    idleTimeoutMs: config.whepIdleTimeoutMs,
    maxViewersPerStream: config.whepMaxViewersPerStream,
    maxViewers: config.whepMaxViewers,
    packetCachePackets: config.whepPacketCachePackets,
  }, rtcPorts, logger.child({ component: "whep" }));
  await app.register(whepRoutes, { egress: whep, publicUrl: config.publicUrl, iceLinks: iceServerLinks(config.iceServers, config.iceUsername, config.iceCredential) });
  await app.register(restRoutes, {
    registry,
    catalog,
    recorder,
    playMaxDurationMs: config.playMaxDurationMs,
    readinessChecks: {
      store: () => store.checkWritable(),
      ffmpeg: async () => {
        await execFileAsync(config.ffmpegPath, ["-version"], { timeout: 5000 });
      },
    },
  });
  await app.register(hlsRoutes, { recorder, catalog, store, leases, segmentDurationMs: config.segmentDurationMs, partDurationMs: config.partDurationMs, playMaxDurationMs: config.playMaxDurationMs, windowSegments: config.hlsWindowSegments, partSegments: config.hlsPartSegments, blockingReloadTimeoutMs: config.hlsBlockingTimeoutMs, maxBlockedRequests: config.hlsMaxBlockedRequests });
  await app.register(metricsRoutes, { registry, spool, ai, extra: [whepMetrics(whep)] });
  await app.register(aiRoutes, { registry, ai });
  await app.register(pageRoutes, { publicUrl: config.publicUrl });
  await app.register(wsRoutes, {
    bus,
    streamStats: (name) => {
      const live = registry.get(name);
      if (!live) return undefined;
      const st = live.stats();
      const aiStats = ai?.stats(name);
      return {
        live: true,
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
        recording: recorder.isRecording(name),
        ...(aiStats ? { ai: { preset: aiStats.preset, worker: aiStats.worker, state: aiStats.state, frames_sent: aiStats.framesSent, frames_dropped: aiStats.framesDropped }, latency_ms: aiStats.latencyMs?.p50, ingest_to_worker_ms: aiStats.ingestToWorkerMs?.p50 } : {}),
      };
    },
    systemStatus: () => ({
      streams: registry.list().length,
      viewers: registry.list().reduce((n, s) => n + s.hub.viewerCount, 0),
      decoders: decoders.allStats().length,
      ai: ai ? { sessions: ai.sessionCount, workers: ai.pool.status() } : { enabled: false },
      memory_rss_bytes: process.memoryUsage.rss(),
      uptime_s: Math.round(process.uptime()),
    }),
    channel: { maxBufferedBytes: config.wsMaxBufferedBytes, maxMessagesPerMinute: config.wsMaxMessagesPerMinute },
    statsIntervalMs: config.wsStatsIntervalMs,
    maxClients: config.wsMaxClients,
    maxClientMessageBytes: config.wsMaxMessageBytes,
  });
  await app.register(recordingRoutes, { registry, recorder, catalog, clips, store, maxTags: config.maxTags, publicUrl: config.publicUrl });
  await app.listen({ host: config.httpHost, port: config.httpPort });
  const address = app.server.address();
  const port = typeof address === "object" && address ? address.port : config.httpPort;
  const host = config.httpHost === "0.0.0.0" ? "127.0.0.1" : config.httpHost;

  let closing: Promise<void> | undefined;
  return {
    app, registry, ingest, whep, recorder, catalog, store, spool, retention, leases, clips, bus, decoders, ai, embeddedWorker,
    url: `http://${host}:${port}`,
    close: () => (closing ??= (async () => {
      clearInterval(clipExpiry);
      await retention.stop();
      await whep.shutdown();
      await ingest.shutdown();
      await recorder.flush();
      await ai?.close();
      await decoders.close();
      await embeddedWorker?.stop();
      await bus.close();
      if (spool) {
        // Upload what we can in the time left; the rest stays in the spool for the next start.
        await Promise.race([spool.flush(), new Promise((r) => setTimeout(r, config.shutdownTimeoutMs / 2))]);
        await spool.close();
      }
      await app.close();
    })()),
  };
}
