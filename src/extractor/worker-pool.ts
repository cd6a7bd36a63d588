import { credentials, makeGenericClientConstructor, Metadata, type ClientDuplexStream, type ServiceError } from "@grpc/grpc-js";
import { service as healthService } from "grpc-health-check";
import type { Logger } from "pino";
import { CameraStreamServiceClient, type ProcessedFrame, type VideoFrame } from "../generated/imageflow/v1/camera_stream.js";
import { CircuitBreaker, type BreakerState, type BreakerTransition } from "../core/circuit-breaker.js";
import { WorkerBalancer } from "./worker-balancer.js";

export interface WorkerPoolOptions {
  /** `host:port` of each AI worker (gRPC, plaintext). */
  endpoints: string[];
  healthIntervalMs: number;
  /** Deadline of one health check call. */
  healthTimeoutMs: number;
  breakerFailures: number;
  breakerOpenMs: number;
  breakerSuccesses: number;
  maxFrameBytes: number;
}

const SERVICE = "imageflow.v1.CameraStreamService";

interface HealthClient {
  check(req: { service: string }, opts: { deadline: number }, cb: (err: ServiceError | null, res?: { status?: string | number }) => void): void;
  close(): void;
}
const HealthClientCtor = makeGenericClientConstructor(healthService, "grpc.health.v1.Health") as unknown as new (address: string, creds: ReturnType<typeof credentials.createInsecure>) => HealthClient;

export interface WorkerEndpoint {
  readonly address: string;
  readonly breaker: CircuitBreaker;
  readonly client: CameraStreamServiceClient;
  healthy: boolean;
  lastHealthAtMs: number | undefined;
}

export interface EndpointStatus {
  address: string;
  healthy: boolean;
  breaker: BreakerState;
  outstanding: number;
}

/**
 * The AI workers this server feeds: one gRPC channel per endpoint, a grpc.health.v1 check on
 * each every `healthIntervalMs` (with a deadline), a circuit breaker per endpoint (fed by health
 * checks and by the streams' calls), and the least-outstanding-frames choice among the usable
 * ones. Streams open their own calls through `open()`; the pool only knows channels, health and
 * load.
 */
export class WorkerPool {
  private readonly endpoints = new Map<string, WorkerEndpoint & { health: HealthClient }>();
  private readonly balancer = new WorkerBalancer();
  private timer: NodeJS.Timeout | undefined;
  private readonly transitionListeners = new Set<(address: string, t: BreakerTransition) => void>();

  constructor(
    private readonly opts: WorkerPoolOptions,
    private readonly log: Logger,
  ) {
    for (const address of opts.endpoints) this.add(address);
  }

  add(address: string): void {
    if (this.endpoints.has(address)) return;
    const breaker = new CircuitBreaker({ failureThreshold: this.opts.breakerFailures, openMs: this.opts.breakerOpenMs, successThreshold: this.opts.breakerSuccesses });
    breaker.onTransition((t) => {
      this.log.info({ worker: address, from: t.from, to: t.to }, "AI worker circuit breaker");
      for (const l of this.transitionListeners) l(address, t);
    });
    const channelOpts = {
      "grpc.max_send_message_length": this.opts.maxFrameBytes + 4096,
      "grpc.max_receive_message_length": 16 * 1024 * 1024,
      // Notice a dead worker between frames too, not only on the next write.
      "grpc.keepalive_time_ms": 10_000,
      "grpc.keepalive_timeout_ms": 5_000,
    };
    const client = new CameraStreamServiceClient(address, credentials.createInsecure(), channelOpts);
    const health = new HealthClientCtor(address, credentials.createInsecure());
    this.endpoints.set(address, { address, breaker, client, health, healthy: true, lastHealthAtMs: undefined });
    this.balancer.add(address, breaker);
  }

  start(): void {
    if (this.timer) return;
    void this.checkAll();
    this.timer = setInterval(() => void this.checkAll(), this.opts.healthIntervalMs);
    this.timer.unref();
  }

  onBreakerTransition(fn: (address: string, t: BreakerTransition) => void): () => void {
    this.transitionListeners.add(fn);
    return () => this.transitionListeners.delete(fn);
  }

  /** The usable endpoint with the fewest outstanding frames, or undefined when none is. */
  pick(exclude?: ReadonlySet<string>): WorkerEndpoint | undefined {
    for (const e of this.endpoints.values()) e.breaker.tick();
    const address = this.balancer.pick(exclude);
    return address === undefined ? undefined : this.endpoints.get(address);
  }

  /** A new ProcessVideoStream call on `endpoint`, tagged with the stream's name. */
  open(endpoint: WorkerEndpoint, stream: string): ClientDuplexStream<VideoFrame, ProcessedFrame> {
    const md = new Metadata();
    md.set("x-ifc-stream", stream);
    return endpoint.client.processVideoStream(md);
  }

  markSent(endpoint: WorkerEndpoint): void {
    this.balancer.markSent(endpoint.address);
  }

  markDone(endpoint: WorkerEndpoint, n = 1): void {
    this.balancer.markDone(endpoint.address, n);
  }

  /** Checks every endpoint now (also run on the timer). */
  async checkAll(): Promise<void> {
    await Promise.all([...this.endpoints.values()].map((e) => this.check(e)));
  }

  status(): EndpointStatus[] {
    const load = new Map(this.balancer.status().map((s) => [s.id, s.outstanding]));
    return [...this.endpoints.values()].map((e) => ({ address: e.address, healthy: e.healthy, breaker: e.breaker.state, outstanding: load.get(e.address) ?? 0 }));
  }

  get size(): number {
    return this.endpoints.size;
  }

  close(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
    for (const e of this.endpoints.values()) {
      e.client.close();
      e.health.close();
    }
  }

  private check(e: WorkerEndpoint & { health: HealthClient }): Promise<void> {
    return new Promise((resolve) => {
      e.health.check({ service: SERVICE }, { deadline: Date.now() + this.opts.healthTimeoutMs }, (err, res) => {
        const serving = !err && (res?.status === "SERVING" || res?.status === 1);
        if (serving !== e.healthy) this.log.info({ worker: e.address, healthy: serving, err: err?.message }, "AI worker health changed");
        e.healthy = serving;
        // A health check is a call like any other: a worker that is down opens its breaker even
        // while no stream is trying it, and a restarted one earns its way back through half-open.
        if (serving) e.breaker.recordSuccess();
        else e.breaker.recordFailure(err ?? new Error("not serving"));
        e.lastHealthAtMs = Date.now();
        this.balancer.setHealthy(e.address, serving);
        resolve();
      });
    });
  }
}
