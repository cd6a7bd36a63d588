import { InvalidInput, NotFound } from "../core/errors.js";
import { convertDetections, conversionOptions, parseDetections, type AiResult } from "./ai-result.js";
import type { AiInspectionRunner, AiRun } from "./ai-runner.js";
import { InspectionFailed } from "./errors.js";
import type { MasterStore } from "./master-store.js";
import type { QualityMonitor } from "./quality-monitor.js";
import type { InspectionResult, InspectionSession, Judgement, SessionStore } from "./session-store.js";

export interface AiInspectionRequest {
  item_id: string;
  file_id?: string;
  image_file_path?: string;
  pipeline_id?: string;
  parameters?: { confidence_threshold?: number; model_name?: string };
}

/** The documents' answer to an AI inspection (API design §6.1.2), plus the ids it made. */
export interface AiInspectionAnswer {
  ai_result: AiResult;
  processing_time_ms: number;
  pipeline_version: string;
  created_at: string;
  result_id: string | null;
  session_id: string | null;
  item_id: string | null;
  pipeline_id: string;
  execution_id: string | null;
}

/**
 * AI inspection, human verification and completion of a session: each judgement is stored,
 * then handed to the quality monitor as the item's final result.
 */
export class InspectionService {
  constructor(
    private readonly deps: { master: () => Promise<MasterStore>; sessions: () => Promise<SessionStore>; runner: AiInspectionRunner; monitor: () => Promise<QualityMonitor> },
  ) {}

  async aiInspection(sessionId: string, req: AiInspectionRequest, by: string | null): Promise<AiInspectionAnswer> {
    const [master, sessions] = await Promise.all([this.deps.master(), this.deps.sessions()]);
    const session = await sessions.open(sessionId);
    const item = await master.getItem(req.item_id);
    const pipelineId = req.pipeline_id ?? item.pipeline_id;
    const context = { session_id: sessionId, item_id: item.item_id, pipeline_id: pipelineId ?? null };
    if (!pipelineId) throw new InspectionFailed("no-pipeline", `item ${item.item_id} has no pipeline; give pipeline_id or bind one (PUT /inspection/items/${item.item_id}/pipeline)`, context);
    const info = await this.deps.runner.describe(pipelineId);
    if (!info) throw new InspectionFailed("pipeline-not-found", `pipeline ${pipelineId} does not exist`, context);
    if (!info.detection_step) throw new InspectionFailed("no-detection-step", `pipeline ${pipelineId} has no detection step (AIDetectionService.Detect): it cannot judge this item`, context);
    // A pinned version that is no longer current cannot run (executions run the current version).
    if (!req.pipeline_id && item.pipeline_version && item.pipeline_version !== info.version) {
      throw new InspectionFailed("pipeline-version-mismatch", `item ${item.item_id} is bound to version ${item.pipeline_version} of ${pipelineId}; the current version is ${info.version}`, context);
    }
    const fileId = await this.deps.runner.resolveImage({ ...(req.file_id ? { file_id: req.file_id } : {}), ...(req.image_file_path ? { image_file_path: req.image_file_path } : {}) });
    if (!fileId) throw new InspectionFailed("image-not-found", `no uploaded file ${req.file_id ?? req.image_file_path ?? ""} (upload it with POST /api/v1/files)`, context);
    const parameters: Record<string, unknown> = {};
    if (req.parameters?.confidence_threshold !== undefined) parameters.confidence_threshold = req.parameters.confidence_threshold;
    if (req.parameters?.model_name !== undefined) parameters.model_name = req.parameters.model_name;
    let run: AiRun;
    try {
      run = await this.deps.runner.run({ pipeline_id: pipelineId, detection_step: info.detection_step, file_id: fileId, parameters, submitted_by: by });
    } catch (err) {
      if (err instanceof InspectionFailed) throw new InspectionFailed(err.reason, err.message, context);
      throw err;
    }
    const conv = convertDetections(run.detections, conversionOptions(item.criteria, req.parameters?.confidence_threshold));
    const stored = await sessions.addResult({
      session_id: sessionId, item_id: item.item_id, source: "ai", result: conv.ai_result.overall_result, confidence: conv.ai_result.confidence,
      detections: conv.ai_result.detections, defect_types: conv.defect_types, processing_time_ms: run.processing_time_ms,
      pipeline_id: run.pipeline_id, pipeline_version: run.pipeline_version, execution_id: run.execution_id, image_file_id: fileId, created_by: by,
    });
    await this.judged(session, stored);
    return this.answer(conv.ai_result, run, stored);
  }

