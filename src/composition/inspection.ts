import type { FastifyPluginAsync } from "fastify";
import { Counter, Registry } from "prom-client";
import type { Config } from "../config.js";
import { inspectionRoutes } from "../control/inspection-routes.js";
import { CapacityExceeded, NotFound } from "../core/errors.js";
import type { AiInspectionRunner, AiPipelineInfo, AiRun } from "../inspection/ai-runner.js";
import { parseDetections } from "../inspection/ai-result.js";
import { InspectionFailed } from "../inspection/errors.js";
import { InspectionService } from "../inspection/inspection-service.js";
import { MasterStore } from "../inspection/master-store.js";
import { QualityMonitor } from "../inspection/quality-monitor.js";
import { CACHE_KEYS } from "../products/product-service.js";
import { SessionStore } from "../inspection/session-store.js";
import { InspectionStatistics } from "../inspection/statistics.js";
import type { PipelineDefinition } from "../pipelines/definition.js";
import type { ProgressEvent } from "../pipelines/execution-service.js";
import type { PipelinesRuntime } from "../pipelines/runtime.js";
import { shortServiceName } from "../pipelines/service-names.js";
import { PipelineValidationError, validateExecutionParameters } from "../pipelines/validate-pipeline.js";
import { EVENT_SCHEMA_VERSION, SYSTEM_METRICS_TOPIC } from "../ports/event-bus.js";
import type { CloseStack } from "./close-stack.js";
import type { ModuleDeps, ModuleParts } from "./products.js";

/** Longest wait for an AI inspection's execution; past it the execution is cancelled and the inspection answers 422. */
export const AI_INSPECTION_TIMEOUT_MS = 120_000;

const NOT_FOUND = (err: unknown): boolean => err instanceof NotFound;

/** The step whose boxes are judged: the last AIDetectionService.Detect of the definition. */
function detectionStep(def: PipelineDefinition): string | null {
  const steps = def.steps.filter((s) => shortServiceName(s.service) === "AIDetectionService" && s.method === "Detect");
  return steps.at(-1)?.step_id ?? null;
}

const noContext = (pipelineId: string | null) => ({ session_id: null, item_id: null, pipeline_id: pipelineId });

/** AI inspection over the batch pipelines: submit an execution of the item's pipeline, wait for its end, read the detection step's boxes. */
export function pipelinesAiRunner(runtime: PipelinesRuntime, timeoutMs = AI_INSPECTION_TIMEOUT_MS): AiInspectionRunner {
  const detectionsOf = async (executionId: string, stepId: string): Promise<AiRun["detections"]> => {
    const parts = await runtime.get();
    const step = (await parts.executions.steps(executionId)).find((s) => s.step_id === stepId && s.input_index === 0);
    return parseDetections(step?.result?.detections);
  };
  return {
    async describe(pipelineId, version): Promise<AiPipelineInfo | undefined> {
      const parts = await runtime.get();
      const def = await parts.pipelines.get(pipelineId).catch((err: unknown) => (NOT_FOUND(err) ? undefined : Promise.reject(err)));
      if (!def) return undefined;
      const hasVersion = version === undefined || (await parts.pipelines.get(pipelineId, version).then(() => true, (err: unknown) => (NOT_FOUND(err) ? false : Promise.reject(err))));
      return { pipeline_id: pipelineId, version: def.version, detection_step: detectionStep(def), has_version: hasVersion };
    },
    async resolveImage(ref) {
      const parts = await runtime.get();
      // An image_file_path names an uploaded file (its download path or object key): the server never reads a client's path from its own disk.
      const m = ref.image_file_path ? /^(?:\/api\/v1\/files\/([A-Za-z0-9_.-]{1,80})\/download|files\/([A-Za-z0-9_-]{1,80})\.[a-z0-9]{1,5}|([A-Za-z0-9_-]{1,80}))$/.exec(ref.image_file_path) : null;
      const id = ref.file_id ?? m?.[1] ?? m?.[2] ?? m?.[3];
      if (!id) return undefined;
      return parts.files.get(id).then((f) => f.file_id, (err: unknown) => (NOT_FOUND(err) ? undefined : Promise.reject(err)));
    },
    async run(req): Promise<AiRun> {
      const parts = await runtime.get();
      const def = await parts.pipelines.get(req.pipeline_id);
      // Scoped to the detection step: another step's same-named parameter is left alone.
      const parameters = Object.keys(req.parameters).length > 0 ? { [req.detection_step]: req.parameters } : {};
      const errors = validateExecutionParameters(def, parameters, runtime.catalog);
      if (errors.length > 0) throw new PipelineValidationError(errors.map((e) => ({ ...e, field: e.field.replace(`parameters.${req.detection_step}.`, "parameters.") })));
      if (parts.executor.saturated) throw new CapacityExceeded("execution-queue-full", "the execution queue is full (IFC_PIPELINE_QUEUE_MAX); try again later", 1);
      const execution = await parts.executor.submit({ pipeline_id: req.pipeline_id, input_file_ids: [req.file_id], parameters, priority: "high", submitted_by: req.submitted_by });
      const id = execution.execution_id;
      const ended = await new Promise<"ended" | "timeout">((resolve, reject) => {
        const finish = (v: "ended" | "timeout"): void => {
          off();
          clearTimeout(timer);
          resolve(v);
        };
        const off = runtime.progress.listen(id, (ev: ProgressEvent) => {
          if (ev.type === "completed" || ev.type === "failed" || ev.type === "cancelled") finish("ended");
        });
        const timer = setTimeout(() => finish("timeout"), timeoutMs);
        timer.unref();
        // It may have ended before the listener was in place.
        parts.executions.get(id).then((e) => {
          if (e.status !== "pending" && e.status !== "running") finish("ended");
        }, (err: unknown) => {
          off();
          clearTimeout(timer);
          reject(err);
        });
      });
      if (ended === "timeout") {
        await parts.executor.cancel(id).catch(() => undefined);
        throw new InspectionFailed("execution-timeout", `execution ${id} did not finish within ${timeoutMs} ms; it was cancelled`, noContext(req.pipeline_id));
      }
      const e = await parts.executions.get(id);
      if (e.status !== "completed") throw new InspectionFailed("execution-failed", `execution ${id} ${e.status}: ${e.error?.message ?? "no detail"}`, noContext(req.pipeline_id));
      return { execution_id: id, pipeline_id: e.pipeline_id, pipeline_version: e.pipeline_version, processing_time_ms: e.processing_time_ms ?? 0, detections: await detectionsOf(id, req.detection_step) };
    },
    async fromExecution(executionId): Promise<AiRun> {
      const parts = await runtime.get();
      const e = await parts.executions.get(executionId);
      if (e.status !== "completed") throw new InspectionFailed("execution-not-completed", `execution ${executionId} is ${e.status}, not completed`, noContext(e.pipeline_id));
      const def = await parts.pipelines.get(e.pipeline_id, e.pipeline_version);
      const step = detectionStep(def);
      if (!step) throw new InspectionFailed("no-detection-step", `pipeline ${e.pipeline_id} ${e.pipeline_version} has no detection step`, noContext(e.pipeline_id));
      return { execution_id: executionId, pipeline_id: e.pipeline_id, pipeline_version: e.pipeline_version, processing_time_ms: e.processing_time_ms ?? 0, detections: await detectionsOf(executionId, step) };
    },
  };
}

