import { EventEmitter } from "node:events";
import { pino } from "pino";
import { InProcessEventBus } from "../../../src/adapters/events/in-process-event-bus.js";
import { StreamRegistry, type LiveStream } from "../../../src/core/stream-registry.js";
import type { StreamTracks } from "../../../src/core/stream-hub.js";
import { AiFeed, type AiFeedOptions, type AiFrame, type FrameFormat, type FrameSpec } from "../../../src/extractor/ai-feed.js";
import type { FeedClock, FeedTimer, FeedWorkerCall, FeedWorkerEndpoint, FeedWorkerPool } from "../../../src/extractor/ai-feed-deps.js";
import { CircuitBreaker } from "../../../src/core/circuit-breaker.js";
import type { EndpointStatus } from "../../../src/extractor/worker-pool.js";
import { PixelFormat, type ProcessedFrame, type VideoFrame } from "../../../src/generated/imageflow/v1/camera_stream.js";
import type { Detection } from "../../../src/generated/imageflow/v1/common.js";
import { VIDEO_ANALYSIS_TOPIC, type BusEvent } from "../../../src/ports/event-bus.js";

/**
 * Fakes at the AI feed's boundaries only (time, the gRPC worker calls, the decoder's frames);
 * the feed, its credit scheduler, QoS controller, backoff, breakers, the stream registry and
 * the event bus are the real ones.
 */

/** Time moves only when the test says; due timers run in time order. `random()` is 0.5 (no jitter). */
export class ManualClock implements FeedClock {
  private t: number;
  private seq = 0;
  private readonly timers = new Map<number, { at: number; fn: () => void; every?: number }>();

  constructor(startMs = 1_800_000_000_000) {
    this.t = startMs;
  }

  now(): number {
    return this.t;
  }

  setTimeout(fn: () => void, ms: number): FeedTimer {
    return this.add(fn, ms);
  }

  setInterval(fn: () => void, ms: number): FeedTimer {
    return this.add(fn, ms, Math.max(1, ms));
  }

  clearTimeout(t: FeedTimer): void {
    this.timers.delete((t as { id: number }).id);
  }

  clearInterval(t: FeedTimer): void {
    this.clearTimeout(t);
  }

  random(): number {
    return 0.5;
  }

  /** Timers still scheduled. */
  get pending(): number {
    return this.timers.size;
  }

  /** Moves time forward by `ms`, running every timer that falls due on the way. */
  advance(ms: number): void {
    const until = this.t + ms;
    for (;;) {
      let next: [number, { at: number; fn: () => void; every?: number }] | undefined;
      for (const e of this.timers) if (e[1].at <= until && (!next || e[1].at < next[1].at || (e[1].at === next[1].at && e[0] < next[0]))) next = e;
      if (!next) break;
      const [id, timer] = next;
      this.t = Math.max(this.t, timer.at);
      if (timer.every !== undefined) timer.at += timer.every;
      else this.timers.delete(id);
      timer.fn();
    }
    this.t = until;
  }

  private add(fn: () => void, ms: number, every?: number): FeedTimer {
    const id = ++this.seq;
    this.timers.set(id, { at: this.t + Math.max(0, ms), fn, ...(every !== undefined ? { every } : {}) });
    return { id } as FeedTimer;
  }
}

/** One ProcessVideoStream call as the worker side of a test drives it. */
export class FakeCall extends EventEmitter implements FeedWorkerCall {
  readonly written: VideoFrame[] = [];
  cancelled = false;

  write(msg: VideoFrame): boolean {
    if (this.cancelled) throw new Error("write after cancel");
    this.written.push(msg);
    return true;
  }

  cancel(): void {
    this.cancelled = true;
  }

  /** The worker grants credits (a message without a result). */
  grant(credits: number, preferredFormat = PixelFormat.PIXEL_FORMAT_GRAY8): void {
    this.emit("data", message(0, [], { credits, preferredFormat }));
  }

  /** The worker's result for the frame of `sequence`, optionally with a credit. */
  result(sequence: number, detections: Detection[] = [], credits = 0, stats: Record<string, string> = {}): void {
    this.emit("data", message(sequence, detections, credits > 0 ? { credits, preferredFormat: PixelFormat.PIXEL_FORMAT_UNSPECIFIED } : undefined, stats));
  }
}

function message(sequence: number, detections: Detection[], demand: ProcessedFrame["demand"], processingStats: Record<string, string> = {}): ProcessedFrame {
  return { processedData: Buffer.alloc(0), detections, processingTimeMs: 3, processingStats, streamId: "", sequence, ...(demand ? { demand } : {}) };
}

export class FakePool implements FeedWorkerPool {
  readonly endpoint: FeedWorkerEndpoint;
  readonly calls: { stream: string; call: FakeCall }[] = [];
  /** While false, `pick()` finds no usable worker. */
  available = true;
  started = false;
  closed = false;
  outstanding = 0;

  constructor(address = "worker-a:50051") {
    this.endpoint = { address, breaker: new CircuitBreaker({ failureThreshold: 100, openMs: 1000, successThreshold: 1 }) };
  }

  start(): void {
    this.started = true;
  }

  close(): void {
    this.closed = true;
  }

