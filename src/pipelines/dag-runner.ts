import { randomUUID } from "node:crypto";
import type { ObjectStore } from "../ports/object-store.js";
import type { DagExecutor, ExecutionOutcome, StepEvent } from "./dag-executor.js";
import type { PipelineDefinition } from "./definition.js";
import type { ExecutionError, StepRecord } from "./execution-store.js";
import type { PipelineRunner, RunOutcome, RunRequest } from "./execution-service.js";
import type { FileRecord, FileStore } from "./file-store.js";
import type { ImageRef } from "./step-invoker.js";

const iso = (ms: number | undefined): string | null => (ms === undefined ? null : new Date(ms).toISOString());

/**
 * Runs an execution's DAG once per input file, turns step events into step rows, registers the
 * images the steps produced as output files, and deletes a failed execution's objects when the
 * pipeline asks for rollback.
 */
export class DagPipelineRunner implements PipelineRunner<PipelineDefinition> {
  constructor(
    private readonly deps: { executor: DagExecutor; store: ObjectStore; files: FileStore; bucket: string },
  ) {}

  async run(req: RunRequest<PipelineDefinition>): Promise<RunOutcome> {
    const { execution, definition, inputs, signal } = req;
    const started = performance.now();
    const outcomes: { input: FileRecord; outcome: ExecutionOutcome }[] = [];
    let failure: ExecutionError | undefined;
    let status: "completed" | "failed" | "cancelled" = "completed";
    for (const [index, input] of inputs.entries()) {
      if (signal.aborted) {
        status = "cancelled";
        break;
      }
      const image: ImageRef = {
        bucket: this.deps.bucket,
        object_key: input.object_key,
        content_type: input.content_type,
        size_bytes: input.size_bytes,
        width: input.width ?? 0,
        height: input.height ?? 0,
      };
      const outcome = await this.deps.executor.run(definition, image, {
        executionId: execution.execution_id,
        parameters: execution.parameters,
        signal,
        observer: (e) => req.onStep(toStepRecord(index, e)),
      });
      if (outcome.status === "unavailable") {
        // Nothing of this attempt is kept: the whole execution runs again from the fallback queue.
        await this.deleteObjects(outcomes.flatMap((o) => o.outcome.output_images).concat(outcome.output_images));
        return {
          status: "unavailable",
          error: { code: "SERVICE_UNAVAILABLE", message: outcome.error?.message ?? "a service of the pipeline has no available instance", ...(outcome.error ? { failed_step: outcome.error.step_id } : {}) },
        };
      }
      outcomes.push({ input, outcome });
      if (outcome.status === "cancelled") {
        status = "cancelled";
        break;
      }
      if (outcome.status === "failed") {
        status = "failed";
        failure ??= { code: outcome.error?.code ?? "STEP_FAILED", message: outcome.error?.message ?? "a step failed", ...(outcome.error ? { failed_step: outcome.error.step_id } : {}) };
        if (definition.error_handling.strategy === "fail_fast") break;
      }
    }
    const produced = outcomes.flatMap((o) => o.outcome.output_images.map((img) => ({ img, input: o.input })));
    if (status !== "completed" && definition.error_handling.rollback_enabled) {
      await this.deleteObjects(produced.map((p) => p.img));
      return { status, output_file_ids: [], ...(failure ? { error: failure } : {}), processing_time_ms: performance.now() - started };
    }
    const ids: string[] = [];
    for (const { img, input } of produced) {
      const file = await this.deps.files.insert({
        file_id: `file-${randomUUID()}`,
        filename: `${stepOf(img.object_key)}-${input.filename}`,
        content_type: img.content_type,
        size_bytes: img.size_bytes,
        format: img.content_type.replace(/^image\//, "") || null,
        width: img.width || null,
        height: img.height || null,
        object_key: img.object_key,
        role: "output",
        execution_id: execution.execution_id,
        created_by: execution.submitted_by,
      });
      ids.push(file.file_id);
    }
    return { status, output_file_ids: ids, ...(failure ? { error: failure } : {}), processing_time_ms: performance.now() - started };
  }

  /** Only objects under executions/: an input file is never a step's output and must never be deleted. */
  private async deleteObjects(images: readonly ImageRef[]): Promise<void> {
    for (const img of images) if (img.object_key.startsWith("executions/")) await this.deps.store.delete(img.object_key);
  }
}

function stepOf(key: string): string {
  const parts = key.split("/");
  return parts.length >= 3 ? parts[parts.length - 2]! : "output";
}

function toStepRecord(index: number, e: StepEvent): StepRecord {
  const duration = e.started_at !== undefined && e.finished_at !== undefined ? e.finished_at - e.started_at : null;
  const out = e.output;
  const instance = typeof out?.metadata?.instance === "string" ? out.metadata.instance : null;
  return {
    input_index: index,
    step_id: e.step_id,
    service: e.service,
    method: e.method,
    status: e.status,
    attempts: e.attempt,
    instance,
    started_at: iso(e.started_at),
    finished_at: iso(e.finished_at),
    duration_ms: duration,
    result: out
      ? {
          ...(out.image ? { output_image: out.image } : {}),
          ...(out.detections ? { detections: out.detections } : {}),
          ...(out.metadata ? { metadata: out.metadata } : {}),
        }
      : null,
    error: e.error ?? null,
  };
}
