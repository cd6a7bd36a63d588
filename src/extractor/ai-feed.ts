import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import type { LiveStream, StreamRegistry } from "../core/stream-registry.js";
import type { ProcessedFrame, VideoFrame } from "../generated/imageflow/v1/camera_stream.js";
import { VIDEO_ANALYSIS_TOPIC, type EventBus } from "../ports/event-bus.js";
import { detectionsJson, type AnalysisEvent, type FrameLatency } from "./analysis-event.js";
import { SYSTEM_CLOCK, type FeedClock, type FeedTimer, type FeedWorkerCall, type FeedWorkerEndpoint, type FeedWorkerPool } from "./ai-feed-deps.js";
import { Backoff } from "../core/backoff.js";
import { CreditScheduler, type Dispatch } from "./credit-scheduler.js";
import { fromPreferredFormat, toPixelFormat, type FrameFormat } from "./frame-format.js";
import { LatencyWindow, type LatencySummary } from "./latency-window.js";
import { productTags, type ProductInfo } from "./product-info.js";
import { ProductTracker } from "./product-tracker.js";
import { QosController, type QosChange } from "./qos-controller.js";
import { QOS_PRESETS, toProtoModelTier, type QosPresetName } from "./qos-presets.js";

export type { FrameFormat } from "./frame-format.js";


/**
 * A stream without frames this long (and 3 frame intervals of its preset) is paused: its QoS
 * holds. Short, so that little of a break counts as a quiet period (two QoS ticks by default).
 */
export const PAUSE_MIN_MS = 500;
/** A decoded, sampled frame as the AI feed needs it (the decoder's frame satisfies this). */
export interface AiFrame {
  width: number;
  height: number;
  format: FrameFormat;
  data: Buffer;
  /** Arrival of the source access unit's last RTP packet (epoch ms). */
  arrivalMs: number;
  /** Capture time estimate (epoch ms). */
  wallClockMs: number;
  decodedAtMs: number;
}

export interface FrameSpec {
  fps: number;
  maxHeight: number;
  format: FrameFormat;
}

export interface FrameFeed {
  setSpec(spec: FrameSpec): void;
  close(): void;
}

/** The decode-once frame source (one decoder per stream, shared by every consumer). */
export type FrameSource = (stream: LiveStream, spec: FrameSpec, onFrame: (frame: AiFrame) => void) => FrameFeed;

export interface AiFeedOptions {
  /** Streams fed to AI workers at once; more wait for a slot. */
  maxSessions: number;
  /** Frames per second sent to all workers together (Infinity: no cap). */
  maxFramesPerSecond: number;
  /** Highest preset any stream runs at. */
  maxPreset: QosPresetName;
  /** Priority per stream name (higher gets the global frame budget first); default 0. */
  priorities: ReadonlyMap<string, number>;
  /** A frame without a result after this long fails its call (the worker is stuck). */
  resultTimeoutMs: number;
  reconnectMinMs: number;
  reconnectMaxMs: number;
  qos: {
    stepDownAfterMs: number;
    stepUpAfterMs: number;
    noCreditRatio: number;
    dropRatio: number;
    latencyMs: number;
  };
  /** How often QoS decisions are taken and result deadlines checked. */
  tickMs: number;
}

export interface AiHooks {
  /** Tags the stream's current recording; returns its id (undefined when not recording). */
  tagRecording(stream: string, tags: Record<string, string>): string | undefined;
  /** The stream's current recording id, for `video_id`. */
  recordingId(stream: string): string | undefined;
}

export interface AiStreamStats {
  preset: QosPresetName;
  override: QosPresetName | null;
  worker: string | undefined;
  state: "waiting-for-slot" | "connecting" | "streaming" | "backing-off" | "closed";
  framesOffered: number;
  framesSent: number;
  framesDropped: number;
  results: number;
  outstanding: number;
  credits: number;
  reconnects: number;
  /** Ingest (last RTP packet) → result, over the last results (ms). */
  latencyMs?: LatencySummary;
  /** Ingest → the worker received the frame (as the worker reports it; else → sent), ms. */
  ingestToWorkerMs?: LatencySummary;
  lastProductInfo?: ProductInfo;
}

interface SentFrame {
  frame: AiFrame;
  sentAtMs: number;
  preset: QosPresetName;
  modelTier: string;
}

const LATENCY_WINDOW = 256;
/** Latency samples kept for the /metrics scrape between two scrapes (bounded: oldest dropped). */
const MAX_PENDING_SAMPLES = 10_000;

