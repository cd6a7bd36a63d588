/**
 * What can go wrong with one client frame or one frame session, as typed domain errors: the
 * transports map them (gRPC status codes, WebSocket `error` messages), the session never
 * speaks HTTP or gRPC.
 */
export abstract class FrameApiError extends Error {
  /** A stable machine-readable code, used as the WebSocket error `code`. */
  abstract readonly code: string;
}

/** A frame's bytes exceed the session's `maxFrameBytes`. */
export class FrameTooLargeError extends FrameApiError {
  override name = "FrameTooLargeError";
  readonly code = "frame_too_large";
  constructor(
    readonly bytes: number,
    readonly limit: number,
  ) {
    super(`frame of ${bytes} bytes exceeds the limit of ${limit} bytes`);
  }
}

/** Not a JPEG or PNG image, a corrupt one, or one with too many pixels. */
export class InvalidFrameError extends FrameApiError {
  override name = "InvalidFrameError";
  readonly code = "invalid_frame";
}

/** No AI worker is usable now (all unhealthy or their breakers open). */
export class NoWorkerAvailableError extends FrameApiError {
  override name = "NoWorkerAvailableError";
  readonly code = "no_worker_available";
  constructor(readonly retryAfterMs: number) {
    super(`no AI worker is available; retry in ${Math.ceil(retryAfterMs / 1000)} s`);
  }
}

/** The worker's stream failed; the frames it held are lost (the next frame opens a new stream). */
export class WorkerLostError extends FrameApiError {
  override name = "WorkerLostError";
  readonly code = "worker_lost";
  constructor(
    readonly worker: string,
    readonly lostFrames: number,
    reason: string,
  ) {
    super(`AI worker ${worker} failed (${reason}); ${lostFrames} frame(s) in flight lost`);
  }
}

/** The session is closed (the client left or the server shuts down). */
export class FrameSessionClosedError extends FrameApiError {
  override name = "FrameSessionClosedError";
  readonly code = "session_closed";
  constructor() {
    super("the frame session is closed");
  }
}
