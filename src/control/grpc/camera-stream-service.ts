import { randomUUID } from "node:crypto";
import { status, type ServerDuplexStream } from "@grpc/grpc-js";
import type { Logger } from "pino";
import type { CameraStreamServiceServer, ProcessedFrame, VideoFrame } from "../../generated/imageflow/v1/camera_stream.js";
import { HealthCheckResponse_ServingStatus } from "../../generated/imageflow/v1/common.js";
import type { FrameArchiver } from "../../pipelines/frame-api/frame-archiver.js";
import { FrameApiError, FrameTooLargeError, InvalidFrameError, NoWorkerAvailableError } from "../../pipelines/frame-api/frame-errors.js";
import { FrameSession, FRAME_SESSION_DEFAULTS, type FrameResult, type FrameSessionOptions, type FrameSessionStats } from "../../pipelines/frame-api/frame-session.js";
import type { FrameWorkerPool } from "../../pipelines/frame-api/frame-worker-pool.js";
import type { CallGuard } from "./call-guard.js";
import { GrpcError, serviceError } from "./grpc-errors.js";

export interface CameraStreamServiceOptions {
  /** The AI workers (the server's WorkerPool). */
  pool: FrameWorkerPool;
  /** Archive of selected frames (`video-stream-archive/…`); without it `archive` is ignored. */
  archiver?: FrameArchiver;
  /** Per-session limits (FrameSession defaults: maxPending 2, maxFrameBytes 8 MiB, …). */
  session?: FrameSessionOptions;
  /** Client streams at once; one more gets RESOURCE_EXHAUSTED; default 32. */
  maxSessions?: number;
  /** Results queued for a client that does not read; past it the stream ends RESOURCE_EXHAUSTED; default 256. */
  maxUnreadResults?: number;
  /** Called with a session's final counts when its stream ends (metrics, tests). */
  onSessionEnd?: (stats: FrameSessionStats) => void;
  log: Logger;
}

const PROBLEM = "urn:imageflowcanvas:problem:";

/** A frame refused for what it is ends the stream with its code (the documents' gRPC contract has no per-frame error message). */
function grpcErrorOf(err: FrameApiError): GrpcError {
  if (err instanceof FrameTooLargeError) return new GrpcError(status.RESOURCE_EXHAUSTED, err.message, { "problem-type": `${PROBLEM}frame-too-large` });
  if (err instanceof InvalidFrameError) return new GrpcError(status.INVALID_ARGUMENT, err.message, { "problem-type": `${PROBLEM}invalid-frame` });
  if (err instanceof NoWorkerAvailableError) return new GrpcError(status.UNAVAILABLE, err.message, { "problem-type": `${PROBLEM}no-worker-available`, "retry-after-ms": String(err.retryAfterMs) });
  return new GrpcError(status.UNAVAILABLE, err.message, { "problem-type": `${PROBLEM}${err.code.replace(/_/g, "-")}` });
}

/** The documents' ProcessedFrame for a native client: the client's timestamp and source, the session's counts, the worker. */
export function processedFrameOf(r: FrameResult, received: number, processed: number): ProcessedFrame {
  return {
    processedData: Buffer.alloc(0),
    detections: r.detections,
    processingTimeMs: r.processingTimeMs,
    processingStats: {
      sequence: String(r.sequence),
      timestamp_ms: String(r.timestampMs),
      source_id: r.sourceId,
      ...(r.pipelineId ? { pipeline_id: r.pipelineId } : {}),
      frames_received: String(received),
      frames_processed: String(processed),
      frames_dropped: String(r.framesDropped),
      worker: r.worker,
      worker_processing_ms: String(r.workerProcessingMs),
      decode_ms: String(r.decodeMs),
      worker_round_trip_ms: String(r.workerRoundTripMs),
      ...(r.archiveKey ? { archive_key: r.archiveKey } : {}),
    },
    streamId: r.sourceId,
    sequence: r.sequence,
  };
}

/**
 * CameraStreamService served to native clients (the documents' Tauri path): each
 * ProcessVideoStream call is a FrameSession, frames in and ProcessedFrame out, behind the call
 * guard with `pipeline:execute`. The same proto service the AI workers implement; here the
 * server is the one answering.
 */
export class CameraStreamService {
  private readonly sessions = new Map<string, { session: FrameSession; call: ServerDuplexStream<VideoFrame, ProcessedFrame> }>();
  private readonly maxSessions: number;
  private readonly maxUnread: number;

