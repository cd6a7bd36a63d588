import { ModelTier, PixelFormat, type ProcessedFrame } from "../../generated/imageflow/v1/camera_stream.js";
import type { Detection } from "../../generated/imageflow/v1/common.js";
import type { FrameArchiver } from "./frame-archiver.js";
import { decodeToGray, sniffFormat, type ClientImageFormat, type GrayImage } from "./frame-decoder.js";
import { FrameSessionClosedError, FrameTooLargeError, InvalidFrameError, NoWorkerAvailableError, WorkerLostError, type FrameApiError } from "./frame-errors.js";
import type { FrameWorkerCall, FrameWorkerEndpoint, FrameWorkerPool } from "./frame-worker-pool.js";

/** A frame as a client sends it (gRPC VideoFrame or the WebSocket `video_frame`). */
export interface ClientFrame {
  /** JPEG or PNG bytes. */
  frameData: Buffer;
  /** The client's capture time (epoch ms); echoed in the result. */
  timestampMs: number;
  /** `source_id`, `pipeline_id`, `archive` ("true" stores this frame). */
  metadata: Readonly<Record<string, string>>;
}

export interface FrameSessionOptions {
  /** Frames accepted but not yet sent to a worker (decoding or waiting for a credit); default 2. A frame arriving when full is dropped and counted. */
  maxPending?: number;
  /** Largest `frame_data` (bytes); default 8 MiB. */
  maxFrameBytes?: number;
  /** Largest decoded image (pixels), against decompression bombs; default 7680×4320. */
  maxPixels?: number;
  /** Archive every Nth accepted frame besides those asking for it (0: only those); default 0. */
  archiveEveryNth?: number;
  /** A frame without a result after this long means the worker is stuck: its stream is failed; default 10 s. */
  resultTimeoutMs?: number;
  /** `retry_after` advised when no worker is usable; default 1 s. */
  noWorkerRetryAfterMs?: number;
}

export const FRAME_SESSION_DEFAULTS = {
  maxPending: 2,
  maxFrameBytes: 8 * 1024 * 1024,
  maxPixels: 7680 * 4320,
  archiveEveryNth: 0,
  resultTimeoutMs: 10_000,
  noWorkerRetryAfterMs: 1_000,
} as const satisfies Required<FrameSessionOptions>;

export interface FrameSessionDeps {
  pool: FrameWorkerPool;
  /** Where archived frames go; without it `archive` is ignored. */
  archiver?: FrameArchiver;
  /** Tags the worker stream (`x-ifc-stream`), e.g. `frame-api/<session id>`. */
  name: string;
  /** Called with every result, in the worker's order. */
  onResult(result: FrameResult): void;
  /** A frame that got no result: refused (too large, undecodable, no worker) or lost with its worker. The session goes on. */
  onFrameError(err: FrameApiError, sequence: number): void;
  log?: { warn(obj: Record<string, unknown>, msg: string): void };
  /** Epoch ms (tests may inject). */
  now?: () => number;
}

export interface FrameResult {
  /** The session's number for the frame, from 1, counting every frame received. */
  sequence: number;
  /** The client's `timestamp_ms`, echoed. */
  timestampMs: number;
  sourceId: string;
  pipelineId: string | undefined;
  detections: Detection[];
  /** Server receive → result (ms). */
  processingTimeMs: number;
  /** The worker's own time on the frame (ms). */
  workerProcessingMs: number;
  /** Server receive → decoded to GRAY8 (ms, including waiting for the previous decode). */
  decodeMs: number;
  /** Written to the worker → its result back (ms): transfer both ways plus the worker's time. */
  workerRoundTripMs: number;
  worker: string;
  /** Frames this session has dropped so far. */
  framesDropped: number;
  width: number;
  height: number;
  /** Where the original was archived, when it was. */
  archiveKey?: string;
}