/**
 * Feeds every live stream's sampled frames to the AI workers. Per stream: one gRPC
 * ProcessVideoStream call at a time to the least-loaded usable worker, frames only against the
 * worker's credits (the scheduler keeps the newest frame while there are none), QoS stepped by
 * the controller, results turned into `video-analysis-events`. A call that fails (error,
 * deadline, worker gone) is retried with backoff on whichever worker is usable then; the media
 * path never waits for any of it.
 */
export class AiFeed {
  private readonly sessions = new Map<string, AiStreamSession>();
  private readonly waiting: LiveStream[] = [];
  readonly scheduler: CreditScheduler<AiFrame>;
  private pumpTimer: FeedTimer | undefined;
  private tickTimer: FeedTimer | undefined;
  private readonly pendingSamples: { stage: keyof FrameLatency; ms: number }[] = [];
  private closed = false;

  constructor(
    private readonly registry: StreamRegistry,
    readonly pool: FeedWorkerPool,
    private readonly frames: FrameSource,
    private readonly bus: EventBus,
    private readonly hooks: AiHooks,
    readonly opts: AiFeedOptions,
    private readonly log: Logger,
    /** Time, timers and jitter (tests inject a manual clock). */
    readonly clock: FeedClock = SYSTEM_CLOCK,
  ) {
    this.scheduler = new CreditScheduler<AiFrame>(
      { maxSessions: opts.maxSessions, maxFramesPerSecond: opts.maxFramesPerSecond, now: () => clock.now() },
      {
        dropped: (stream) => this.sessions.get(stream)?.qos.recordDropped(),
        starvedChange: (stream, starved) => this.sessions.get(stream)?.qos.setCreditStarved(starved),
      },
    );
  }

  start(): void {
    this.pool.start();
    this.registry.onStarted((s) => this.add(s));
    this.registry.onEnded((s) => this.remove(s.name));
    for (const s of this.registry.list()) this.add(s);
  }

  stats(stream: string): AiStreamStats | undefined {
    const s = this.sessions.get(stream);
    if (s) return s.stats();
    if (this.waiting.some((w) => w.name === stream)) {
      return { preset: this.opts.maxPreset, override: null, worker: undefined, state: "waiting-for-slot", framesOffered: 0, framesSent: 0, framesDropped: 0, results: 0, outstanding: 0, credits: 0, reconnects: 0 };
    }
    return undefined;
  }

  /** Pins a stream's preset (null: back to automatic). False when the stream is not fed. */
  setOverride(stream: string, preset: QosPresetName | null): QosChange | undefined | false {
    const s = this.sessions.get(stream);
    if (!s) return false;
    return s.setOverride(preset);
  }

  get sessionCount(): number {
    return this.sessions.size;
  }

  /** Latency samples since the last call (for Prometheus histograms). */
  takeLatencySamples(): { stage: keyof FrameLatency; ms: number }[] {
    return this.pendingSamples.splice(0, this.pendingSamples.length);
  }

  async close(): Promise<void> {
    this.closed = true;
    if (this.tickTimer) this.clock.clearInterval(this.tickTimer);
    if (this.pumpTimer) this.clock.clearTimeout(this.pumpTimer);
    for (const s of this.sessions.values()) s.close();
    this.sessions.clear();
    this.pool.close();
  }

  // ---- internals used by sessions ---------------------------------------------------------

  deliver(dispatches: Dispatch<AiFrame>[]): void {
    for (const d of dispatches) this.sessions.get(d.streamId)?.send(d.frame, d.poolId);
    this.schedulePump();
  }

  sample(latency: FrameLatency): void {
    for (const [stage, ms] of Object.entries(latency) as [keyof FrameLatency, number | undefined][]) {
      if (ms !== undefined) this.pendingSamples.push({ stage, ms });
    }
    if (this.pendingSamples.length > MAX_PENDING_SAMPLES) this.pendingSamples.splice(0, this.pendingSamples.length - MAX_PENDING_SAMPLES);
  }

  publish(stream: string, event: AnalysisEvent): void {
    this.bus.publish({ topic: VIDEO_ANALYSIS_TOPIC, key: stream, value: event });
  }

  tagRecording(stream: string, tags: Record<string, string>): string | undefined {
    return this.hooks.tagRecording(stream, tags);
  }

  recordingId(stream: string): string | undefined {
    return this.hooks.recordingId(stream);
  }

