import { status as GrpcStatus, type Channel, type Client } from "@grpc/grpc-js";
import { systemTimers, type Timers } from "../core/timers.js";
import { CircuitBreaker, type BreakerState } from "../core/circuit-breaker.js";
import { BALANCING_STRATEGIES, pickCandidate, type BalancingStrategy } from "./balancing.js";
import { GrpcChannelPool, type GrpcClientCtor } from "./grpc-channel-pool.js";
import { checkHealth, type InstanceHealth } from "./health-checker.js";
import { NoServiceAvailableError, RegistryClosedError, RegistryFullError } from "./registry-errors.js";
import { checkAddress, fullServiceName } from "./service-names.js";

export type InstanceSource = "config" | "registered";

export interface ServiceInstanceConfig {
  /** Full ("imageflow.v1.ResizeService") or short ("ResizeService") name. */
  service: string;
  /** host:port */
  address: string;
}

export interface ServiceRegistryOptions {
  /** Instances from config: never expire, cannot be deregistered. Default none. */
  instances?: readonly ServiceInstanceConfig[];
  /** Default "least-connections". */
  strategy?: BalancingStrategy;
  /** grpc.health.v1 Check period per instance (ms). Default 10 000. */
  healthIntervalMs?: number;
  /** A Check without answer after this long makes the instance UNREACHABLE (ms). Default 2 000. */
  healthTimeoutMs?: number;
  /** A registered instance failing every health check for this long is removed (ms). Default 60 000. */
  registeredExpiryMs?: number;
  /** Most instances register() may add (config ones not counted). Default 256. */
  maxRegisteredInstances?: number;
  /** Channels per instance. Default 10. */
  poolSize?: number;
  /** grpc.keepalive_time_ms of every channel. Default 30 000. */
  keepaliveTimeMs?: number;
  /** grpc.keepalive_timeout_ms. Default 10 000. */
  keepaliveTimeoutMs?: number;
  /** Deadline callers should give a call when the step sets none (lease.callTimeoutMs). Default 5 000. */
  callTimeoutMs?: number;
  /** Breaker: consecutive failures that open it. Default 5. */
  breakerFailures?: number;
  /** Breaker: pause before a probe (ms). Default 30 000. */
  breakerOpenMs?: number;
  /** Breaker: successes in half-open that close it. Default 3. */
  breakerSuccesses?: number;
  /** Calls let through at once to a half-open instance. Default 1. */
  halfOpenMaxInFlight?: number;
  /** Weight of the newest sample in the response-time EWMA (0..1]. Default 0.3. */
  ewmaAlpha?: number;
  /** Clock and timers (health period, health timeout, breaker pause). Default systemTimers. */
  timers?: Timers;
  /** Uniform [0, 1) for the "random" strategy. Default Math.random. */
  random?: () => number;
}

export interface InstanceRef {
  instance_id: string;
  service: string;
  address: string;
}

/** One row of GET /api/v1/grpc-services. */
export interface ServiceInstanceRow extends InstanceRef {
  source: InstanceSource;
  registered_at: string;
  status: InstanceHealth;
  breaker_state: BreakerState;
  current_connections: number;
  avg_response_ms: number | null;
  last_health_check: string | null;
  last_error: string | null;
  /** Failed calls in a row (the breaker's view). */
  consecutive_failures: number;
  /** Failed health checks in a row. */
  consecutive_health_failures: number;
  pool_size: number;
}

export type RegistryEvent =
  | { type: "instance-added"; instance: InstanceRef; source: InstanceSource }
  | { type: "instance-removed"; instance: InstanceRef; reason: "deregistered" | "expired" }
  | { type: "health"; instance: InstanceRef; from: InstanceHealth; to: InstanceHealth; error?: string }
  | { type: "breaker"; instance: InstanceRef; from: BreakerState; to: BreakerState; error?: string };

export interface CallOutcome {
  ok: boolean;
  /** gRPC status code of a failed call; absent for a failure without one (counts as the instance's). */
  code?: number;
  durationMs: number;
}

