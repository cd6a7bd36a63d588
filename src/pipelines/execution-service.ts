import { randomUUID } from "node:crypto";
import { CapacityExceeded, Conflict, InvalidInput } from "../core/errors.js";
import { systemTimers, type Timers } from "../core/timers.js";
import { IMAGE_PROCESSING_TOPIC, PIPELINE_PROGRESS_TOPIC, type EventBus } from "../ports/event-bus.js";
import { ExecutionQueue } from "./execution-queue.js";
import type { ExecutionError, ExecutionRecord, ExecutionRoute, ExecutionStore, Priority, StepRecord } from "./execution-store.js";
import type { FileRecord, FileStore } from "./file-store.js";
import type { PipelineStore, StoredDefinition } from "./pipeline-store.js";

/** The Kafka topic (or in-process bus topic) executions wait on while the direct path is down. */
export const FALLBACK_TOPIC = IMAGE_PROCESSING_TOPIC;

export interface RunnableDefinition extends StoredDefinition {
  steps: readonly { step_id: string }[];
}

export interface RunRequest<D extends RunnableDefinition> {
  execution: ExecutionRecord;
  definition: D;
  inputs: FileRecord[];
  signal: AbortSignal;
  /** Every step transition, in order. */
  onStep(step: StepRecord): void;
}

export type RunOutcome =
  | { status: "completed" | "failed" | "cancelled"; output_file_ids: string[]; error?: ExecutionError; processing_time_ms: number }
  /** No healthy instance or an open breaker: not a failure of the execution; it waits on the fallback queue. */
  | { status: "unavailable"; error: ExecutionError; retryAfterMs?: number };

/** Runs one execution's DAG over its inputs (the gRPC services, outputs stored, rollback). */
export interface PipelineRunner<D extends RunnableDefinition> {
  run(req: RunRequest<D>): Promise<RunOutcome>;
}

export interface ResourceUsage {
  /** Percent of one core over the last interval. */
  cpu: number;
  /** Percent of the machine's memory this process holds. */
  memory: number;
}

export interface ExecutionServiceOptions {
  nodeId: string;
  /** Executions running at once on this node (the direct path). */
  maxConcurrent: number;
  /** Executions waiting for a slot; past it submit() refuses with 503. */
  queueMax: number;
  /** Executions the fallback consumers run at once. */
  fallbackConsumers: number;
  /** A running execution found at start after a crash is retried until it has run this many times, then failed. */
  maxAttempts: number;
  /** Wait before a fallback execution tries again when the services are still down (ms), unless told. */
  fallbackRetryMs: number;
  timers?: Timers;
  resourceUsage?: () => ResourceUsage;
}

export interface SubmitRequest {
  pipeline_id: string;
  input_file_ids: string[];
  parameters: Record<string, unknown>;
  priority: Priority;
  submitted_by: string | null;
}

/** What a progress event carries on the bus (pipeline-progress) and to WebSocket clients. */
export interface ProgressEvent extends Record<string, unknown> {
  type: "queued" | "progress" | "completed" | "failed" | "cancelled";
  execution_id: string;
  pipeline_id: string;
  step_name: string | null;
  status: string;
  progress_percentage: number;
  timestamp: string;
  metadata: { processing_time_ms: number; resource_usage: ResourceUsage; input_index?: number; attempts?: number; execution_mode: ExecutionRoute };
  output_file_ids?: string[];
  error?: ExecutionError;
}

export interface ExecutionServiceStats {
  queued: number;
  running: number;
  fallbackWaiting: number;
  completed: number;
  failed: number;
  cancelled: number;
  rejected: number;
}

interface Running {
  controller: AbortController;
  done: Promise<void>;
}

/**
 * Accepts executions at once (202), runs them by priority within a concurrency limit, persists
 * every step, publishes progress, and parks executions whose services are down on the fallback
 * topic until they recover. Everything accepted is in the database before submit() returns, so
 * a restart resumes it (recover()).
 */
