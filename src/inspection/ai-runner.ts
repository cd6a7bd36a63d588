import type { Detection } from "./ai-result.js";

/**
 * What AI inspection needs of the batch pipelines, kept as a port so src/inspection/ imports
 * nothing of src/pipelines/ (composition/inspection.ts implements it over PipelinesRuntime).
 * Failures the inspection cannot get past are InspectionFailed (422).
 */
export interface AiPipelineInfo {
  pipeline_id: string;
  /** The current version (what a run uses). */
  version: string;
  /** The step whose detections are judged (the last AIDetectionService.Detect step), if any. */
  detection_step: string | null;
  /** The given version exists (when one was asked for). */
  has_version: boolean;
}

export interface AiRun {
  execution_id: string;
  pipeline_id: string;
  pipeline_version: string;
  processing_time_ms: number;
  detections: Detection[];
}

export interface AiInspectionRunner {
  /** The pipeline, or undefined when it does not exist. */
  describe(pipelineId: string, version?: string): Promise<AiPipelineInfo | undefined>;
  /** The file id an `image_file_path` names (an uploaded file's download path or object key), or undefined. */
  resolveImage(ref: { file_id?: string; image_file_path?: string }): Promise<string | undefined>;
  /** Runs the pipeline on the file and waits for it; the detection step's boxes. */
  run(req: { pipeline_id: string; detection_step: string; file_id: string; parameters: Record<string, unknown>; submitted_by: string | null }): Promise<AiRun>;
  /** A finished execution's detections (POST /pipeline-results/convert). */
  fromExecution(executionId: string): Promise<AiRun>;
}