  /** POST /pipeline-results/convert: an execution's (or a raw body's) detections as ai_result, stored on a session when one is named. */
  async convert(req: { execution_id?: string; result?: { detections?: unknown; processing_time_ms?: number; pipeline_id?: string; pipeline_version?: string }; session_id?: string; item_id?: string; confidence_threshold?: number }, by: string | null): Promise<AiInspectionAnswer> {
    if (!req.execution_id && !req.result) throw new InvalidInput("nothing-to-convert", "give execution_id or result", { field: "execution_id" });
    const master = await this.deps.master();
    const item = req.item_id ? await master.getItem(req.item_id) : undefined;
    let run: AiRun;
    if (req.execution_id) {
      try {
        run = await this.deps.runner.fromExecution(req.execution_id);
      } catch (err) {
        if (err instanceof InspectionFailed) throw new InspectionFailed(err.reason, err.message, { session_id: req.session_id ?? null, item_id: req.item_id ?? null, pipeline_id: err.context.pipeline_id });
        throw err;
      }
    } else {
      const r = req.result!;
      run = { execution_id: "", pipeline_id: r.pipeline_id ?? "", pipeline_version: r.pipeline_version ?? "", processing_time_ms: r.processing_time_ms ?? 0, detections: parseDetections(r.detections) };
    }
    const conv = convertDetections(run.detections, conversionOptions(item?.criteria ?? {}, req.confidence_threshold));
    if (!req.session_id) return this.answer(conv.ai_result, run, undefined);
    const sessions = await this.deps.sessions();
    const session = await sessions.open(req.session_id);
    const stored = await sessions.addResult({
      session_id: session.session_id, item_id: item?.item_id ?? null, source: "pipeline", result: conv.ai_result.overall_result, confidence: conv.ai_result.confidence,
      detections: conv.ai_result.detections, defect_types: conv.defect_types, processing_time_ms: run.processing_time_ms,
      pipeline_id: run.pipeline_id || null, pipeline_version: run.pipeline_version || null, execution_id: run.execution_id || null, created_by: by,
    });
    await this.judged(session, stored);
    return this.answer(conv.ai_result, run, stored);
  }

  /** A person's decision, kept next to the AI's; it becomes the item's final result. */
  async humanVerification(sessionId: string, req: { item_id: string; result: Judgement; verifies_result_id?: string; defect_types?: string[]; comment?: string }, by: string | null): Promise<InspectionResult> {
    const [master, sessions] = await Promise.all([this.deps.master(), this.deps.sessions()]);
    const session = await sessions.open(sessionId);
    await master.getItem(req.item_id);
    if (req.verifies_result_id) {
      const verified = await sessions.getResult(req.verifies_result_id);
      if (verified.session_id !== sessionId || verified.item_id !== req.item_id) {
        throw new NotFound("result-not-found", `result ${req.verifies_result_id} is not a result of item ${req.item_id} in session ${sessionId}`, { result_id: req.verifies_result_id });
      }
    }
    const stored = await sessions.addResult({
      session_id: sessionId, item_id: req.item_id, source: "human", result: req.result, defect_types: req.result === "NG" ? [...new Set(req.defect_types ?? [])].sort() : [],
      verifies_result_id: req.verifies_result_id ?? null, comment: req.comment ?? "", created_by: by,
    });
    await this.judged(session, stored);
    return stored;
  }

  private async judged(session: InspectionSession, r: InspectionResult): Promise<void> {
    const sessions = await this.deps.sessions();
    // The item's final judgement (a later AI run does not override an earlier human one).
    const final = (await sessions.finalResults(session.session_id)).find((f) => f.item_id === r.item_id) ?? r;
    (await this.deps.monitor()).record(`${session.session_id}/${r.item_id ?? ""}`, final.result === "NG", session.inspector);
  }

  private answer(ai: AiResult, run: AiRun, stored: InspectionResult | undefined): AiInspectionAnswer {
    return {
      ai_result: ai,
      processing_time_ms: run.processing_time_ms,
      pipeline_version: run.pipeline_version,
      created_at: stored?.created_at ?? new Date().toISOString(),
      result_id: stored?.result_id ?? null,
      session_id: stored?.session_id ?? null,
      item_id: stored?.item_id ?? null,
      pipeline_id: run.pipeline_id,
      execution_id: run.execution_id || null,
    };
  }
}