export interface ServiceLease {
  readonly instance: InstanceRef;
  /** The pooled channel this lease got (round-robin). */
  readonly channel: Channel;
  /** Deadline to use when the caller has none (ms). */
  readonly callTimeoutMs: number;
  /** A generated client bound to this lease's channel (cached per channel and constructor). */
  makeClient<T extends Client>(ctor: GrpcClientCtor<T>): T;
  /** Reports the call's outcome exactly once; later calls are ignored. */
  done(outcome: CallOutcome): void;
}

export interface AcquireOptions {
  /** Instance ids or addresses not to choose (a retry avoiding the instance that just failed). */
  exclude?: Iterable<string>;
}

/** Codes that say the instance is sick; anything else is the caller's doing (or a success). */
const INSTANCE_FAILURE_CODES: ReadonlySet<number> = new Set([
  GrpcStatus.UNAVAILABLE,
  GrpcStatus.DEADLINE_EXCEEDED,
  GrpcStatus.RESOURCE_EXHAUSTED,
  GrpcStatus.INTERNAL,
  GrpcStatus.UNKNOWN,
]);

/** Whether a failed call's code counts against the instance (breaker). */
export function isInstanceFailure(code: number | undefined): boolean {
  return code === undefined || INSTANCE_FAILURE_CODES.has(code);
}

interface Instance {
  ref: InstanceRef;
  source: InstanceSource;
  registeredAt: number;
  pool: GrpcChannelPool;
  breaker: CircuitBreaker;
  health: InstanceHealth;
  lastCheckAt: number | undefined;
  lastError: string | undefined;
  unhealthySince: number | undefined;
  healthFailures: number;
  callFailures: number;
  inFlight: number;
  probesInFlight: number;
  avgMs: number | undefined;
  checking: { cancel(): void } | undefined;
  removed: boolean;
}

function positive(name: string, v: number, integer = false): number {
  if (!Number.isFinite(v) || v <= 0 || (integer && !Number.isInteger(v))) throw new RangeError(`${name} must be a positive ${integer ? "integer" : "number"}, got ${v}`);
  return v;
}

/**
 * The resident gRPC service instances, from config and self-registration: their health
 * (grpc.health.v1, periodic), a circuit breaker and a channel pool each, and the choice of an
 * instance per call (acquire → lease → done). Health checks start with start().
 */
export class ServiceRegistry {
  readonly strategy: BalancingStrategy;
  private readonly healthIntervalMs: number;
  private readonly healthTimeoutMs: number;
  private readonly registeredExpiryMs: number;
  private readonly maxRegistered: number;
  private readonly poolSize: number;
  private readonly keepaliveTimeMs: number;
  private readonly keepaliveTimeoutMs: number;
  private readonly callTimeoutMs: number;
  private readonly breakerFailures: number;
  private readonly breakerOpenMs: number;
  private readonly breakerSuccesses: number;
  private readonly halfOpenMaxInFlight: number;
  private readonly ewmaAlpha: number;
  private readonly timers: Timers;
  private readonly random: () => number;

  private readonly byService = new Map<string, Instance[]>();
  private readonly cursors = new Map<string, number>();
  private readonly listeners = new Set<(e: RegistryEvent) => void>();
  private timer: unknown;
  private nextRoundAt: number | undefined;
  private started = false;
  private closed = false;