/** Builds the inspection API (API design §6): targets, items, sessions, AI inspection through pipelines, human verification, statistics, quality figures and WS /ws/quality-metrics. */
export function buildInspection(config: Config, deps: ModuleDeps, stack: CloseStack): ModuleParts {
  const registry = new Registry();
  const judgements = new Counter({ name: "ifc_inspection_results_total", help: "Inspection judgements stored, by source (ai, human, pipeline) and result", labelNames: ["source", "result"], registers: [registry] });
  const alerts = new Counter({ name: "ifc_quality_alerts_total", help: "quality_alert raised (the NG rate crossed IFC_QUALITY_ALERT_NG_RATE upward)", registers: [registry] });
  const monitor = new QualityMonitor({
    ngRateThreshold: config.qualityAlertNgRate,
    windowMs: config.qualityWindowMs,
    updateIntervalMs: config.qualityUpdateIntervalMs,
    onAlert: (alert) => {
      alerts.inc();
      deps.log.warn({ alert }, "inspection quality alert");
      // system-metrics: its consumers branch on `type`, so a quality alert rides along without a topic of its own.
      deps.bus.publish({ topic: SYSTEM_METRICS_TOPIC, key: "inspection-quality", value: { schema_version: EVENT_SCHEMA_VERSION, node: deps.nodeId, ...alert } });
    },
  });
  stack.push("inspection quality monitor", () => monitor.close());
  const master = async (): Promise<MasterStore> => new MasterStore(await deps.db());
  const sessions = async (): Promise<SessionStore> => new SessionStore(await deps.db());
  const statistics = async (): Promise<InspectionStatistics> => new InspectionStatistics(await deps.db());
  // Seeded from the database once, at first use (the database opens lazily); a failed seed is tried again.
  let seeded: Promise<QualityMonitor> | undefined;
  const seededMonitor = (): Promise<QualityMonitor> => {
    seeded ??= (async () => {
      const now = Date.now();
      monitor.seed(await (await statistics()).recentFinals({ from: now - config.qualityWindowMs, to: now + 1 }));
      return monitor;
    })().catch((err: unknown) => {
      seeded = undefined;
      throw err;
    });
    return seeded;
  };
  const runner = pipelinesAiRunner(deps.pipelines);
  const service = new InspectionService({ master, sessions, runner, monitor: seededMonitor });
  const routes: FastifyPluginAsync = (app) =>
    inspectionRoutes(app, { master, sessions, statistics, service, runner, monitor: seededMonitor, onResult: (source, result) => {
      judgements.inc({ source, result });
      // Search pages carry each product's quality score and inspection count: a judgement retires them.
      deps.cache.bump("search", CACHE_KEYS.searchGeneration).catch((err: unknown) => deps.log.warn({ err }, "search cache not retired after an inspection result"));
    } });
  return {
    routes: [routes],
    grpc: [],
    metrics: [registry],
    quality: {
      attach: (send) => {
        seededMonitor().catch((err: unknown) => deps.log.warn({ err }, "quality figures could not be seeded from the database"));
        return monitor.attach(send);
      },
    },
  };
}
