import { Server, ServerCredentials, status, type Metadata, type sendUnaryData, type ServerUnaryCall } from "@grpc/grpc-js";
import { HealthImplementation } from "grpc-health-check";
import { AIDetectionServiceService, type AIDetectionServiceServer } from "../../generated/imageflow/v1/ai_detection.js";
import { HealthCheckResponse_ServingStatus, ProcessingStatus, type HealthCheckRequest, type HealthCheckResponse, type ImageData, type ProcessingResult } from "../../generated/imageflow/v1/common.js";
import { FilterServiceService, type FilterServiceServer } from "../../generated/imageflow/v1/filter.js";
import { ResizeServiceService, type ResizeServiceServer } from "../../generated/imageflow/v1/resize.js";
import type { ObjectStore } from "../../ports/object-store.js";
import { ReferenceDetector, type ReferenceDetectorOptions } from "./detection.js";
import { ImageServiceError } from "./errors.js";
import { applyFilter } from "./filter.js";
import { ImageIo } from "./image-io.js";
import { DEFAULT_MAX_EDGE, resizeImage } from "./resize.js";

export const RESIZE_SERVICE = "imageflow.v1.ResizeService";
export const DETECTION_SERVICE = "imageflow.v1.AIDetectionService";
export const FILTER_SERVICE = "imageflow.v1.FilterService";
export type ImageServiceName = typeof RESIZE_SERVICE | typeof DETECTION_SERVICE | typeof FILTER_SERVICE;
export type ImageServiceKind = "resize" | "detection" | "filter";
const NAMES: Record<ImageServiceKind, ImageServiceName> = { resize: RESIZE_SERVICE, detection: DETECTION_SERVICE, filter: FILTER_SERVICE };

/** Call metadata naming where the caller wants a step's output stored. */
export const OUTPUT_KEY_METADATA = "ifc-output-key";

export interface ImageServicesOptions {
  store: ObjectStore;
  /** The bucket this instance serves (default "imageflow"); requests may name it or leave it empty. */
  bucket?: string;
  /** Which services to serve (default all three). */
  services?: readonly ImageServiceKind[];
  /** Largest output side of a resize, in pixels (default 8192). */
  maxEdge?: number;
  /** Largest input object, in bytes (default 32 MiB); bigger → RESOURCE_EXHAUSTED. */
  maxInputBytes?: number;
  /** Largest input in pixels, width × height (default 8192 × 8192); bigger → RESOURCE_EXHAUSTED before decoding. */
  maxInputPixels?: number;
  /**
   * Calls processed at once across the three services (default 8); each holds a decoded image.
   * A call beyond it is refused at once with RESOURCE_EXHAUSTED (retryable: the registry backs off)
   * and counted in stats.rejectedBusy, rather than queued without bound.
   */
  maxConcurrentCalls?: number;
  detector?: ReferenceDetectorOptions;
}

/** Per service: calls received, calls that failed (any status), calls refused for lack of capacity. */
export interface ImageServicesStats {
  calls: Record<ImageServiceKind, number>;
  failures: Record<ImageServiceKind, number>;
  rejectedBusy: number;
  /** Calls being processed now. */
  inFlight: number;
}

const GRPC_CODE: Record<ImageServiceError["kind"], status> = { invalid: status.INVALID_ARGUMENT, not_found: status.NOT_FOUND, too_large: status.RESOURCE_EXHAUSTED };

/**
 * The design documents' resident image services (resize, AI detection, filter) on one gRPC
 * server, with grpc.health.v1 reporting each by its full name and "" for the server. Inputs
 * and outputs are object-store references (ImageData), never bytes on the wire.
 */
export class ImageServices {
  readonly served: readonly ImageServiceKind[];
  readonly stats: ImageServicesStats = { calls: { resize: 0, detection: 0, filter: 0 }, failures: { resize: 0, detection: 0, filter: 0 }, rejectedBusy: 0, inFlight: 0 };
  readonly maxConcurrentCalls: number;
  private readonly server = new Server();
  private readonly health: HealthImplementation;
  private readonly serving = new Map<string, boolean>();
  private readonly io: ImageIo;
  private readonly maxEdge: number;
  private readonly detector: ReferenceDetector;
  private port = 0;

  constructor(opts: ImageServicesOptions) {
    this.served = opts.services ?? ["resize", "detection", "filter"];
    if (this.served.length === 0) throw new RangeError("services must name at least one of resize, detection, filter");
    this.maxEdge = opts.maxEdge ?? DEFAULT_MAX_EDGE;
    if (!(Number.isInteger(this.maxEdge) && this.maxEdge >= 1)) throw new RangeError(`maxEdge must be an integer >= 1, got ${this.maxEdge}`);
    this.maxConcurrentCalls = opts.maxConcurrentCalls ?? 8;
    if (!(Number.isInteger(this.maxConcurrentCalls) && this.maxConcurrentCalls >= 1)) throw new RangeError(`maxConcurrentCalls must be an integer >= 1, got ${this.maxConcurrentCalls}`);
    this.io = new ImageIo({ store: opts.store, bucket: opts.bucket ?? "imageflow", maxInputBytes: opts.maxInputBytes, maxInputPixels: opts.maxInputPixels });
    this.detector = new ReferenceDetector(opts.detector);
    const statuses: Record<string, "SERVING"> = { "": "SERVING" };
    for (const kind of this.served) statuses[NAMES[kind]] = "SERVING";
    for (const name of Object.keys(statuses)) this.serving.set(name, true);
    this.health = new HealthImplementation(statuses);
    this.health.addToServer(this.server);
    if (this.served.includes("resize")) this.server.addService(ResizeServiceService, this.resizeImpl());
    if (this.served.includes("detection")) this.server.addService(AIDetectionServiceService, this.detectionImpl());
    if (this.served.includes("filter")) this.server.addService(FilterServiceService, this.filterImpl());
  }