  private add(stream: LiveStream): void {
    if (this.closed || this.sessions.has(stream.name)) return;
    if (!stream.hub.tracks.video) return;
    if (!this.scheduler.admit(stream.name, { priority: this.opts.priorities.get(stream.name) ?? 0 })) {
      this.log.warn({ stream: stream.name, maxSessions: this.opts.maxSessions }, "AI session cap reached; stream waits for a slot");
      this.waiting.push(stream);
      return;
    }
    const session = new AiStreamSession(stream, this, this.frames, this.log.child({ stream: stream.name, component: "ai" }));
    this.sessions.set(stream.name, session);
    // The QoS tick runs only while a stream is fed: an idle server has no timer of its own.
    this.tickTimer ??= this.clock.setInterval(() => this.tick(), this.opts.tickMs);
    session.start();
  }

  private remove(name: string): void {
    const i = this.waiting.findIndex((w) => w.name === name);
    if (i >= 0) this.waiting.splice(i, 1);
    const s = this.sessions.get(name);
    if (!s) return;
    s.close();
    this.sessions.delete(name);
    this.scheduler.release(name);
    if (this.sessions.size === 0 && this.tickTimer) {
      this.clock.clearInterval(this.tickTimer);
      this.tickTimer = undefined;
    }
    const next = this.waiting.shift();
    if (next) this.add(next);
  }

  private tick(): void {
    for (const s of this.sessions.values()) s.tick();
  }

  private schedulePump(): void {
    if (this.pumpTimer) return;
    const at = this.scheduler.nextPumpAtMs();
    if (at === undefined) return;
    this.pumpTimer = this.clock.setTimeout(() => {
      this.pumpTimer = undefined;
      this.deliver(this.scheduler.pump());
    }, Math.max(0, at - this.clock.now()));
  }
}

/** One stream's AI feed: its frame subscription, its worker call, its QoS. */
class AiStreamSession {
  readonly qos: QosController;
  private feed: FrameFeed | undefined;
  private call: FeedWorkerCall | undefined;
  private endpoint: FeedWorkerEndpoint | undefined;
  private poolId: string | undefined;
  private calls = 0;
  private state: AiStreamStats["state"] = "connecting";
  private readonly backoff: Backoff;
  private retryTimer: FeedTimer | undefined;
  private readonly outstanding = new Map<number, SentFrame>();
  private sequence = 0;
  private format: FrameFormat = "gray8";
  private results = 0;
  private reconnects = 0;
  private readonly latencies = new LatencyWindow(LATENCY_WINDOW);
  private readonly toWorker = new LatencyWindow(LATENCY_WINDOW);
  private readonly products = new ProductTracker();
  private closed = false;
  /** When the decoder last handed a frame (feed clock); a long silence is a paused stream. */
  private lastFrameAtMs: number | undefined;

  constructor(
    private readonly stream: LiveStream,
    private readonly feedHub: AiFeed,
    private readonly frames: FrameSource,
    private readonly log: Logger,
  ) {
    const o = feedHub.opts;
    this.qos = new QosController({
      maxPreset: o.maxPreset,
      stepDownAfterMs: o.qos.stepDownAfterMs,
      stepUpAfterMs: o.qos.stepUpAfterMs,
      noCreditRatio: o.qos.noCreditRatio,
      dropRatio: o.qos.dropRatio,
      latencyMs: o.qos.latencyMs,
      now: () => feedHub.clock.now(),
    });
    this.qos.onChange((c) => this.onQosChange(c));
    this.backoff = new Backoff({ baseMs: o.reconnectMinMs, maxMs: o.reconnectMaxMs, random: () => feedHub.clock.random() });
  }

  start(): void {
    this.feed = this.frames(this.stream, this.spec(), (f) => this.onFrame(f));
    this.connect();
  }

  stats(): AiStreamStats {
    const c = this.feedHub.scheduler.streamStats(this.stream.name);
    const total = this.latencies.summary();
    const toWorker = this.toWorker.summary();
    const lastProduct = this.products.last;
    return {
      preset: this.qos.preset,
      override: this.qos.override,
      worker: this.endpoint?.address,
      state: this.closed ? "closed" : this.state,
      framesOffered: c?.offered ?? 0,
      framesSent: c?.sent ?? 0,
      framesDropped: c?.dropped ?? 0,
      results: this.results,
      outstanding: this.outstanding.size,
      credits: this.poolId ? this.feedHub.scheduler.credits(this.poolId) : 0,
      reconnects: this.reconnects,
      ...(total ? { latencyMs: total } : {}),
      ...(toWorker ? { ingestToWorkerMs: toWorker } : {}),
      ...(lastProduct ? { lastProductInfo: lastProduct } : {}),
    };
  }

  setOverride(preset: QosPresetName | null): QosChange | undefined {
    return this.qos.setOverride(preset);
  }