  constructor(private readonly opts: CameraStreamServiceOptions) {
    this.maxSessions = opts.maxSessions ?? 32;
    this.maxUnread = opts.maxUnreadResults ?? 256;
  }

  /** The transport limit the gRPC server needs for these frames (message overhead included). */
  get maxMessageBytes(): number {
    return (this.opts.session?.maxFrameBytes ?? FRAME_SESSION_DEFAULTS.maxFrameBytes) + 64 * 1024;
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  /** Every open session's stats (for /metrics and tests). */
  sessionStats(): ReturnType<FrameSession["stats"]>[] {
    return [...this.sessions.values()].map((s) => s.session.stats());
  }

  implementation(guard: CallGuard): CameraStreamServiceServer {
    return {
      processVideoStream: guard.bidiStream<VideoFrame, ProcessedFrame>("ProcessVideoStream", { permission: "pipeline:execute" }, (_ctx, call) => this.serve(call)),
      healthCheck: guard.unary("CameraStreamHealthCheck", { permission: "pipeline:execute" }, async () => ({
        status: this.opts.pool.pick() ? HealthCheckResponse_ServingStatus.SERVING_STATUS_SERVING : HealthCheckResponse_ServingStatus.SERVING_STATUS_NOT_SERVING,
      })),
    };
  }

  /** Ends every client stream (server shutdown): UNAVAILABLE, so clients reconnect elsewhere. */
  endAll(): void {
    for (const { session, call } of this.sessions.values()) {
      this.opts.onSessionEnd?.(session.stats());
      session.close();
      call.emit("error", serviceError(status.UNAVAILABLE, "the server is shutting down", {}));
    }
    this.sessions.clear();
  }

  private serve(call: ServerDuplexStream<VideoFrame, ProcessedFrame>): void {
    if (this.sessions.size >= this.maxSessions) {
      throw new GrpcError(status.RESOURCE_EXHAUSTED, `the server already serves ${this.sessions.size} frame streams`, { "problem-type": `${PROBLEM}too-many-frame-sessions`, "retry-after-ms": "5000" });
    }
    const id = randomUUID();
    let ended = false;
    const release = (): void => {
      if (!this.sessions.delete(id)) return;
      this.opts.onSessionEnd?.(session.stats());
      session.close();
    };
    const finish = (err?: GrpcError): void => {
      if (ended) return;
      ended = true;
      release();
      if (err) call.emit("error", serviceError(err.code, err.message, err.trailers));
      else call.end();
    };
    const session: FrameSession = new FrameSession(
      {
        pool: this.opts.pool,
        ...(this.opts.archiver ? { archiver: this.opts.archiver } : {}),
        name: `frame-api/${id}`,
        log: this.opts.log,
        onResult: (r) => {
          if (ended) return;
          if (call.writableLength >= this.maxUnread) {
            finish(new GrpcError(status.RESOURCE_EXHAUSTED, `${this.maxUnread} results unread: read the stream`, { "problem-type": `${PROBLEM}slow-consumer` }));
            return;
          }
          const s = session.stats();
          call.write(processedFrameOf(r, s.received, s.processed));
        },
        onFrameError: (err) => {
          // A frame lost with a failed worker is counted; the session goes on with another one.
          if (err.code === "worker_lost") return;
          finish(grpcErrorOf(err));
        },
      },
      this.opts.session,
    );
    try {
      session.start();
    } catch (err) {
      throw err instanceof FrameApiError ? grpcErrorOf(err) : err; // the guard ends the call with it
    }
    this.sessions.set(id, { session, call });
    call.on("data", (frame: VideoFrame) => {
      if (ended) return;
      session.accept({ frameData: frame.frameData, timestampMs: Number(frame.timestampMs), metadata: frame.metadata });
    });
    call.on("end", () => {
      // The client is done sending: answer what is in progress, then end with OK; a worker
      // that never answers cannot hold the call open past the session's result timeout.
      const limitMs = this.opts.session?.resultTimeoutMs ?? FRAME_SESSION_DEFAULTS.resultTimeoutMs;
      const timer = setTimeout(() => finish(new GrpcError(status.DEADLINE_EXCEEDED, `no result for the last frames within ${limitMs} ms`)), limitMs);
      timer.unref();
      void session.idle().then(() => {
        clearTimeout(timer);
        finish();
      });
    });
    call.on("cancelled", () => {
      ended = true;
      release();
    });
    call.on("error", () => {
      ended = true;
      release();
    });
  }
}
