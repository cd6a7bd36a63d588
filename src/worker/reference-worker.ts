import { Server, ServerCredentials, status, type ServerDuplexStream } from "@grpc/grpc-js";
import { HealthImplementation } from "grpc-health-check";
import type { Logger } from "pino";
import { HealthCheckResponse_ServingStatus, type Detection } from "../generated/imageflow/v1/common.js";
import {
  CameraStreamServiceService,
  ModelTier,
  PixelFormat,
  type CameraStreamServiceServer,
  type ProcessedFrame,
  type VideoFrame,
} from "../generated/imageflow/v1/camera_stream.js";
import { assertGrayFrame, FrameFormatError, type GrayFrame } from "./detectors/gray-frame.js";
import { MotionDetector } from "./detectors/motion-detector.js";
import { QrDetector } from "./detectors/qr-detector.js";

export interface ReferenceWorkerOptions {
  /** Frames per second this worker accepts per stream; it grants credits at this pace. */
  capacityFps: number;
  /** Credits granted when a stream opens (how many frames may be in flight). */
  initialCredits: number;
  /** Largest frame accepted (bytes); bigger ones end the stream with RESOURCE_EXHAUSTED. */
  maxFrameBytes: number;
  /**
   * Which detectors run: both (default), motion only, or none — a worker that only receives
   * and answers, for measuring the feed itself (bench/ai-latency.ts).
   */
  detectors?: "qr+motion" | "motion" | "none";
}

const SERVICE = "imageflow.v1.CameraStreamService";

/**
 * The bundled AI worker: QR code location and decoding (jsQR) and motion regions (frame
 * differencing) on GRAY8 frames. It paces itself with credits: a credit is returned for each
 * frame processed, no sooner than 1/capacityFps after the previous one, so a slow worker slows
 * the server's feed rather than queueing frames.
 */
export class ReferenceWorker {
  private readonly server = new Server({ "grpc.max_receive_message_length": 64 * 1024 * 1024 });
  private readonly health = new HealthImplementation({ "": "SERVING", [SERVICE]: "SERVING" });
  private port = 0;
  /** Totals over every stream, for operators and tests (credits granted ≥ frames received). */
  readonly stats = { streams: 0, framesReceived: 0, creditsGranted: 0, results: 0 };

  constructor(
    private readonly opts: ReferenceWorkerOptions,
    private readonly log: Logger,
  ) {
    const impl: CameraStreamServiceServer = {
      processVideoStream: (call) => this.handleStream(call),
      healthCheck: (_call, callback) => callback(null, { status: HealthCheckResponse_ServingStatus.SERVING_STATUS_SERVING }),
    };
    this.server.addService(CameraStreamServiceService, impl);
    this.health.addToServer(this.server);
  }

  async listen(address = "127.0.0.1:0"): Promise<number> {
    this.port = await new Promise<number>((resolve, reject) =>
      this.server.bindAsync(address, ServerCredentials.createInsecure(), (err, port) => (err ? reject(err) : resolve(port))),
    );
    this.log.info({ port: this.port }, "reference AI worker listening");
    return this.port;
  }

  get address(): string {
    return `127.0.0.1:${this.port}`;
  }

