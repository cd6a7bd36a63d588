/**
 * The port through which the DAG executor calls one step on a service, and the errors an
 * implementation (the gRPC client over the service registry) throws. Images travel as object
 * store references, never as bytes.
 */
import type { PipelineStep } from "./definition.js";

/** `ImageData` of common.proto: where an image is in the object store, and what it is. */
export interface ImageRef {
  bucket: string;
  object_key: string;
  content_type: string;
  size_bytes: number;
  width: number;
  height: number;
}

/** `Detection` of ai_detection.proto, plus attributes (a QR code's `payload`). */
export interface Detection {
  class_name: string;
  confidence: number;
  bbox: { x: number; y: number; width: number; height: number };
  attributes?: Record<string, string>;
}

export interface StepOutput {
  /** The image the step produced, if any (a detection step may produce none). */
  image?: ImageRef;
  detections?: Detection[];
  metadata?: Record<string, unknown>;
}

export interface StepInput {
  /** The output image of the nearest dependency that produced one, else the execution's input. */
  image: ImageRef;
  /** The step's parameters merged with the execution's (see stepParameters). */
  parameters: Record<string, unknown>;
}

export interface StepContext {
  /** Aborted on timeout, cancellation or fail_fast; the call should stop at once. */
  signal: AbortSignal;
  /** 1 for the first try. */
  attempt: number;
  /** Epoch ms by which this attempt must end: pass it on as the gRPC deadline. */
  deadlineMs: number;
  /** Lets the invoker choose the output key (`ifc-output-key`) under the execution. */
  executionId: string;
}

export interface StepInvoker {
  invoke(step: PipelineStep, input: StepInput, ctx: StepContext): Promise<StepOutput>;
}

/** gRPC status names the executor retries: the call may succeed if tried again. */
export const RETRYABLE_CODES: ReadonlySet<string> = new Set(["UNAVAILABLE", "DEADLINE_EXCEEDED", "RESOURCE_EXHAUSTED"]);

/** A step call that failed with a gRPC status (its name: "UNAVAILABLE", "INVALID_ARGUMENT", …). */
export class StepCallError extends Error {
  constructor(
    readonly code: string,
    message: string,
  ) {
    super(message);
    this.name = "StepCallError";
  }
}

/**
 * No instance of the service can take the call (every breaker open, or none healthy). Not a
 * failure of the step: the execution may be re-queued to run when the service recovers.
 */
export class NoServiceAvailableError extends Error {
  constructor(
    readonly service: string,
    readonly reason: "breaker_open" | "no_healthy_instance",
    message = `no instance of ${service} available (${reason})`,
  ) {
    super(message);
    this.name = "NoServiceAvailableError";
  }
}