export interface FrameSessionStats {
  received: number;
  processed: number;
  /** Dropped for backpressure (pending full). */
  dropped: number;
  /** Refused: too large, not an image, no worker. */
  rejected: number;
  /** Sent or waiting when their worker failed. */
  lost: number;
  /** Accepted, not yet sent (decoding or waiting for a credit); never above maxPending. */
  pending: number;
  /** The most `pending` has ever been. */
  pendingHighWater: number;
  /** Sent, result not yet back. */
  inFlight: number;
  credits: number;
  worker: string | undefined;
  /** Mean server receive → result over the session (ms), 0 before the first. */
  avgProcessingMs: number;
  archiveRequested: number;
}

interface Held {
  sequence: number;
  frame: ClientFrame;
  sourceId: string;
  receivedAtMs: number;
  archiveKey: string | undefined;
}
interface Ready extends Held {
  gray: GrayImage;
  decodedAtMs: number;
}
interface Sent extends Held {
  width: number;
  height: number;
  decodedAtMs: number;
  sentAtMs: number;
}

const SOURCE_ID = /^[A-Za-z0-9._-]{1,128}$/;
export const DEFAULT_SOURCE_ID = "client";

/**
 * One connected frame client (gRPC stream or WebSocket), whatever the transport. Frames are
 * decoded to GRAY8 and go to one AI worker stream under the video feed's credit rule: nothing is
 * sent without a credit the worker granted. While there is none, at most `maxPending` frames
 * wait; more are dropped and counted, so a client sending faster than the worker drains costs
 * frames, never memory. Invariant at all times:
 * received = processed + dropped + rejected + lost + pending + inFlight.
 */
export class FrameSession {
  private readonly o: Required<FrameSessionOptions>;
  private readonly now: () => number;
  private readonly counts = { received: 0, processed: 0, dropped: 0, rejected: 0, lost: 0, pendingHighWater: 0, archiveRequested: 0 };
  private processingMsSum = 0;
  /** Decoding or decoded, not yet sent. */
  private pending = 0;
  private readonly ready: Ready[] = [];
  private readonly sent = new Map<number, Sent>();
  private call: FrameWorkerCall | undefined;
  private endpoint: FrameWorkerEndpoint | undefined;
  private credits = 0;
  private closed = false;
  private readonly idleWaiters: (() => void)[] = [];
  private decoding: Promise<void> = Promise.resolve();

  constructor(
    private readonly deps: FrameSessionDeps,
    opts: FrameSessionOptions = {},
  ) {
    this.o = { ...FRAME_SESSION_DEFAULTS, ...opts };
    this.now = deps.now ?? Date.now;
    if (!(Number.isInteger(this.o.maxPending) && this.o.maxPending >= 1)) throw new RangeError(`maxPending must be an integer ≥ 1, got ${this.o.maxPending}`);
    if (!(this.o.maxFrameBytes >= 1)) throw new RangeError(`maxFrameBytes must be ≥ 1, got ${this.o.maxFrameBytes}`);
  }

  /** Opens the worker stream now; throws NoWorkerAvailableError when no worker is usable (gRPC answers UNAVAILABLE at once). */
  start(): void {
    if (!this.connect()) throw new NoWorkerAvailableError(this.o.noWorkerRetryAfterMs);
  }

