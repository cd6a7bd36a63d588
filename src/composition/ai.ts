import type { Logger } from "pino";
import type { Config } from "../config.js";
import type { StreamRegistry } from "../core/stream-registry.js";
import type { AiFeed, FrameSource } from "../extractor/ai-feed.js";
import { DecoderManager } from "../extractor/decoder-manager.js";
import type { EventBus } from "../ports/event-bus.js";
import type { Recorder } from "../recorder/recorder.js";
import { spawnReferenceWorker, type EmbeddedWorker } from "../worker/spawn-worker.js";
import type { CloseStack } from "./close-stack.js";

export interface BuiltAi {
  /** One decoder per live stream, shared by every frame consumer. */
  decoders: DecoderManager;
  /** The AI feed (undefined with IFC_AI_ENABLED=false). */
  ai: AiFeed | undefined;
  /** The bundled reference worker, when it runs as our child (IFC_AI_WORKERS empty). */
  embeddedWorker: EmbeddedWorker | undefined;
}

/**
 * Decode once, analyse elsewhere: the per-stream decoders, the bundled reference worker (a child
 * process), the worker pool and the feed that sends sampled frames to it. Closing stops the
 * feed, then the decoders, then the child.
 */
export async function buildAi(config: Config, logger: Logger, stack: CloseStack, deps: { registry: StreamRegistry; bus: EventBus; recorder: Recorder }): Promise<BuiltAi> {
  const { registry, bus, recorder } = deps;
  let embeddedWorker: EmbeddedWorker | undefined;
  let endpoints = config.aiWorkers;
  if (config.aiEnabled && endpoints.length === 0 && config.aiEmbeddedWorker) {
    const worker = await spawnReferenceWorker({ capacityFps: config.aiEmbeddedWorkerCapacityFps, maxFrameBytes: config.aiMaxFrameBytes, log: logger.child({ component: "reference-worker" }) });
    stack.push("reference worker", () => worker.stop());
    embeddedWorker = worker;
    endpoints = [worker.address];
  }

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
  stack.push("decoders", () => decoders.close());
  if (!config.aiEnabled) return { decoders, ai: undefined, embeddedWorker };
  // The pool talks gRPC to the workers (~13 MiB resident with the generated code): loaded only with AI on.
  const [{ WorkerPool }, { AiFeed }] = await Promise.all([import("../extractor/worker-pool.js"), import("../extractor/ai-feed.js")]);

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
  const ai = new AiFeed(registry, pool, frames, bus, {
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
  // The feed owns the pool from here: its close() closes the pool too.
  stack.push("ai feed", () => ai.close());
  ai.start();
  return { decoders, ai, embeddedWorker };
}
