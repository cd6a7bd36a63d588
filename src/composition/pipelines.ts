import { existsSync } from "node:fs";
import { totalmem } from "node:os";
import path from "node:path";
import type { Logger } from "pino";
import { LazyDatabase } from "../adapters/db/lazy-database.js";
import { ALL_MIGRATIONS } from "../adapters/db/migrations/index.js";
import type { Config } from "../config.js";
import { ComponentCatalog } from "../pipelines/components.js";
import { DagExecutor } from "../pipelines/dag-executor.js";
import { DagPipelineRunner } from "../pipelines/dag-runner.js";
import type { PipelineDefinition } from "../pipelines/definition.js";
import { ExecutionService, type ResourceUsage } from "../pipelines/execution-service.js";
import { ExecutionStore } from "../pipelines/execution-store.js";
import { FileStore } from "../pipelines/file-store.js";
import { PipelineStore } from "../pipelines/pipeline-store.js";
import { ProgressHub } from "../pipelines/progress-hub.js";
import { ServiceRegistry } from "../pipelines/service-registry.js";
import { parseInstanceList } from "../pipelines/service-names.js";
import type { EventBus } from "../ports/event-bus.js";
import type { ObjectStore } from "../ports/object-store.js";
import type { CloseStack } from "./close-stack.js";
import { FrameArchiver } from "../pipelines/frame-api/frame-archiver.js";
import type { FrameSessionOptions } from "../pipelines/frame-api/frame-session.js";
import type { FrameWorkerPool } from "../pipelines/frame-api/frame-worker-pool.js";
import { PIPELINE_BUCKET, PipelinesRuntime, type PipelineParts } from "../pipelines/runtime.js";

function resourceUsageMeter(): () => ResourceUsage {
  let last = process.cpuUsage();
  let lastAt = performance.now();
  return () => {
    const now = performance.now();
    const cpu = process.cpuUsage(last);
    const wallUs = Math.max(1, (now - lastAt) * 1000);
    last = process.cpuUsage();
    lastAt = now;
    return { cpu: Math.round(((cpu.user + cpu.system) / wallUs) * 1000) / 10, memory: Math.round((process.memoryUsage.rss() / totalmem()) * 1000) / 10 };
  };
}

/** What both frame API transports share: the AI workers, the archive, the per-session limits. */
export interface FrameApiParts {
  pool: FrameWorkerPool;
  archiver: FrameArchiver;
  session: FrameSessionOptions;
  maxSessions: number;
}

/**
 * The frame API (gRPC CameraStreamService, WS /ws/camera-stream) runs client frames on the AI
 * workers of the video feed, so it exists only when that feed does (IFC_AI_ENABLED).
 */
export function buildFrameApi(config: Config, deps: { pool: FrameWorkerPool | undefined; store: ObjectStore }): FrameApiParts | undefined {
  const session: FrameSessionOptions = { maxPending: config.frameApiMaxPending, maxFrameBytes: config.frameApiMaxFrameBytes, archiveEveryNth: config.frameApiArchiveEveryNth };
  const maxSessions = config.frameApiMaxSessions;
  if (!deps.pool) return undefined;
  return { pool: deps.pool, archiver: new FrameArchiver(deps.store), session, maxSessions };
}

/**
 * The metadata database every module shares (pipelines, products, inspection): IFC_DATABASE_URL's
 * PostgreSQL, or PGlite under `<IFC_DATA_DIR>/db`; opened at first use. Closed after its users.
 */
export function buildMetadataDatabase(config: Config, logger: Logger, stack: CloseStack): LazyDatabase {
  const dbDir = path.join(config.dataDir, "db");
  const databaseUrl = config.databaseUrl;
  const db = new LazyDatabase(
    // The engine's module is loaded at first use too (pg ~15 MiB, PGlite more): most nodes never open it.
    async () => databaseUrl
      ? new (await import("../adapters/db/pg-database.js")).PgDatabase({ url: databaseUrl })
      : await (await import("../adapters/db/pglite-database.js")).PgliteDatabase.open({ dataDir: dbDir }),
    ALL_MIGRATIONS,
    logger.child({ component: "metadata-db" }),
  );
  stack.push("metadata database", () => db.close());
  return db;
}