export class ExecutionService<D extends RunnableDefinition> {
  private readonly queue: ExecutionQueue;
  private readonly running = new Map<string, Running>();
  private readonly fallbackWaiting = new Map<string, unknown>();
  private readonly fallbackPending: string[] = [];
  private fallbackActive = 0;
  private readonly timers: Timers;
  private readonly counters = { completed: 0, failed: 0, cancelled: 0, rejected: 0 };
  private unsubscribe: (() => void) | undefined;
  private closed = false;

  constructor(
    private readonly deps: { pipelines: PipelineStore<D>; executions: ExecutionStore; files: FileStore; bus: EventBus; runner: PipelineRunner<D> },
    private readonly opts: ExecutionServiceOptions,
  ) {
    this.queue = new ExecutionQueue(opts.queueMax);
    this.timers = opts.timers ?? systemTimers;
  }

  /** Subscribes to the fallback topic and resumes what a previous run of this node left unfinished. */
  async start(): Promise<void> {
    this.unsubscribe = this.deps.bus.subscribe(FALLBACK_TOPIC, (e) => {
      const id = typeof e.value.execution_id === "string" ? e.value.execution_id : undefined;
      // Each node's group sees every message: a node runs only the executions it accepted.
      if (id && e.value.node_id === this.opts.nodeId) this.enqueueFallback(id);
    });
    await this.recover();
  }

  stats(): ExecutionServiceStats {
    return { queued: this.queue.size, running: this.running.size, fallbackWaiting: this.fallbackWaiting.size + this.fallbackPending.length, ...this.counters };
  }

  /** True while a new execution would be refused for capacity (checked before uploads are stored). */
  get saturated(): boolean {
    return this.queue.full && this.running.size >= this.opts.maxConcurrent;
  }

  async submit(req: SubmitRequest): Promise<ExecutionRecord> {
    if (this.closed) throw new CapacityExceeded("executor-stopping", "the server is stopping", 5);
    if (req.input_file_ids.length === 0) throw new InvalidInput("no-input-files", "an execution needs at least one input file", { field: "input_files" });
    const definition = await this.deps.pipelines.get(req.pipeline_id);
    const route: ExecutionRoute = definition.execution_mode === "kafka_queue" ? "kafka_fallback" : "direct_grpc";
    if (route === "direct_grpc" && this.running.size >= this.opts.maxConcurrent && this.queue.full) {
      this.counters.rejected++;
      throw new CapacityExceeded("execution-queue-full", `${this.queue.size} executions are waiting (IFC_PIPELINE_QUEUE_MAX); try again later`, 1, { queued: this.queue.size });
    }
    const execution = await this.deps.executions.insert({
      execution_id: `exec-${randomUUID()}`,
      pipeline_id: req.pipeline_id,
      pipeline_version: definition.version,
      execution_mode: route,
      priority: req.priority,
      parameters: req.parameters,
      input_file_ids: req.input_file_ids,
      node_id: this.opts.nodeId,
      submitted_by: req.submitted_by,
    });
    this.emit(execution, { type: "queued", step_name: null, status: "pending", progress: 0 });
    if (route === "kafka_fallback") this.publishFallback(execution.execution_id);
    else this.enqueue(execution.execution_id, execution.priority, true);
    return execution;
  }

  /** Stops a running execution's steps, or takes a waiting one off its queue; either ends `cancelled`. */
  async cancel(id: string): Promise<ExecutionRecord> {
    const record = await this.deps.executions.get(id);
    if (record.status !== "pending" && record.status !== "running") {
      throw new Conflict("execution-finished", `execution ${id} is already ${record.status}`, { execution_id: id, status: record.status });
    }
    const running = this.running.get(id);
    if (running) {
      running.controller.abort(new Error("cancelled by request"));
      await running.done;
      return this.deps.executions.get(id);
    }
    this.queue.remove(id);
    const t = this.fallbackWaiting.get(id);
    if (t !== undefined) this.timers.clearTimeout(t);
    this.fallbackWaiting.delete(id);
    const i = this.fallbackPending.indexOf(id);
    if (i >= 0) this.fallbackPending.splice(i, 1);
    if (await this.deps.executions.finish(id, { status: "cancelled" })) {
      this.counters.cancelled++;
      this.emit(record, { type: "cancelled", step_name: null, status: "cancelled", progress: record.progress });
    }
    return this.deps.executions.get(id);
  }

