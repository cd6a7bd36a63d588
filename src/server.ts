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
import { StreamRegistry } from "./core/stream-registry.js";
import { WhipIngest } from "./ingest/whip-ingest.js";
import { iceServerLinks, whipRoutes } from "./ingest/whip-routes.js";
import { icePortsPerSession, peerOptionsFrom } from "./ingest/werift-peer.js";
import type { ObjectStore } from "./ports/object-store.js";
import { RecordingCatalog } from "./recorder/recording-catalog.js";
import { Recorder } from "./recorder/recorder.js";
import { ClipService } from "./recorder/clips.js";
import { recordingRoutes } from "./control/recording-routes.js";
import { metricsRoutes } from "./control/metrics.js";
import { recoverInterruptedRecordings } from "./recorder/recovery.js";
import { RetentionCleaner } from "./recorder/retention.js";
import { SegmentLeases } from "./recorder/segment-leases.js";

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
  recorder: Recorder;
  catalog: RecordingCatalog;
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
  const windowByStream = new Map(config.retentionMinutesByStream.map((e) => {
    const [name, minutes] = e.split("=");
    return [name as string, Number(minutes)];
  }));
  const retention = new RetentionCleaner(store, catalog, recorder, leases, {
    maxAgeMs: (stream) => {
      const minutes = windowByStream.get(stream) ?? config.retentionMinutes;
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
  const ingest = new WhipIngest(registry, {
    peer: peerOptionsFrom(config),
    connectTimeoutMs: config.whipConnectTimeoutMs,
    rtpSilenceTimeoutMs: config.rtpSilenceTimeoutMs,
    pliMinIntervalMs: config.pliMinIntervalMs,
    rembBitrateBps: config.rembBitrateBps,
    reorderWindowPackets: config.reorderWindowPackets,
    maxSessions: config.rtcPortMin > 0 ? Math.floor((config.rtcPortMax - config.rtcPortMin + 1) / icePortsPerSession(config)) : Number.MAX_SAFE_INTEGER,
  }, logger.child({ component: "whip" }));

  const app = createApp({ logger, bodyLimit: config.whipMaxOfferBytes, corsOrigin: config.corsOrigin });
  await app.register(whipRoutes, { ingest, iceLinks: iceServerLinks(config.iceServers, config.iceUsername, config.iceCredential) });
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
  await app.register(metricsRoutes, { registry, spool });
  await app.register(recordingRoutes, { registry, recorder, catalog, clips, store, maxTags: config.maxTags });
  await app.listen({ host: config.httpHost, port: config.httpPort });
  const address = app.server.address();
  const port = typeof address === "object" && address ? address.port : config.httpPort;
  const host = config.httpHost === "0.0.0.0" ? "127.0.0.1" : config.httpHost;

  let closing: Promise<void> | undefined;
  return {
    app, registry, ingest, recorder, catalog, store, spool, retention, leases, clips,
    url: `http://${host}:${port}`,
    close: () => (closing ??= (async () => {
      clearInterval(clipExpiry);
      await retention.stop();
      await ingest.shutdown();
      await recorder.flush();
      if (spool) {
        // Upload what we can in the time left; the rest stays in the spool for the next start.
        await Promise.race([spool.flush(), new Promise((r) => setTimeout(r, config.shutdownTimeoutMs / 2))]);
        await spool.close();
      }
      await app.close();
    })()),
  };
}
