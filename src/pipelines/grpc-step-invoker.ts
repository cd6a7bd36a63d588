import { Metadata, status, type ClientUnaryCall, type ServiceError } from "@grpc/grpc-js";
import { AIDetectionServiceClient } from "../generated/imageflow/v1/ai_detection.js";
import type { ImageData, ProcessingResult } from "../generated/imageflow/v1/common.js";
import { FilterServiceClient } from "../generated/imageflow/v1/filter.js";
import { ResizeServiceClient } from "../generated/imageflow/v1/resize.js";
import type { PipelineStep } from "./definition.js";
import { NoServiceAvailableError as RegistryNoService } from "./registry-errors.js";
import type { ServiceLease, ServiceRegistry } from "./service-registry.js";
import { shortServiceName } from "./service-names.js";
import { NoServiceAvailableError, StepCallError, type ImageRef, type StepContext, type StepInput, type StepInvoker, type StepOutput } from "./step-invoker.js";

/** The metadata key a service reads its output object key from (src/worker/services). */
export const OUTPUT_KEY_METADATA = "ifc-output-key";

/** Instances that failed a step's attempt, remembered so its retry goes elsewhere; bounded. */
const MAX_REMEMBERED_FAILURES = 1000;

/**
 * Calls the documents' resident services (Resize, Detect, ApplyFilter) through the service
 * registry: one lease per attempt, the step's deadline as the gRPC deadline, an abort cancels the
 * call. A retry avoids the instance that just failed while another one can take it, so a killed
 * instance costs one attempt, not the breaker's five.
 */
export class GrpcStepInvoker implements StepInvoker {
  private readonly failedOn = new Map<string, Set<string>>();

  constructor(private readonly registry: ServiceRegistry) {}

  async invoke(step: PipelineStep, input: StepInput, ctx: StepContext): Promise<StepOutput> {
    const attemptKey = `${ctx.executionId}/${step.step_id}/${input.image.object_key}`;
    const lease = this.acquire(step.service, this.failedOn.get(attemptKey));
    const started = performance.now();
    const md = new Metadata();
    md.set(OUTPUT_KEY_METADATA, outputKey(ctx.executionId, step.step_id, input.image));
    try {
      const out = await this.call(lease, step, input, md, ctx);
      lease.done({ ok: true, durationMs: performance.now() - started });
      this.failedOn.delete(attemptKey);
      return { ...out, metadata: { ...out.metadata, instance: lease.instance.instance_id } };
    } catch (caught) {
      // A call we did not cancel but that ends CANCELLED was cut by the instance (a server
      // stopping resets its streams): that is the instance being unavailable, and worth a retry.
      const err = (caught as Partial<ServiceError>).code === status.CANCELLED && !ctx.signal.aborted ? Object.assign(caught as ServiceError, { code: status.UNAVAILABLE }) : caught;
      const code = (err as Partial<ServiceError>).code;
      // A cancelled call says nothing about the instance; anything else is its outcome.
      if (code !== status.CANCELLED) lease.done({ ok: false, ...(code !== undefined ? { code } : {}), durationMs: performance.now() - started });
      if (code !== status.CANCELLED && code !== status.INVALID_ARGUMENT && code !== status.NOT_FOUND) this.rememberFailure(attemptKey, lease.instance.instance_id);
      throw toStepError(err);
    }
  }

  private acquire(service: string, exclude: Set<string> | undefined): ServiceLease {
    try {
      return this.registry.acquire(service, exclude ? { exclude } : {});
    } catch (err) {
      if (!(err instanceof RegistryNoService)) throw err;
      // Every other instance excluded: the one that failed is still better than none.
      if (exclude && err.reason !== "unknown-service") return this.acquire(service, undefined);
      throw new NoServiceAvailableError(service, err.reason === "breaker-open" ? "breaker_open" : "no_healthy_instance", err.message);
    }
  }

  private rememberFailure(key: string, instanceId: string): void {
    let set = this.failedOn.get(key);
    if (!set) {
      if (this.failedOn.size >= MAX_REMEMBERED_FAILURES) this.failedOn.delete(this.failedOn.keys().next().value as string);
      this.failedOn.set(key, (set = new Set()));
    }
    set.add(instanceId);
  }