  /** Waits for running executions to stop (after aborting them) and stops consuming. */
  async close(): Promise<void> {
    this.closed = true;
    this.unsubscribe?.();
    for (const t of this.fallbackWaiting.values()) this.timers.clearTimeout(t);
    this.fallbackWaiting.clear();
    // Running executions are left `running` in the database: the next start retries them (maxAttempts).
    for (const r of this.running.values()) r.controller.abort(new ShutdownSignal());
    await Promise.all([...this.running.values()].map((r) => r.done));
  }

  private async recover(): Promise<void> {
    const unfinished = await this.deps.executions.unfinished(this.opts.nodeId);
    for (const e of unfinished) {
      if (e.status === "running") {
        if (e.attempts >= this.opts.maxAttempts) {
          const error = { code: "INTERRUPTED", message: `the server stopped during the execution ${e.attempts} time(s); not retried again` };
          if (await this.deps.executions.finish(e.execution_id, { status: "failed", error })) {
            this.counters.failed++;
            this.emit(e, { type: "failed", step_name: null, status: "failed", progress: e.progress, error });
          }
          continue;
        }
        await this.deps.executions.requeue(e.execution_id, e.execution_mode);
      }
      if (e.execution_mode === "kafka_fallback") this.enqueueFallback(e.execution_id);
      else this.enqueue(e.execution_id, e.priority, true);
    }
  }

  private enqueue(id: string, priority: Priority, force: boolean): void {
    this.queue.offer(id, priority, force);
    this.pump();
  }

  private pump(): void {
    while (!this.closed && this.running.size < this.opts.maxConcurrent) {
      const id = this.queue.take();
      if (id === undefined) return;
      this.launch(id, "direct_grpc");
    }
  }

  private publishFallback(id: string): void {
    this.deps.bus.publish({ topic: FALLBACK_TOPIC, key: id, value: { execution_id: id, node_id: this.opts.nodeId } });
  }

  private enqueueFallback(id: string): void {
    if (this.closed || this.running.has(id) || this.fallbackPending.includes(id)) return;
    this.fallbackPending.push(id);
    this.pumpFallback();
  }

  private pumpFallback(): void {
    while (!this.closed && this.fallbackActive < this.opts.fallbackConsumers) {
      const id = this.fallbackPending.shift();
      if (id === undefined) return;
      this.fallbackActive++;
      this.launch(id, "kafka_fallback");
    }
  }

  private launch(id: string, route: ExecutionRoute): void {
    const controller = new AbortController();
    let parked = false;
    const done = this.execute(id, route, controller.signal)
      .then((r) => void (parked = r === "parked"))
      .catch((err: unknown) => this.failHard(id, err))
      .finally(() => {
        this.running.delete(id);
        // Published only now: the fallback consumer (this node's own, in-process) ignores ids still running.
        if (parked) this.publishFallback(id);
        if (route === "kafka_fallback") {
          this.fallbackActive--;
          this.pumpFallback();
        } else this.pump();
      });
    this.running.set(id, { controller, done });
  }