  constructor(opts: ServiceRegistryOptions = {}) {
    this.strategy = opts.strategy ?? "least-connections";
    if (!BALANCING_STRATEGIES.includes(this.strategy)) throw new RangeError(`unknown balancing strategy "${String(this.strategy)}"`);
    this.healthIntervalMs = positive("healthIntervalMs", opts.healthIntervalMs ?? 10_000);
    this.healthTimeoutMs = positive("healthTimeoutMs", opts.healthTimeoutMs ?? 2_000);
    this.registeredExpiryMs = positive("registeredExpiryMs", opts.registeredExpiryMs ?? 60_000);
    this.maxRegistered = positive("maxRegisteredInstances", opts.maxRegisteredInstances ?? 256, true);
    this.poolSize = positive("poolSize", opts.poolSize ?? 10, true);
    this.keepaliveTimeMs = positive("keepaliveTimeMs", opts.keepaliveTimeMs ?? 30_000);
    this.keepaliveTimeoutMs = positive("keepaliveTimeoutMs", opts.keepaliveTimeoutMs ?? 10_000);
    this.callTimeoutMs = positive("callTimeoutMs", opts.callTimeoutMs ?? 5_000);
    this.breakerFailures = opts.breakerFailures ?? 5;
    this.breakerOpenMs = opts.breakerOpenMs ?? 30_000;
    this.breakerSuccesses = opts.breakerSuccesses ?? 3;
    this.halfOpenMaxInFlight = positive("halfOpenMaxInFlight", opts.halfOpenMaxInFlight ?? 1, true);
    this.ewmaAlpha = opts.ewmaAlpha ?? 0.3;
    if (!(this.ewmaAlpha > 0 && this.ewmaAlpha <= 1)) throw new RangeError(`ewmaAlpha must be in (0, 1], got ${this.ewmaAlpha}`);
    this.timers = opts.timers ?? systemTimers;
    this.random = opts.random ?? Math.random;
    for (const c of opts.instances ?? []) this.add(c.service, c.address, "config");
  }

  /** Starts the periodic health checks (a first round at once). Idempotent. */
  start(): void {
    if (this.closed) throw new RegistryClosedError();
    if (this.started) return;
    this.started = true;
    this.round();
  }

  /** Adds a self-registered instance; the same service and address again returns the existing one. */
  register(service: string, address: string): InstanceRef {
    if (this.closed) throw new RegistryClosedError();
    return this.add(service, address, "registered").ref;
  }

  /**
   * Removes a registered instance (by service and address). False if there is none, or it comes
   * from config (config instances stay). Its channels close once its in-flight calls are done.
   */
  deregister(service: string, address: string): boolean {
    const inst = this.find(fullServiceName(service), address.trim());
    if (!inst || inst.source === "config") return false;
    this.remove(inst, "deregistered");
    return true;
  }

  /** Chooses an instance for one call; throws NoServiceAvailableError when none may take it. */
  acquire(service: string, opts: AcquireOptions = {}): ServiceLease {
    if (this.closed) throw new RegistryClosedError();
    let name: string;
    try {
      name = fullServiceName(service);
    } catch {
      throw new NoServiceAvailableError(service, "unknown-service");
    }
    const all = this.byService.get(name) ?? [];
    if (all.length === 0) throw new NoServiceAvailableError(name, "unknown-service");
    const excluded = new Set(opts.exclude ?? []);
    const healthy = all.filter((i) => !excluded.has(i.ref.instance_id) && !excluded.has(i.ref.address) && this.isHealthy(i));
    if (healthy.length === 0) {
      const wait = this.started && this.nextRoundAt !== undefined ? Math.max(0, this.nextRoundAt - this.timers.now()) : undefined;
      throw new NoServiceAvailableError(name, "no-healthy-instance", wait);
    }
    const usable = healthy.filter((i) => this.breakerAdmits(i));
    if (usable.length === 0) {
      const now = this.timers.now();
      const retryAts = healthy.map((i) => i.breaker.retryAtMs).filter((t): t is number => t !== undefined);
      throw new NoServiceAvailableError(name, "breaker-open", retryAts.length > 0 ? Math.max(0, Math.min(...retryAts) - now) : undefined);
    }
    const cursor = this.cursors.get(name) ?? 0;
    const idx = pickCandidate(
      usable.map((i) => ({ inFlight: i.inFlight, avgResponseMs: i.avgMs })),
      this.strategy,
      cursor,
      this.random,
    );
    this.cursors.set(name, idx + 1);
    return this.lease(usable[idx]!);
  }