  private handleStream(call: ServerDuplexStream<VideoFrame, ProcessedFrame>): void {
    const qr = new QrDetector();
    const motion = new MotionDetector();
    let nextCreditAt = 0;
    let ended = false;
    this.stats.streams++;
    const grant = (credits: number): void => {
      if (ended) return;
      this.stats.creditsGranted += credits;
      call.write({ processedData: Buffer.alloc(0), detections: [], processingTimeMs: 0, processingStats: {}, streamId: "", sequence: 0, demand: { credits, preferredFormat: PixelFormat.PIXEL_FORMAT_GRAY8 } });
    };
    // grpc-js ends a server stream with a status when the call emits an error carrying it.
    const fail = (code: status, details: string): void => {
      call.emit("error", { code, details });
    };
    grant(this.opts.initialCredits);
    call.on("data", (frame: VideoFrame) => {
      if (ended) return;
      this.stats.framesReceived++;
      const receivedAtMs = Date.now();
      const started = performance.now();
      if (frame.frameData.length > this.opts.maxFrameBytes) {
        ended = true;
        fail(status.RESOURCE_EXHAUSTED, `frame of ${frame.frameData.length} bytes exceeds ${this.opts.maxFrameBytes}`);
        return;
      }
      let detections: Detection[];
      try {
        detections = this.analyse(frame, qr, motion);
      } catch (err) {
        ended = true;
        fail(err instanceof FrameFormatError ? status.INVALID_ARGUMENT : status.INTERNAL, (err as Error).message);
        return;
      }
      const processingTimeMs = Math.round(performance.now() - started);
      // The credit comes back with the result, or later when the worker is at capacity.
      const now = Date.now();
      const creditAt = Math.max(now, nextCreditAt);
      nextCreditAt = creditAt + 1000 / this.opts.capacityFps;
      const result: ProcessedFrame = {
        processedData: Buffer.alloc(0),
        detections,
        processingTimeMs,
        // received_at_ms lets the server measure ingest → worker latency on one host's clock.
        processingStats: { detector: frame.modelTier === ModelTier.MODEL_TIER_LIGHT ? "motion" : "qr+motion", received_at_ms: String(receivedAtMs) },
        streamId: frame.streamId,
        sequence: frame.sequence,
      };
      this.stats.results++;
      if (creditAt <= now) {
        this.stats.creditsGranted++;
        call.write({ ...result, demand: { credits: 1, preferredFormat: PixelFormat.PIXEL_FORMAT_GRAY8 } });
      } else {
        call.write(result);
        setTimeout(() => grant(1), creditAt - now);
      }
    });
    call.on("end", () => {
      ended = true;
      call.end();
    });
    call.on("cancelled", () => {
      ended = true;
    });
  }

  private analyse(frame: VideoFrame, qr: QrDetector, motion: MotionDetector): Detection[] {
    if (frame.pixelFormat !== PixelFormat.PIXEL_FORMAT_GRAY8) {
      throw new FrameFormatError(`the reference worker reads GRAY8 frames, got pixel format ${frame.pixelFormat}`);
    }
    const gray: GrayFrame = { data: frame.frameData, width: frame.width, height: frame.height };
    assertGrayFrame(gray);
    const out: Detection[] = [];
    const detectors = this.opts.detectors ?? "qr+motion";
    if (detectors === "none") return out;
    // The light tier skips QR decoding: the QoS controller's fail-down for overloaded workers.
    if (frame.modelTier !== ModelTier.MODEL_TIER_LIGHT && detectors === "qr+motion") {
      const code = qr.detect(gray);
      if (code) out.push({ className: "qr_code", confidence: 1, bbox: code.box, attributes: { payload: code.payload } });
    }
    for (const box of motion.detect(gray)) out.push({ className: "motion", confidence: 1, bbox: box, attributes: {} });
    return out;
  }

  /** Changes the pace of credits from now on (tests simulate a worker that slows or recovers). */
  setCapacityFps(fps: number): void {
    if (!(fps > 0)) throw new RangeError(`capacityFps must be > 0, got ${fps}`);
    this.opts.capacityFps = fps;
  }

  setServing(serving: boolean): void {
    this.health.setStatus(SERVICE, serving ? "SERVING" : "NOT_SERVING");
    this.health.setStatus("", serving ? "SERVING" : "NOT_SERVING");
  }

  /** Graceful stop; streams still open after `graceMs` are cut. */
  async close(graceMs = 2000): Promise<void> {
    const timer = setTimeout(() => this.server.forceShutdown(), graceMs);
    await new Promise<void>((resolve) => this.server.tryShutdown(() => resolve()));
    clearTimeout(timer);
  }
}
