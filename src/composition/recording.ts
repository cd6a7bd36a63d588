import type { Logger } from "pino";
import { StatfsFreeSpace } from "../adapters/storage/statfs-free-space.js";
import type { Config } from "../config.js";
import { RecordingEvents } from "../recorder/recording-events.js";
import type { StreamRegistry } from "../core/stream-registry.js";
import type { EventBus } from "../ports/event-bus.js";
import type { ObjectStore } from "../ports/object-store.js";
import { ClipService } from "../recorder/clips.js";
import { DetectionTrigger } from "../recorder/detection-trigger.js";
import { RecordingCatalog } from "../recorder/recording-catalog.js";
import { Recorder } from "../recorder/recorder.js";
import { recoverInterruptedRecordings } from "../recorder/recovery.js";
import { RetentionCleaner } from "../recorder/retention.js";
import { SegmentLeases } from "../recorder/segment-leases.js";
import type { CloseStack } from "./close-stack.js";

export interface BuiltRecording {
  recorder: Recorder;
  catalog: RecordingCatalog;
  leases: SegmentLeases;
  retention: RetentionCleaner;
  clips: ClipService;
}

/** How often expired clips are looked for. */
const CLIP_EXPIRY_INTERVAL_MS = 60_000;

/**
 * The recorder and what keeps its output in shape: crash recovery (before any publisher),
 * the catalog, rolling retention and clip expiry. Closing stops the sweeps first, then writes
 * out every open recording.
 */
export async function buildRecording(config: Config, logger: Logger, stack: CloseStack, deps: { store: ObjectStore; registry: StreamRegistry; bus: EventBus }): Promise<BuiltRecording> {
  const { store, registry, bus } = deps;
  // Before any publisher: close recordings a crash left open, with the parts their manifests lag.
  await recoverInterruptedRecordings(store, logger.child({ component: "recovery" }));

  const recorder = new Recorder(registry, store, {
    recordByDefault: config.recordByDefault,
    segmentDurationMs: config.segmentDurationMs,
    partDurationMs: config.partDurationMs,
    keyframeRequestLeadMs: config.keyframeRequestLeadMs,
    maxSegmentDurationMs: config.maxSegmentDurationMs,
    alignToWallClock: config.segmentAlignWallClock,
    maxTags: config.maxTags,
  }, logger.child({ component: "recorder" }));
  stack.push("recorder", () => recorder.flush());
  installDetectionTrigger(config, logger, stack, { bus, registry, recorder });
  const leases = new SegmentLeases();
  const catalog = new RecordingCatalog(store, (stream) => recorder.liveManifest(stream), leases, logger.child({ component: "catalog" }));
  recorder.manifests.onWrite((key) => catalog.forget(key));

  const retention = new RetentionCleaner(store, catalog, recorder, leases, {
    maxAgeMs: (stream) => {
      const minutes = config.retentionMinutesByStream.get(stream) ?? config.retentionMinutes;
      return minutes > 0 ? minutes * 60_000 : Infinity;
    },
    maxStreamBytes: config.retentionStreamBytes,
    maxTotalBytes: config.retentionTotalBytes,
    // The local bytes are the fs store's root, or the S3 upload spool.
    disk: { probe: new StatfsFreeSpace(config.store === "s3" ? config.spoolDir : config.dataDir), minFreeBytes: config.retentionMinFreeBytes },
  }, logger.child({ component: "retention" }));
  retention.start(config.retentionIntervalMs);
  stack.push("retention", () => retention.stop());

  const clips = new ClipService(store, catalog, leases, config.clipRetentionDays * 86_400_000, logger.child({ component: "clips" }), {
    maxDurationMs: config.clipMaxDurationMs, maxCount: config.clipMaxCount, maxTotalBytes: config.clipTotalBytes, maxTags: config.maxTags,
  });
  const clipExpiry = setInterval(() => {
    void clips.deleteExpired().catch((err: unknown) => logger.warn({ err: (err as Error).message }, "clip expiry pass failed"));
  }, CLIP_EXPIRY_INTERVAL_MS);
  clipExpiry.unref();
  stack.push("clip expiry", () => clearInterval(clipExpiry));

  // stream-events: recording started/stopped, segment completed, clip exported.
  const events = new RecordingEvents(bus);
  recorder.onManifestChange((stream, m) => events.manifestChanged(stream, m));
  clips.onCreated((clip) => events.clipExported(clip));

  return { recorder, catalog, leases, retention, clips };
}

/** IFC_RECORD_ON_DETECTION: detections start recordings, with pre-roll, when streams are not recorded anyway. */
function installDetectionTrigger(config: Config, logger: Logger, stack: CloseStack, deps: { bus: EventBus; registry: StreamRegistry; recorder: Recorder }): void {
  const opts = { types: config.recordOnDetection, preRollMs: config.recordOnDetectionPreRollMs, postRollMs: config.recordOnDetectionPostRollMs };
  const log = logger.child({ component: "detection-trigger" });
  if (opts.types.length === 0) return;
  if (config.recordByDefault) {
    log.warn({ types: opts.types }, "IFC_RECORD_ON_DETECTION has no effect with IFC_RECORD=true: every stream is recorded from its start");
    return;
  }
  if (opts.preRollMs > config.streamBufferMs) {
    log.warn({ preRollMs: opts.preRollMs, streamBufferMs: config.streamBufferMs }, "IFC_RECORD_ON_DETECTION_PRE_ROLL_MS is longer than IFC_STREAM_BUFFER_MS: recordings start with what the buffer holds");
  }
  const trigger = new DetectionTrigger(deps.bus, deps.registry, deps.recorder, opts, log);
  stack.push("detection trigger", () => trigger.close());
}