  /** Rows for GET /api/v1/grpc-services, optionally of one service. */
  list(service?: string): ServiceInstanceRow[] {
    const name = service === undefined ? undefined : fullServiceName(service);
    const iso = (ms: number | undefined): string | null => (ms === undefined ? null : new Date(ms).toISOString());
    return this.all()
      .filter((i) => name === undefined || i.ref.service === name)
      .map((i) => ({
        ...i.ref,
        source: i.source,
        registered_at: new Date(i.registeredAt).toISOString(),
        status: i.health,
        breaker_state: i.breaker.state,
        current_connections: i.inFlight,
        avg_response_ms: i.avgMs === undefined ? null : Math.round(i.avgMs * 10) / 10,
        last_health_check: iso(i.lastCheckAt),
        last_error: i.lastError ?? null,
        consecutive_failures: i.callFailures,
        consecutive_health_failures: i.healthFailures,
        pool_size: i.pool.size,
      }));
  }

  /** Full names of the services with at least one instance. */
  services(): string[] {
    return [...this.byService.keys()];
  }

  /** Status, breaker and membership changes (for logs and events); returns the unsubscribe. */
  onChange(listener: (e: RegistryEvent) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Stops the health timer, cancels checks, closes every channel. Idempotent. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    if (this.timer !== undefined) this.timers.clearTimeout(this.timer);
    this.timer = undefined;
    for (const i of this.all()) {
      i.checking?.cancel();
      i.pool.close();
    }
    this.byService.clear();
    this.listeners.clear();
  }

  private all(): Instance[] {
    return [...this.byService.values()].flat();
  }

  private find(service: string, address: string): Instance | undefined {
    return this.byService.get(service)?.find((i) => i.ref.address === address);
  }

  private add(service: string, address: string, source: InstanceSource): Instance {
    const name = fullServiceName(service);
    const addr = checkAddress(address);
    const existing = this.find(name, addr);
    if (existing) return existing;
    if (source === "registered" && this.all().filter((i) => i.source === "registered").length >= this.maxRegistered) throw new RegistryFullError(this.maxRegistered);
    const ref: InstanceRef = { instance_id: `${name}@${addr}`, service: name, address: addr };
    const breaker = new CircuitBreaker({ failureThreshold: this.breakerFailures, openMs: this.breakerOpenMs, successThreshold: this.breakerSuccesses, now: () => this.timers.now() });
    const inst: Instance = {
      ref,
      source,
      registeredAt: this.timers.now(),
      pool: new GrpcChannelPool(addr, { size: this.poolSize, keepaliveTimeMs: this.keepaliveTimeMs, keepaliveTimeoutMs: this.keepaliveTimeoutMs }),
      breaker,
      health: "UNKNOWN",
      lastCheckAt: undefined,
      lastError: undefined,
      unhealthySince: undefined,
      healthFailures: 0,
      callFailures: 0,
      inFlight: 0,
      probesInFlight: 0,
      avgMs: undefined,
      checking: undefined,
      removed: false,
    };
    breaker.onTransition((t) => {
      const error = t.error === undefined ? undefined : String(t.error);
      this.emit({ type: "breaker", instance: ref, from: t.from, to: t.to, ...(error !== undefined ? { error } : {}) });
    });
    const list = this.byService.get(name) ?? [];
    list.push(inst);
    this.byService.set(name, list);
    this.emit({ type: "instance-added", instance: ref, source });
    // A newcomer is checked at once rather than serving unchecked for up to a whole period.
    if (this.started) void this.check(inst);
    return inst;
  }

  private remove(inst: Instance, reason: "deregistered" | "expired"): void {
    if (inst.removed) return;
    inst.removed = true;
    inst.checking?.cancel();
    const list = (this.byService.get(inst.ref.service) ?? []).filter((i) => i !== inst);
    if (list.length > 0) this.byService.set(inst.ref.service, list);
    else this.byService.delete(inst.ref.service);
    // Calls under way keep their channel; the last done() closes the pool.
    if (inst.inFlight === 0) inst.pool.close();
    this.emit({ type: "instance-removed", instance: inst.ref, reason });
  }