  pick(): FeedWorkerEndpoint | undefined {
    return this.available ? this.endpoint : undefined;
  }

  open(_endpoint: FeedWorkerEndpoint, stream: string): FakeCall {
    const call = new FakeCall();
    this.calls.push({ stream, call });
    return call;
  }

  markSent(): void {
    this.outstanding++;
  }

  markDone(_endpoint: FeedWorkerEndpoint, n = 1): void {
    this.outstanding -= n;
  }

  status(): EndpointStatus[] {
    return [{ address: this.endpoint.address, healthy: this.available, breaker: this.endpoint.breaker.state, outstanding: this.outstanding }];
  }

  /** The newest call of `stream`. */
  callOf(stream: string): FakeCall {
    const c = this.calls.filter((x) => x.stream === stream).pop();
    if (!c) throw new Error(`no call opened for ${stream}`);
    return c.call;
  }

  callCount(stream: string): number {
    return this.calls.filter((x) => x.stream === stream).length;
  }
}

/** The decoder side: one subscription per fed stream; the test pushes frames into it. */
export class FakeFrames {
  readonly feeds = new Map<string, { specs: FrameSpec[]; onFrame: (f: AiFrame) => void; closed: boolean }>();
  /** setSpec throws for this format (as the decoder manager's 409 for a JPEG/raw mix). */
  refuse: FrameFormat | undefined;

  readonly source = (stream: LiveStream, spec: FrameSpec, onFrame: (f: AiFrame) => void) => {
    const feed = { specs: [{ ...spec }], onFrame, closed: false };
    this.feeds.set(stream.name, feed);
    return {
      setSpec: (next: FrameSpec) => {
        if (this.refuse !== undefined && next.format === this.refuse) throw new Error("one stream's decoder cannot output JPEG and raw frames at once");
        feed.specs.push({ ...next });
      },
      close: () => {
        feed.closed = true;
      },
    };
  };

  spec(stream: string): FrameSpec | undefined {
    return this.feeds.get(stream)?.specs.at(-1);
  }

  /** Pushes one decoded frame of `stream` (stamped on `clock`), in the format its spec asks for. */
  push(stream: string, clock: ManualClock, opts: Partial<AiFrame> = {}): AiFrame {
    const feed = this.feeds.get(stream);
    if (!feed || feed.closed) throw new Error(`${stream} is not subscribed`);
    const now = clock.now();
    const frame: AiFrame = { width: 64, height: 48, format: this.spec(stream)?.format ?? "gray8", data: Buffer.alloc(64 * 48), arrivalMs: now - 10, wallClockMs: now - 30, decodedAtMs: now - 2, ...opts };
    feed.onFrame(frame);
    return frame;
  }
}

export const FEED_OPTS: AiFeedOptions = {
  maxSessions: 8,
  maxFramesPerSecond: Infinity,
  maxPreset: "high",
  priorities: new Map(),
  resultTimeoutMs: 5000,
  reconnectMinMs: 1000,
  reconnectMaxMs: 4000,
  // QoS never moves on its own in these tests unless one asks for it
  qos: { stepDownAfterMs: 3_600_000, stepUpAfterMs: 60_000, noCreditRatio: 0.5, dropRatio: 0.5, latencyMs: 60_000 },
  tickMs: 250,
};

export interface Harness {
  feed: AiFeed;
  clock: ManualClock;
  pool: FakePool;
  frames: FakeFrames;
  registry: StreamRegistry;
  events: BusEvent[];
  tags: { stream: string; tags: Record<string, string> }[];
  /** A publisher connects: claim + announce, as the ingest does. */
  publish(name: string, tracks?: StreamTracks): LiveStream;
  unpublish(name: string): void;
}

/** `recording`: the live recording id the hooks report (null: not recording). */
export function startFeed(opts: Partial<AiFeedOptions> = {}, recording: string | null = "rec-1"): Harness {
  const recordingId = recording ?? undefined;
  const clock = new ManualClock();
  const pool = new FakePool();
  const frames = new FakeFrames();
  const registry = new StreamRegistry({ maxStreams: 16, readerQueueFrames: 8 });
  const bus = new InProcessEventBus();
  const events: BusEvent[] = [];
  bus.subscribe(VIDEO_ANALYSIS_TOPIC, (e) => events.push(e));
  const tags: Harness["tags"] = [];
  const feed = new AiFeed(registry, pool, frames.source, bus, {
    tagRecording: (stream, t) => {
      tags.push({ stream, tags: t });
      return recordingId;
    },
    recordingId: () => recordingId,
  }, { ...FEED_OPTS, ...opts }, pino({ level: "silent" }), clock);
  feed.start();
  return {
    feed, clock, pool, frames, registry, events, tags,
    publish: (name, tracks = { video: { codec: "h264" } }) => {
      const s = registry.claim(name, `session-${name}`, tracks, () => ({ protocol: "whip", sessionId: `session-${name}`, since: 0, state: "live", reconnects: 0, bitrateBps: 0, packetsReceived: 0, packetsLost: 0, framesReceived: 0, framesDropped: 0, keyframeRequests: 0 }));
      registry.announce(s);
      return s;
    },
    unpublish: (name) => {
      const s = registry.get(name);
      if (s) registry.release(s);
    },
  };
}