  /**
   * Takes one client frame; never waits. Its outcome comes later through onResult or
   * onFrameError, or not at all when it is dropped for backpressure (counted). Returns its sequence.
   */
  accept(frame: ClientFrame): number {
    if (this.closed) throw new FrameSessionClosedError();
    const sequence = ++this.counts.received;
    const receivedAtMs = this.now();
    if (frame.frameData.length > this.o.maxFrameBytes) return this.reject(new FrameTooLargeError(frame.frameData.length, this.o.maxFrameBytes), sequence);
    const format = sniffFormat(frame.frameData);
    if (!format) return this.reject(new InvalidFrameError("frame_data must be a JPEG or PNG image"), sequence);
    const sourceId = frame.metadata.source_id || DEFAULT_SOURCE_ID;
    if (!SOURCE_ID.test(sourceId)) return this.reject(new InvalidFrameError("metadata.source_id must be 1–128 characters of [A-Za-z0-9._-]"), sequence);
    this.failIfStuck();
    if (!this.call && !this.connect()) return this.reject(new NoWorkerAvailableError(this.o.noWorkerRetryAfterMs), sequence);
    if (this.pending >= this.o.maxPending) {
      this.counts.dropped++;
      return sequence;
    }
    this.pending++;
    if (this.pending > this.counts.pendingHighWater) this.counts.pendingHighWater = this.pending;
    const archiveKey = this.archive(frame, sourceId, sequence, format);
    const held: Held = { sequence, frame, sourceId, receivedAtMs, archiveKey };
    // One decode at a time per session, so frames reach the worker (and results the client) in the client's order.
    this.decoding = this.decoding
      .then(() => decodeToGray(frame.frameData, this.o.maxPixels))
      .then(
        (gray) => this.decoded(held, gray),
        (err: unknown) => {
          if (this.closed) return;
          this.pending--;
          this.counts.rejected++;
          this.deps.onFrameError(err instanceof InvalidFrameError ? err : new InvalidFrameError((err as Error).message), sequence);
          this.settled();
        },
      );
    return sequence;
  }

  private decoded(held: Held, gray: GrayImage): void {
    if (this.closed) return;
    if (!this.call && !this.connect()) {
      // The worker failed while this frame decoded and none is usable now.
      this.pending--;
      this.counts.lost++;
      this.deps.onFrameError(new NoWorkerAvailableError(this.o.noWorkerRetryAfterMs), held.sequence);
      this.settled();
      return;
    }
    this.ready.push({ ...held, gray, decodedAtMs: this.now() });
    this.pump();
  }

  stats(): FrameSessionStats {
    const c = this.counts;
    return {
      ...c,
      pending: this.pending,
      inFlight: this.sent.size,
      credits: this.credits,
      worker: this.endpoint?.address,
      avgProcessingMs: c.processed > 0 ? this.processingMsSum / c.processed : 0,
    };
  }

  /** Resolves once every accepted frame has its outcome (the client ended its stream). */
  idle(): Promise<void> {
    if (this.isIdle()) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.endCall();
    this.ready.length = 0;
    for (const w of this.idleWaiters.splice(0)) w();
  }

  private isIdle(): boolean {
    return this.closed || (this.pending === 0 && this.sent.size === 0);
  }

  private settled(): void {
    if (this.isIdle()) for (const w of this.idleWaiters.splice(0)) w();
  }

  private reject(err: FrameApiError, sequence: number): number {
    this.counts.rejected++;
    this.deps.onFrameError(err, sequence);
    return sequence;
  }

  private archive(frame: ClientFrame, sourceId: string, sequence: number, format: ClientImageFormat): string | undefined {
    const every = this.o.archiveEveryNth;
    const wanted = frame.metadata.archive === "true" || (every > 0 && sequence % every === 0);
    if (!wanted || !this.deps.archiver) return undefined;
    this.counts.archiveRequested++;
    return this.deps.archiver.archive(sourceId, Math.trunc(frame.timestampMs), sequence, format, frame.frameData);
  }

  private connect(): boolean {
    const endpoint = this.deps.pool.pick();
    if (!endpoint) return false;
    const call = this.deps.pool.open(endpoint, this.deps.name);
    this.call = call;
    this.endpoint = endpoint;
    this.credits = 0;
    call.on("data", (msg: ProcessedFrame) => {
      if (this.call === call) this.onMessage(msg, endpoint);
    });
    call.on("error", (err: Error) => {
      if (this.call === call) this.fail(err.message);
    });
    call.on("end", () => {
      if (this.call === call) this.fail("the worker ended the stream");
    });
    return true;
  }