/** True when the metadata database holds state to resume (so its users open it at start). */
export function metadataStateExists(config: Config): boolean {
  return config.databaseUrl !== "" || existsSync(path.join(config.dataDir, "db", "PG_VERSION"));
}

export async function buildPipelines(config: Config, logger: Logger, stack: CloseStack, deps: { store: ObjectStore; bus: EventBus; nodeId: string; metadata: LazyDatabase }): Promise<PipelinesRuntime> {
  const log = logger.child({ component: "pipelines" });
  const catalog = new ComponentCatalog();
  const registry = new ServiceRegistry({
    instances: config.pipelineServices.flatMap((entry) => parseInstanceList(entry)),
    strategy: config.pipelineBalancing,
    healthIntervalMs: config.pipelineHealthIntervalMs,
    poolSize: config.pipelinePoolSize,
    callTimeoutMs: config.pipelineCallTimeoutMs,
  });
  stack.push("pipeline service registry", () => registry.close());
  const progress = new ProgressHub(deps.bus);
  stack.push("pipeline progress", () => progress.close());
  const embedded = config.pipelineEmbeddedServices === "child" && config.store !== "fs" ? "in-process" : config.pipelineEmbeddedServices;
  const limits = { maxConcurrent: config.pipelineMaxConcurrent, queueMax: config.pipelineQueueMax, fallbackConsumers: config.pipelineFallbackConsumers };
  const stopServices: (() => Promise<void>)[] = [];

  const open = async (): Promise<PipelineParts> => {
    const db = await deps.metadata.get();
    try {
      // The embedded services' modules (sharp, the detectors) load with the first pipeline, not at start.
      if (embedded === "child") {
        const { spawnImageServices } = await import("../worker/spawn-image-services.js");
        const child = await spawnImageServices({ storeDir: config.dataDir, bucket: PIPELINE_BUCKET, log: logger.child({ component: "image-services" }) });
        stopServices.push(() => child.stop());
        for (const s of ["ResizeService", "AIDetectionService", "FilterService"]) registry.register(s, child.address);
      } else if (embedded === "in-process") {
        const { ImageServices } = await import("../worker/services/image-services.js");
        const services = new ImageServices({ store: deps.store, bucket: PIPELINE_BUCKET });
        const port = await services.listen("127.0.0.1:0");
        stopServices.push(() => services.close());
        for (const s of ["ResizeService", "AIDetectionService", "FilterService"]) registry.register(s, `127.0.0.1:${port}`);
      }
      registry.start();
      const pipelines = new PipelineStore<PipelineDefinition>(db);
      const executions = new ExecutionStore(db);
      const files = new FileStore(db);
      // The invoker and its generated clients load with the first pipeline, like the services.
      const { GrpcStepInvoker } = await import("../pipelines/grpc-step-invoker.js");
      const invoker = new GrpcStepInvoker(registry);
      const dag = new DagExecutor({ invoker, catalog });
      const runner = new DagPipelineRunner({ executor: dag, store: deps.store, files, bucket: PIPELINE_BUCKET });
      const executor = new ExecutionService<PipelineDefinition>(
        { pipelines, executions, files, bus: deps.bus, runner },
        { nodeId: deps.nodeId, ...limits, maxAttempts: 2, fallbackRetryMs: config.pipelineHealthIntervalMs, resourceUsage: resourceUsageMeter() },
      );
      await executor.start();
      return { db, pipelines, executions, files, executor };
    } catch (err) {
      for (const stop of stopServices.splice(0)) await stop().catch(() => undefined);
      throw err;
    }
  };

  const runtime = new PipelinesRuntime(open, catalog, registry, progress, deps.store, { filesMaxBytes: config.filesMaxBytes, filesMaxCount: config.filesMaxCount, filesAllowedTypes: config.filesAllowedTypes }, log);
  // After the executor (it may still be calling them), before the registry.
  stack.push("embedded image services", async () => {
    for (const stop of stopServices.splice(0)) await stop();
  });
  stack.push("pipelines", () => runtime.close());
  // State to resume: open now, so accepted executions continue without waiting for a request.
  if (metadataStateExists(config)) await runtime.get();
  return runtime;
}