  get bucket(): string {
    return this.io.bucket;
  }

  async listen(address = "127.0.0.1:0"): Promise<number> {
    this.port = await new Promise<number>((resolve, reject) =>
      this.server.bindAsync(address, ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))),
    );
    return this.port;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  /**
   * Marks one service (or, with no name, every service and "") SERVING or NOT_SERVING in
   * grpc.health.v1 and in its own HealthCheck. Calls are still answered: health is advice to the
   * registry, which is what a draining instance wants.
   */
  setServing(serving: boolean, service?: ImageServiceName): void {
    const names = service ? [service] : [...this.serving.keys()];
    for (const name of names) {
      if (!this.serving.has(name)) throw new RangeError(`${name} is not served by this instance`);
      this.serving.set(name, serving);
      this.health.setStatus(name, serving ? "SERVING" : "NOT_SERVING");
    }
  }

  /** Graceful stop; calls still running after `graceMs` are cut. */
  async close(graceMs = 2000): Promise<void> {
    const timer = setTimeout(() => this.server.forceShutdown(), graceMs);
    await new Promise<void>((resolve) => this.server.tryShutdown(() => resolve()));
    clearTimeout(timer);
  }

  private healthCheck(name: ImageServiceName) {
    return (_call: ServerUnaryCall<HealthCheckRequest, HealthCheckResponse>, callback: sendUnaryData<HealthCheckResponse>): void => {
      const up = this.serving.get(name) === true;
      callback(null, { status: up ? HealthCheckResponse_ServingStatus.SERVING_STATUS_SERVING : HealthCheckResponse_ServingStatus.SERVING_STATUS_NOT_SERVING });
    };
  }

  private resizeImpl(): ResizeServiceServer {
    return {
      resize: (call, callback) =>
        this.run("resize", callback, async () => {
          const input = await this.io.read(call.request.inputImage);
          const out = await resizeImage(input, call.request, this.maxEdge);
          const image = await this.io.write(out.data, input.format, out.width, out.height, outputKey(call.metadata));
          return { result: result(image, { input_width: String(input.width), input_height: String(input.height) }) };
        }),
      healthCheck: this.healthCheck(RESIZE_SERVICE),
    };
  }

  private filterImpl(): FilterServiceServer {
    return {
      applyFilter: (call, callback) =>
        this.run("filter", callback, async () => {
          const input = await this.io.read(call.request.inputImage);
          const out = await applyFilter(input, call.request.filterType, call.request.parameters);
          const image = await this.io.write(out.data, input.format, out.width, out.height, outputKey(call.metadata));
          return { result: result(image, { filter_type: call.request.filterType }) };
        }),
      healthCheck: this.healthCheck(FILTER_SERVICE),
    };
  }

  private detectionImpl(): AIDetectionServiceServer {
    return {
      detect: (call, callback) =>
        this.run("detection", callback, async () => {
          // Parameters first: a bad model name is refused before the input is read.
          ReferenceDetector.check(call.request);
          const input = await this.io.read(call.request.inputImage);
          const detections = await this.detector.detect(input, call.request);
          const counts: Record<string, string> = { model_name: "reference", detections: String(detections.length) };
          for (const d of detections) counts[`count_${d.className}`] = String(Number(counts[`count_${d.className}`] ?? 0) + 1);
          // Detection writes nothing: its output image is its input, so a following step can chain on it.
          return { result: result(input.ref, counts), detections };
        }),
      healthCheck: this.healthCheck(DETECTION_SERVICE),
    };
  }

  private run<T extends { result?: ProcessingResult | undefined }>(kind: ImageServiceKind, callback: sendUnaryData<T>, work: () => Promise<T>): void {
    this.stats.calls[kind]++;
    if (this.stats.inFlight >= this.maxConcurrentCalls) {
      this.stats.rejectedBusy++;
      this.stats.failures[kind]++;
      callback({ code: status.RESOURCE_EXHAUSTED, details: `busy: ${this.maxConcurrentCalls} calls in progress; retry later` });
      return;
    }
    this.stats.inFlight++;
    const started = performance.now();
    work().finally(() => this.stats.inFlight--).then(
      (res) => {
        if (res.result) res.result.processingTimeSeconds = (performance.now() - started) / 1000;
        callback(null, res);
      },
      (err: unknown) => {
        this.stats.failures[kind]++;
        if (err instanceof ImageServiceError) callback({ code: GRPC_CODE[err.kind], details: err.message });
        else callback({ code: status.INTERNAL, details: err instanceof Error ? err.message : String(err) });
      },
    );
  }
}

function outputKey(metadata: Metadata): string | undefined {
  const v = metadata.get(OUTPUT_KEY_METADATA)[0];
  return typeof v === "string" && v !== "" ? v : undefined;
}

function result(image: ImageData, metadata: Record<string, string>): ProcessingResult {
  return {
    status: ProcessingStatus.PROCESSING_STATUS_COMPLETED,
    message: "",
    outputImage: image,
    outputData: Buffer.alloc(0),
    metadata,
    processedAtMs: Date.now(),
    processingTimeSeconds: 0,
  };
}
