/**
 * The pipeline definition of the design documents (API design §8.1.2): a named, versioned DAG of
 * steps, each a call to one method of a resident gRPC service. The TypeBox schema checks shape
 * only; validate-pipeline.ts checks what a schema cannot (ids unique, dependencies known and
 * acyclic, services known, parameters valid for their component).
 */
import { Type, type Static } from "typebox";

export const ID_PATTERN = "^[A-Za-z0-9_.-]{1,64}$";
export const EXECUTION_MODES = ["direct_grpc", "kafka_queue", "hybrid"] as const;
export const ERROR_STRATEGIES = ["fail_fast", "continue"] as const;
export type ExecutionMode = (typeof EXECUTION_MODES)[number];
export type ErrorStrategy = (typeof ERROR_STRATEGIES)[number];

export interface PipelineLimits {
  /** Most steps a definition may have. Default 50. */
  maxSteps?: number;
  /** Largest per-step `timeout_ms`. Default 300 000 (5 min). */
  maxTimeoutMs?: number;
  /** Most retries a step may ask for; the service registry's policy caps them at 3. Default 3. */
  maxRetryCount?: number;
}

export const DEFAULT_PIPELINE_LIMITS: Required<PipelineLimits> = { maxSteps: 50, maxTimeoutMs: 300_000, maxRetryCount: 3 };
export const DEFAULT_STEP_TIMEOUT_MS = 5000;
export const DEFAULT_RETRY_COUNT = 3;

export function resolveLimits(limits: PipelineLimits = {}): Required<PipelineLimits> {
  const l = { ...DEFAULT_PIPELINE_LIMITS, ...limits };
  if (!(Number.isInteger(l.maxSteps) && l.maxSteps >= 1)) throw new RangeError(`maxSteps must be an integer >= 1, got ${l.maxSteps}`);
  if (!(Number.isInteger(l.maxTimeoutMs) && l.maxTimeoutMs >= 1)) throw new RangeError(`maxTimeoutMs must be an integer >= 1, got ${l.maxTimeoutMs}`);
  if (!(Number.isInteger(l.maxRetryCount) && l.maxRetryCount >= 0)) throw new RangeError(`maxRetryCount must be an integer >= 0, got ${l.maxRetryCount}`);
  return l;
}

const id = (description: string) => Type.String({ pattern: ID_PATTERN, description });

/**
 * The definition's schema under the given limits: put it on the REST route's body. Unknown
 * properties are refused (additionalProperties false): a misspelt `depend_on` would otherwise
 * silently drop an edge of the DAG.
 */
export function pipelineDefinitionSchema(limits: PipelineLimits = {}) {
  const l = resolveLimits(limits);
  const step = Type.Object(
    {
      step_id: id("Unique within the pipeline; other steps name it in depends_on."),
      service: Type.String({ minLength: 1, maxLength: 128, description: "gRPC service, e.g. ResizeService." }),
      method: Type.String({ minLength: 1, maxLength: 128, description: "Method of the service, e.g. Resize." }),
      parameters: Type.Optional(Type.Record(Type.String(), Type.Unknown(), { description: "Request fields in snake_case; checked against the component's parameters_schema." })),
      depends_on: Type.Optional(Type.Array(id("step_id of a dependency"), { maxItems: l.maxSteps, default: [] })),
      timeout_ms: Type.Optional(Type.Integer({ minimum: 1, maximum: l.maxTimeoutMs, default: DEFAULT_STEP_TIMEOUT_MS })),
      retry_count: Type.Optional(Type.Integer({ minimum: 0, maximum: l.maxRetryCount, default: Math.min(DEFAULT_RETRY_COUNT, l.maxRetryCount) })),
    },
    { additionalProperties: false },
  );
  return Type.Object(
    {
      pipeline_id: id("Stable identifier of the pipeline."),
      name: Type.String({ minLength: 1, maxLength: 256 }),
      version: Type.String({ minLength: 1, maxLength: 64, description: "e.g. 1.0.0" }),
      description: Type.Optional(Type.String({ maxLength: 4096 })),
      execution_mode: Type.Optional(Type.Enum([...EXECUTION_MODES], { default: "direct_grpc" })),
      steps: Type.Array(step, { minItems: 1, maxItems: l.maxSteps }),
      error_handling: Type.Optional(
        Type.Object(
          {
            strategy: Type.Optional(Type.Enum([...ERROR_STRATEGIES], { default: "fail_fast" })),
            rollback_enabled: Type.Optional(Type.Boolean({ default: false })),
            notification_on_failure: Type.Optional(Type.Boolean({ default: false })),
          },
          { additionalProperties: false },
        ),
      ),
    },
    { additionalProperties: false },
  );
}

/** The schema under the default limits. */
export const PipelineDefinitionSchema = pipelineDefinitionSchema();
/** A definition as a client sends it (optional fields may be absent). */
export type PipelineDefinitionInput = Static<typeof PipelineDefinitionSchema>;

export interface PipelineStep {
  step_id: string;
  service: string;
  method: string;
  parameters: Record<string, unknown>;
  depends_on: string[];
  timeout_ms: number;
  retry_count: number;
}

export interface ErrorHandling {
  strategy: ErrorStrategy;
  rollback_enabled: boolean;
  notification_on_failure: boolean;
}

/** A definition with every default filled in: what is stored and what the executor runs. */
export interface PipelineDefinition {
  pipeline_id: string;
  name: string;
  version: string;
  description: string;
  execution_mode: ExecutionMode;
  steps: PipelineStep[];
  error_handling: ErrorHandling;
}

/** Fills in the defaults of a definition that passed validation. */
export function normalizeDefinition(input: PipelineDefinitionInput): PipelineDefinition {
  return {
    pipeline_id: input.pipeline_id,
    name: input.name,
    version: input.version,
    description: input.description ?? "",
    execution_mode: input.execution_mode ?? "direct_grpc",
    steps: input.steps.map((s) => ({
      step_id: s.step_id,
      service: s.service,
      method: s.method,
      parameters: { ...(s.parameters ?? {}) },
      depends_on: [...(s.depends_on ?? [])],
      timeout_ms: s.timeout_ms ?? DEFAULT_STEP_TIMEOUT_MS,
      retry_count: s.retry_count ?? DEFAULT_RETRY_COUNT,
    })),
    error_handling: {
      strategy: input.error_handling?.strategy ?? "fail_fast",
      rollback_enabled: input.error_handling?.rollback_enabled ?? false,
      notification_on_failure: input.error_handling?.notification_on_failure ?? false,
    },
  };
}
