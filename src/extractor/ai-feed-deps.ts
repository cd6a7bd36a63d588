import type { EventEmitter } from "node:events";
import type { VideoFrame } from "../generated/imageflow/v1/camera_stream.js";
import type { CircuitBreaker } from "../core/circuit-breaker.js";
import { nowMs } from "./decoded-frame.js";
import type { EndpointStatus } from "./worker-pool.js";

/**
 * What the AI feed needs from its surroundings besides frames: time, timers, randomness and the
 * worker pool. Injected so the feed's own decisions (deadlines, backoff, pumping, sessions) are
 * testable without real workers or waiting real time; the server passes the real ones.
 */

/** A timer the clock made (Node's Timeout satisfies it). */
export interface FeedTimer {
  unref?(): unknown;
}

export interface FeedClock {
  /** Epoch ms, sub-ms resolution: frames are stamped on the same clock. */
  now(): number;
  setTimeout(fn: () => void, ms: number): FeedTimer;
  clearTimeout(t: FeedTimer): void;
  setInterval(fn: () => void, ms: number): FeedTimer;
  clearInterval(t: FeedTimer): void;
  /** Uniform in [0, 1): reconnect jitter. */
  random(): number;
}

/** The process's clock; its timers never keep the process alive (the feed is background work). */
export const SYSTEM_CLOCK: FeedClock = {
  now: nowMs,
  setTimeout: (fn, ms) => setTimeout(fn, ms).unref(),
  clearTimeout: (t) => clearTimeout(t as NodeJS.Timeout),
  setInterval: (fn, ms) => setInterval(fn, ms).unref(),
  clearInterval: (t) => clearInterval(t as NodeJS.Timeout),
  random: Math.random,
};

/** One worker as the feed sees it: an address, and the breaker its calls feed. */
export interface FeedWorkerEndpoint {
  readonly address: string;
  readonly breaker: CircuitBreaker;
}

/** One ProcessVideoStream call (grpc-js's ClientDuplexStream satisfies it): emits "data" (ProcessedFrame), "error", "end". */
export interface FeedWorkerCall extends Pick<EventEmitter, "on" | "removeAllListeners"> {
  write(msg: VideoFrame): unknown;
  cancel(): void;
}

/** The workers (WorkerPool satisfies it): health, breakers and load stay the pool's business. */
export interface FeedWorkerPool {
  start(): void;
  close(): void;
  /** The usable endpoint with the fewest outstanding frames, or undefined when none is. */
  pick(): FeedWorkerEndpoint | undefined;
  open(endpoint: FeedWorkerEndpoint, stream: string): FeedWorkerCall;
  markSent(endpoint: FeedWorkerEndpoint): void;
  markDone(endpoint: FeedWorkerEndpoint, n?: number): void;
  status(): EndpointStatus[];
}