  /** "parked" when the direct path found the services down and the execution must go to the fallback topic. */
  private async execute(id: string, route: ExecutionRoute, signal: AbortSignal): Promise<"parked" | undefined> {
    const current = await this.deps.executions.get(id);
    if (current.status !== "pending") return undefined;
    if (current.execution_mode !== route) await this.deps.executions.requeue(id, route);
    const execution = await this.deps.executions.markRunning(id);
    const definition = await this.deps.pipelines.get(execution.pipeline_id, execution.pipeline_version);
    const inputs = await this.deps.files.many(execution.input_file_ids);
    const total = Math.max(1, definition.steps.length * inputs.length);
    let finishedSteps = 0;
    // Step rows are written in order, off the executor's path: a slow database delays the rows, not the steps.
    let writes = Promise.resolve();
    const outcome = await this.deps.runner.run({
      execution,
      definition,
      inputs,
      signal,
      onStep: (step) => {
        if (step.status !== "pending" && step.status !== "running") finishedSteps++;
        const progress = Math.round((finishedSteps / total) * 1000) / 10;
        writes = writes.then(() => this.deps.executions.putStep(id, step)).then(() => this.deps.executions.setProgress(id, progress));
        this.emit(execution, { type: "progress", step_name: step.step_id, status: step.status, progress, inputIndex: step.input_index, attempts: step.attempts });
      },
    });
    await writes;
    if (signal.aborted && signal.reason instanceof ShutdownSignal) return undefined;
    if (outcome.status === "unavailable") {
      await this.deps.executions.requeue(id, "kafka_fallback");
      this.emit(execution, { type: "queued", step_name: null, status: "pending", progress: 0, error: outcome.error });
      if (route === "direct_grpc") return "parked";
      this.retryFallbackLater(id, outcome.retryAfterMs ?? this.opts.fallbackRetryMs);
      return undefined;
    }
    const ended = await this.deps.executions.finish(id, {
      status: outcome.status,
      ...(outcome.error ? { error: outcome.error } : {}),
      output_file_ids: outcome.output_file_ids,
      processing_time_ms: outcome.processing_time_ms,
    });
    if (!ended) return undefined;
    this.counters[outcome.status]++;
    this.emit(execution, {
      type: outcome.status,
      step_name: null,
      status: outcome.status,
      progress: outcome.status === "completed" ? 100 : Math.round((finishedSteps / total) * 1000) / 10,
      processingMs: outcome.processing_time_ms,
      outputs: outcome.output_file_ids,
      ...(outcome.error ? { error: outcome.error } : {}),
    });
    return undefined;
  }

  private retryFallbackLater(id: string, ms: number): void {
    if (this.closed) return;
    const t = this.timers.setTimeout(() => {
      this.fallbackWaiting.delete(id);
      this.enqueueFallback(id);
    }, Math.max(100, ms));
    this.fallbackWaiting.set(id, t);
  }

  /** A bug or a database error mid-run: the execution ends failed rather than hanging `running`. */
  private async failHard(id: string, err: unknown): Promise<void> {
    const error = { code: "INTERNAL", message: err instanceof Error ? err.message : String(err) };
    try {
      if (await this.deps.executions.finish(id, { status: "failed", error })) {
        this.counters.failed++;
        const record = await this.deps.executions.get(id);
        this.emit(record, { type: "failed", step_name: null, status: "failed", progress: record.progress, error });
      }
    } catch {
      // The database itself is gone: the row stays `running`, and the next start retries or fails it.
    }
  }

  private emit(
    e: Pick<ExecutionRecord, "execution_id" | "pipeline_id" | "execution_mode">,
    p: { type: ProgressEvent["type"]; step_name: string | null; status: string; progress: number; inputIndex?: number; attempts?: number; processingMs?: number; outputs?: string[]; error?: ExecutionError },
  ): void {
    const value: ProgressEvent = {
      type: p.type,
      execution_id: e.execution_id,
      pipeline_id: e.pipeline_id,
      step_name: p.step_name,
      status: p.status,
      progress_percentage: p.progress,
      timestamp: new Date(this.timers.now()).toISOString(),
      metadata: {
        processing_time_ms: p.processingMs ?? 0,
        resource_usage: this.opts.resourceUsage?.() ?? { cpu: 0, memory: 0 },
        execution_mode: e.execution_mode,
        ...(p.inputIndex !== undefined ? { input_index: p.inputIndex } : {}),
        ...(p.attempts !== undefined ? { attempts: p.attempts } : {}),
      },
      ...(p.outputs ? { output_file_ids: p.outputs } : {}),
      ...(p.error ? { error: p.error } : {}),
    };
    this.deps.bus.publish({ topic: PIPELINE_PROGRESS_TOPIC, key: e.execution_id, value });
  }
}

/** The abort reason when the server stops: the execution stays `running` for the next start. */
class ShutdownSignal extends Error {
  constructor() {
    super("server stopping");
  }
}
