import type { EventEmitter } from "node:events";
import type { VideoFrame } from "../../generated/imageflow/v1/camera_stream.js";

/**
 * The AI workers as a frame session needs them: the extractor's WorkerPool satisfies this
 * structurally (the same pool, breakers and least-outstanding choice as the video feed), so
 * this module does not import the extractor.
 */
export interface FrameWorkerEndpoint {
  readonly address: string;
  readonly breaker: { recordSuccess(): void; recordFailure(err: Error): void };
}

/** One ProcessVideoStream call (grpc-js's ClientDuplexStream satisfies it): emits "data", "error", "end". */
export interface FrameWorkerCall extends Pick<EventEmitter, "on" | "removeAllListeners"> {
  write(msg: VideoFrame): unknown;
  cancel(): void;
}

export interface FrameWorkerPool {
  /** The usable worker with the fewest outstanding frames, or undefined when none is. */
  pick(): FrameWorkerEndpoint | undefined;
  open(endpoint: FrameWorkerEndpoint, stream: string): FrameWorkerCall;
  markSent(endpoint: FrameWorkerEndpoint): void;
  markDone(endpoint: FrameWorkerEndpoint, n?: number): void;
}