  tick(): void {
    if (this.closed) return;
    if (this.paused()) this.qos.hold();
    else this.qos.tick();
    // Deadline per frame: a worker that holds a frame this long is stuck, whatever its channel says.
    const oldest = this.outstanding.values().next().value as SentFrame | undefined;
    if (oldest && this.feedHub.clock.now() - oldest.sentAtMs > this.feedHub.opts.resultTimeoutMs) {
      this.fail(new Error(`no result within ${this.feedHub.opts.resultTimeoutMs} ms`));
    }
  }

  send(frame: AiFrame, poolId: string): void {
    const call = this.call;
    const endpoint = this.endpoint;
    if (!call || !endpoint || poolId !== this.poolId) return; // a stale credit of an ended call
    // The decoder stamps frames with a sub-ms clock; stamp on the same one.
    const now = this.feedHub.clock.now();
    const seq = ++this.sequence;
    const preset = QOS_PRESETS[this.qos.preset];
    const msg: VideoFrame = {
      frameData: frame.data,
      timestampMs: Math.round(frame.wallClockMs),
      metadata: { source_id: this.stream.name, sent_at_ms: String(Math.round(now)) },
      streamId: this.stream.name,
      sequence: seq,
      width: frame.width,
      height: frame.height,
      pixelFormat: toPixelFormat(frame.format),
      modelTier: toProtoModelTier(preset.modelTier),
    };
    this.outstanding.set(seq, { frame, sentAtMs: now, preset: this.qos.preset, modelTier: preset.modelTier });
    this.feedHub.pool.markSent(endpoint);
    this.qos.recordSent();
    try {
      call.write(msg);
    } catch (err) {
      this.fail(err as Error); // a call that died between its last event and this frame
    }
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.retryTimer) this.feedHub.clock.clearTimeout(this.retryTimer);
    this.feed?.close();
    this.endCall();
  }

  private spec(): FrameSpec {
    const p = QOS_PRESETS[this.qos.preset];
    return { fps: p.fps, maxHeight: p.maxHeight, format: this.format };
  }

  /**
   * No frame for PAUSE_MIN_MS and 3 frame intervals of the preset: the publisher's network broke
   * (the hub lives on through a reconnect). The worker call and its credits stay as they are:
   * credits wait in the pool and the first frame after the break goes on them at once.
   */
  private paused(): boolean {
    if (this.lastFrameAtMs === undefined) return false;
    const limit = Math.max(PAUSE_MIN_MS, (3 * 1000) / QOS_PRESETS[this.qos.preset].fps);
    return this.feedHub.clock.now() - this.lastFrameAtMs > limit;
  }

  private onFrame(frame: AiFrame): void {
    if (this.closed) return;
    this.lastFrameAtMs = this.feedHub.clock.now();
    this.feedHub.deliver(this.feedHub.scheduler.offer(this.stream.name, frame));
  }

  private onQosChange(c: QosChange): void {
    this.log.info({ from: c.from, to: c.to, cause: c.cause, signals: c.signals }, "AI QoS preset changed");
    this.feed?.setSpec(this.spec());
  }

  private connect(): void {
    if (this.closed) return;
    const endpoint = this.feedHub.pool.pick();
    if (!endpoint) {
      this.state = "backing-off";
      this.retryLater("no usable AI worker");
      return;
    }
    this.state = "connecting";
    const poolId = `${this.stream.name}#${++this.calls}`;
    const call = this.feedHub.pool.open(endpoint, this.stream.name);
    this.call = call;
    this.endpoint = endpoint;
    this.poolId = poolId;
    this.feedHub.scheduler.openPool(poolId);
    this.feedHub.deliver(this.feedHub.scheduler.assign(this.stream.name, poolId));
    call.on("data", (msg: ProcessedFrame) => {
      if (this.call === call) this.onMessage(msg, endpoint, poolId);
    });
    call.on("error", (err: Error) => {
      if (this.call === call) this.fail(err);
    });
    call.on("end", () => {
      if (this.call === call) this.fail(new Error("the worker ended the stream"));
    });
    this.log.debug({ worker: endpoint.address }, "AI worker stream opened");
  }

  private onMessage(msg: ProcessedFrame, endpoint: FeedWorkerEndpoint, poolId: string): void {
    const now = this.feedHub.clock.now();
    if (this.state !== "streaming") {
      this.state = "streaming";
      this.log.info({ worker: endpoint.address }, "AI worker stream up");
    }
    if (msg.sequence > 0) {
      const seq = Number(msg.sequence);
      const sent = this.outstanding.get(seq);
      if (sent) {
        this.outstanding.delete(seq);
        this.feedHub.pool.markDone(endpoint);
        endpoint.breaker.recordSuccess();
        this.backoff.reset();
        this.onResult(msg, sent, endpoint, now);
      }
    }
    const credits = msg.demand?.credits ?? 0;
    const preferred = msg.demand ? fromPreferredFormat(msg.demand.preferredFormat) : undefined;
    if (preferred) this.prefer(preferred);
    if (credits > 0) this.feedHub.deliver(this.feedHub.scheduler.grant(poolId, credits));
  }

  private prefer(want: FrameFormat): void {
    if (want === this.format) return;
    const previous = this.format;
    this.format = want;
    try {
      this.feed?.setSpec(this.spec());
    } catch (err) {
      // One decoder cannot serve JPEG and raw consumers at once (409 from the manager): keep the
      // format the stream has; the worker gets frames it did not prefer rather than none.
      this.format = previous;
      this.log.warn({ wanted: want, kept: previous, err: (err as Error).message }, "AI worker's preferred format refused");
    }
  }

  private onResult(msg: ProcessedFrame, sent: SentFrame, endpoint: FeedWorkerEndpoint, now: number): void {
    this.results++;
    const f = sent.frame;
    const receivedAt = Number(msg.processingStats.received_at_ms);
    const latency: FrameLatency = {
      decodeMs: f.decodedAtMs - f.arrivalMs,
      toWorkerMs: sent.sentAtMs - f.arrivalMs,
      workerRoundTripMs: now - sent.sentAtMs,
      totalMs: now - f.arrivalMs,
      ...(Number.isFinite(receivedAt) && receivedAt > 0 ? { workerReceivedMs: receivedAt - f.arrivalMs } : {}),
    };
    this.latencies.push(latency.totalMs);
    this.toWorker.push(latency.workerReceivedMs ?? latency.toWorkerMs);
    this.qos.recordResult(latency.workerRoundTripMs);
    this.feedHub.sample(latency);

    let recordingId = this.feedHub.recordingId(this.stream.name);
    const sighting = this.products.observe(msg.detections);
    const product: ProductInfo | undefined = sighting?.product;
    // Tag once per new payload: the same code in view for minutes is one work piece.
    if (sighting?.isNew) {
      recordingId = this.feedHub.tagRecording(this.stream.name, productTags(sighting.product)) ?? recordingId;
      this.log.info({ product: sighting.product, recording: recordingId }, "product information read from QR code");
    }
    const event: AnalysisEvent = {
      event_type: "analysis_completed",
      event_id: randomUUID(),
      stream_id: this.stream.name,
      video_id: recordingId ?? null,
      sequence: Number(msg.sequence),
      ...(product ? { product_info: product } : {}),
      analysis_results: {
        detection_count: msg.detections.length,
        detections: detectionsJson(msg.detections),
        processing_time_ms: Number(msg.processingTimeMs),
        processing_stats: { ...msg.processingStats },
      },
      frame: { width: f.width, height: f.height, pixel_format: f.format, captured_at: new Date(f.wallClockMs).toISOString(), preset: sent.preset, model_tier: sent.modelTier },
      latency_ms: latency,
      worker: endpoint.address,
      timestamp: new Date(Math.round(now)).toISOString(),
    };
    this.feedHub.publish(this.stream.name, event);
  }

  private fail(err: Error): void {
    const endpoint = this.endpoint;
    this.log.warn({ worker: endpoint?.address, err: err.message }, "AI worker stream failed");
    endpoint?.breaker.recordFailure(err);
    this.endCall();
    this.state = "backing-off";
    this.reconnects++;
    this.retryLater(err.message);
  }

  private retryLater(reason: string): void {
    if (this.closed || this.retryTimer) return;
    const delay = this.backoff.next();
    this.log.debug({ delayMs: Math.round(delay), reason }, "AI worker reconnect scheduled");
    this.retryTimer = this.feedHub.clock.setTimeout(() => {
      this.retryTimer = undefined;
      this.connect();
    }, delay);
  }

  private endCall(): void {
    const call = this.call;
    const endpoint = this.endpoint;
    this.call = undefined;
    if (this.poolId) this.feedHub.scheduler.closePool(this.poolId);
    this.poolId = undefined;
    if (endpoint && this.outstanding.size > 0) this.feedHub.pool.markDone(endpoint, this.outstanding.size);
    this.outstanding.clear();
    if (call) {
      call.removeAllListeners("data");
      call.on("error", () => undefined); // the cancel below surfaces as CANCELLED
      call.cancel();
    }
  }
}