  private onMessage(msg: ProcessedFrame, endpoint: FrameWorkerEndpoint): void {
    if (msg.sequence > 0) {
      const seq = Number(msg.sequence);
      const s = this.sent.get(seq);
      if (s) {
        this.sent.delete(seq);
        this.deps.pool.markDone(endpoint);
        endpoint.breaker.recordSuccess();
        const now = this.now();
        const processingTimeMs = now - s.receivedAtMs;
        this.counts.processed++;
        this.processingMsSum += processingTimeMs;
        this.deps.onResult({
          sequence: seq,
          timestampMs: s.frame.timestampMs,
          sourceId: s.sourceId,
          pipelineId: s.frame.metadata.pipeline_id || undefined,
          detections: msg.detections,
          processingTimeMs,
          workerProcessingMs: Number(msg.processingTimeMs),
          decodeMs: s.decodedAtMs - s.receivedAtMs,
          workerRoundTripMs: now - s.sentAtMs,
          worker: endpoint.address,
          framesDropped: this.counts.dropped,
          width: s.width,
          height: s.height,
          ...(s.archiveKey ? { archiveKey: s.archiveKey } : {}),
        });
      }
    }
    const credits = msg.demand?.credits ?? 0;
    if (credits > 0) {
      this.credits += credits;
      this.pump();
    }
    this.settled();
  }

  /** Sends ready frames, oldest first, while the worker has credits. */
  private pump(): void {
    const call = this.call;
    const endpoint = this.endpoint;
    if (!call || !endpoint) return;
    while (this.credits > 0 && this.ready.length > 0) {
      const r = this.ready.shift() as Ready;
      this.credits--;
      this.pending--;
      const { gray, ...held } = r;
      this.sent.set(r.sequence, { ...held, width: gray.width, height: gray.height, sentAtMs: this.now() });
      this.deps.pool.markSent(endpoint);
      try {
        call.write({
          frameData: gray.data,
          timestampMs: Math.trunc(r.frame.timestampMs),
          metadata: { ...r.frame.metadata, source_id: r.sourceId },
          streamId: this.deps.name,
          sequence: r.sequence,
          width: gray.width,
          height: gray.height,
          pixelFormat: PixelFormat.PIXEL_FORMAT_GRAY8,
          modelTier: ModelTier.MODEL_TIER_FULL,
        });
      } catch (err) {
        this.fail((err as Error).message); // the call died between its last event and this frame
        return;
      }
    }
  }

  /** A worker holding a frame past resultTimeoutMs is stuck whatever its channel says. */
  private failIfStuck(): void {
    const oldest = this.sent.values().next().value as Sent | undefined;
    if (oldest && this.now() - oldest.receivedAtMs > this.o.resultTimeoutMs) this.fail(`no result within ${this.o.resultTimeoutMs} ms`);
  }

  /** The worker stream failed: its frames are lost (reported), and a new stream is opened on whichever worker is usable. */
  private fail(reason: string): void {
    const endpoint = this.endpoint;
    const lost = [...this.sent.keys()];
    endpoint?.breaker.recordFailure(new Error(reason));
    this.deps.log?.warn({ worker: endpoint?.address, reason, lost: lost.length }, "frame API worker stream failed");
    this.endCall();
    this.counts.lost += lost.length;
    for (const seq of lost) this.deps.onFrameError(new WorkerLostError(endpoint?.address ?? "?", lost.length, reason), seq);
    if (!this.connect() && this.ready.length > 0) {
      // Nowhere to send the decoded frames: they are lost too rather than held without bound in time.
      const waiting = this.ready.splice(0);
      this.pending -= waiting.length;
      this.counts.lost += waiting.length;
      for (const r of waiting) this.deps.onFrameError(new NoWorkerAvailableError(this.o.noWorkerRetryAfterMs), r.sequence);
    }
    this.settled();
  }

  private endCall(): void {
    const call = this.call;
    const endpoint = this.endpoint;
    this.call = undefined;
    this.credits = 0;
    if (endpoint && this.sent.size > 0) this.deps.pool.markDone(endpoint, this.sent.size);
    this.sent.clear();
    if (call) {
      call.removeAllListeners("data");
      call.on("error", () => undefined); // the cancel below surfaces as CANCELLED
      call.cancel();
    }
  }
}