  private call(lease: ServiceLease, step: PipelineStep, input: StepInput, md: Metadata, ctx: StepContext): Promise<StepOutput> {
    const image = toImageData(input.image);
    const p = input.parameters;
    const options = { deadline: new Date(ctx.deadlineMs) };
    return new Promise<StepOutput>((resolve, reject) => {
      let call: ClientUnaryCall;
      const service = shortServiceName(step.service);
      const done = (err: ServiceError | null, out?: StepOutput): void => (err ? reject(err) : resolve(out!));
      if (service === "ResizeService" && step.method === "Resize") {
        call = lease.makeClient(ResizeServiceClient).resize(
          {
            inputImage: image,
            targetWidth: num(p.target_width),
            targetHeight: num(p.target_height),
            resizeMode: typeof p.resize_mode === "string" ? p.resize_mode : "fit",
            maintainAspectRatio: p.maintain_aspect_ratio !== false,
          },
          md,
          options,
          (err, res) => done(err, err ? undefined : fromResult(res.result, true)),
        );
      } else if (service === "AIDetectionService" && step.method === "Detect") {
        call = lease.makeClient(AIDetectionServiceClient).detect(
          {
            inputImage: image,
            modelName: typeof p.model_name === "string" ? p.model_name : "",
            confidenceThreshold: num(p.confidence_threshold),
            targetClasses: Array.isArray(p.target_classes) ? p.target_classes.map(String) : [],
          },
          md,
          options,
          (err, res) =>
            done(
              err,
              err
                ? undefined
                : {
                    // Detection hands its input back as output_image: not a new image (and never one to roll back).
                    ...fromResult(res.result, false),
                    detections: res.detections.map((d) => ({
                      class_name: d.className,
                      confidence: d.confidence,
                      bbox: { x: d.bbox?.x ?? 0, y: d.bbox?.y ?? 0, width: d.bbox?.width ?? 0, height: d.bbox?.height ?? 0 },
                      ...(Object.keys(d.attributes).length > 0 ? { attributes: d.attributes } : {}),
                    })),
                  },
            ),
        );
      } else if (service === "FilterService" && step.method === "ApplyFilter") {
        const params = p.parameters && typeof p.parameters === "object" ? Object.fromEntries(Object.entries(p.parameters).map(([k, v]) => [k, String(v)])) : {};
        call = lease.makeClient(FilterServiceClient).applyFilter({ inputImage: image, filterType: typeof p.filter_type === "string" ? p.filter_type : "", parameters: params }, md, options, (err, res) =>
          done(err, err ? undefined : fromResult(res.result, true)),
        );
      } else {
        reject(new StepCallError("UNIMPLEMENTED", `no client for ${step.service}.${step.method}`));
        return;
      }
      const onAbort = (): void => call.cancel();
      if (ctx.signal.aborted) onAbort();
      else ctx.signal.addEventListener("abort", onAbort, { once: true });
    });
  }
}

function num(v: unknown): number {
  return typeof v === "number" && Number.isFinite(v) ? v : 0;
}

function toImageData(ref: ImageRef): ImageData {
  return { bucket: ref.bucket, objectKey: ref.object_key, contentType: ref.content_type, sizeBytes: ref.size_bytes, width: ref.width, height: ref.height, createdAtMs: 0 };
}

function fromResult(result: ProcessingResult | undefined, producesImage: boolean): StepOutput {
  const img = result?.outputImage;
  return {
    ...(producesImage && img
      ? { image: { bucket: img.bucket, object_key: img.objectKey, content_type: img.contentType, size_bytes: img.sizeBytes, width: img.width, height: img.height } }
      : {}),
    metadata: { ...(result?.metadata ?? {}), ...(result ? { service_time_ms: Math.round(result.processingTimeSeconds * 1000 * 10) / 10 } : {}) },
  };
}

/** Where a step's output goes: under the execution, so a rollback can find every object of it. */
export function outputKey(executionId: string, stepId: string, input: ImageRef): string {
  const base = input.object_key.split("/").pop() ?? "image";
  return `executions/${executionId}/${stepId}/${base}`;
}

const CODE_NAMES = new Map<number, string>(Object.entries(status).filter(([, v]) => typeof v === "number").map(([k, v]) => [v as number, k]));

function toStepError(err: unknown): Error {
  if (err instanceof StepCallError || err instanceof NoServiceAvailableError) return err;
  const e = err as Partial<ServiceError>;
  if (typeof e.code === "number") return new StepCallError(CODE_NAMES.get(e.code) ?? "UNKNOWN", e.details || e.message || "call failed");
  return new StepCallError("INTERNAL", err instanceof Error ? err.message : String(err));
}