  private isHealthy(i: Instance): boolean {
    return i.health === "SERVING" || (i.health === "UNKNOWN" && i.lastCheckAt === undefined);
  }

  private breakerAdmits(i: Instance): boolean {
    const s = i.breaker.state;
    if (s === "open") return false;
    // Half-open: a few probes, not the whole backlog at once, decide whether it has recovered.
    return s === "closed" || i.probesInFlight < this.halfOpenMaxInFlight;
  }

  private lease(inst: Instance): ServiceLease {
    const probe = inst.breaker.state === "half-open";
    inst.inFlight++;
    if (probe) inst.probesInFlight++;
    const { channel, index } = inst.pool.next();
    let finished = false;
    return {
      instance: inst.ref,
      channel,
      callTimeoutMs: this.callTimeoutMs,
      makeClient: <T extends Client>(ctor: GrpcClientCtor<T>): T => inst.pool.client(ctor, index),
      done: (outcome: CallOutcome) => {
        if (finished) return;
        finished = true;
        inst.inFlight--;
        if (probe) inst.probesInFlight--;
        if (inst.removed && inst.inFlight === 0) inst.pool.close();
        if (this.closed || inst.removed) return;
        this.record(inst, outcome);
      },
    };
  }

  private record(inst: Instance, o: CallOutcome): void {
    // A cancelled call (the execution was cancelled) says nothing about the instance.
    if (!o.ok && o.code === GrpcStatus.CANCELLED) return;
    if (Number.isFinite(o.durationMs) && o.durationMs >= 0) {
      inst.avgMs = inst.avgMs === undefined ? o.durationMs : this.ewmaAlpha * o.durationMs + (1 - this.ewmaAlpha) * inst.avgMs;
    }
    if (!o.ok && isInstanceFailure(o.code)) {
      inst.callFailures++;
      inst.lastError = `call: ${o.code === undefined ? "failed" : (GrpcStatus[o.code] ?? String(o.code))}`;
      inst.breaker.recordFailure(inst.lastError);
    } else {
      inst.callFailures = 0;
      inst.breaker.recordSuccess();
    }
  }

  private round(): void {
    if (this.closed) return;
    this.nextRoundAt = this.timers.now() + this.healthIntervalMs;
    this.timer = this.timers.setTimeout(() => this.round(), this.healthIntervalMs);
    for (const i of this.all()) {
      // Lets an open breaker go half-open (and say so) without waiting for traffic.
      i.breaker.tick();
      void this.check(i);
    }
  }

  private async check(inst: Instance): Promise<void> {
    if (inst.checking || inst.removed || this.closed) return;
    const c = checkHealth(inst.pool.channelAt(0), inst.ref.address, inst.ref.service, this.healthTimeoutMs, this.timers);
    inst.checking = c;
    const r = await c.result;
    inst.checking = undefined;
    if (inst.removed || this.closed) return;
    const now = this.timers.now();
    const from = inst.health;
    inst.health = r.status;
    inst.lastCheckAt = now;
    if (r.error !== undefined) inst.lastError = r.error;
    if (r.status === "SERVING") {
      inst.healthFailures = 0;
      inst.unhealthySince = undefined;
    } else {
      inst.healthFailures++;
      inst.unhealthySince ??= now;
    }
    if (from !== r.status) this.emit({ type: "health", instance: inst.ref, from, to: r.status, ...(r.error !== undefined ? { error: r.error } : {}) });
    if (inst.source === "registered" && inst.unhealthySince !== undefined && now - inst.unhealthySince >= this.registeredExpiryMs) this.remove(inst, "expired");
  }

  private emit(e: RegistryEvent): void {
    for (const l of [...this.listeners]) {
      try {
        l(e);
      } catch {
        // A listener (a log line, an event publish) must not break health checks or leases.
      }
    }
  }
}
