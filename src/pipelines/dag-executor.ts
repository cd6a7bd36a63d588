/**
 * Runs one pipeline definition on one input image: each step starts once all its dependencies
 * completed, independent steps run concurrently up to a cap, every attempt has its timeout, and
 * transient failures are retried with exponential backoff. Time only moves through the injected
 * timers, so tests drive timeouts and backoff on a manual clock.
 */
import { InvalidInput } from "../core/errors.js";
import { systemTimers, type Timers } from "../core/timers.js";
import { backoffDelay, type BackoffOptions } from "../core/backoff.js";
import type { ComponentCatalog } from "./components.js";
import type { PipelineDefinition, PipelineStep } from "./definition.js";
import { stepParameters } from "./step-parameters.js";
import { NoServiceAvailableError, RETRYABLE_CODES, StepCallError, type ImageRef, type StepInvoker, type StepOutput } from "./step-invoker.js";

export type StepStatus = "pending" | "running" | "completed" | "failed" | "skipped" | "cancelled";
export type ExecutionStatus = "completed" | "failed" | "cancelled" | "unavailable";

export interface StepErrorInfo {
  code: string;
  message: string;
}

export interface StepResult {
  step_id: string;
  service: string;
  method: string;
  status: StepStatus;
  /** Attempts made (0 if the step never started). */
  attempts: number;
  /** Epoch ms of the first attempt's start. */
  started_at?: number;
  finished_at?: number;
  duration_ms?: number;
  input_image?: ImageRef;
  output?: StepOutput;
  /** The last attempt's error, on a failed step (or a step sent back to pending by `unavailable`). */
  error?: StepErrorInfo;
}

/** One transition of one step, or (status unchanged, `retry_in_ms` set) a failed attempt about to be retried. */
export interface StepEvent {
  execution_id: string;
  step_id: string;
  service: string;
  method: string;
  status: StepStatus;
  previous: StepStatus | null;
  attempt: number;
  /** Epoch ms of the event. */
  at: number;
  started_at?: number;
  finished_at?: number;
  input_image?: ImageRef;
  output?: StepOutput;
  error?: StepErrorInfo;
  retry_in_ms?: number;
}

export interface ExecutionOutcome {
  execution_id: string;
  pipeline_id: string;
  pipeline_version: string;
  status: ExecutionStatus;
  /** In definition order. */
  steps: StepResult[];
  /** Every image a completed step produced, in completion order: what a rollback deletes. */
  output_images: ImageRef[];
  started_at: number;
  finished_at: number;
  processing_time_ms: number;
  /** The first step failure (failed), or the service that had no instance (unavailable). */
  error?: StepErrorInfo & { step_id: string };
}

export interface DagExecutorOptions {
  invoker: StepInvoker;
  /** Steps of one execution running at once (a step waiting to retry keeps its slot). Default 8. */
  maxConcurrency?: number;
  /** Retries per step whatever its retry_count says (the registry's policy: 3). Default 3. */
  maxRetries?: number;
  /** Backoff between attempts. Default base 1000 ms, factor 2, max 4000 ms, jitter 0.25 (1 s → 2 s → 4 s ±25 %). */
  backoff?: Partial<BackoffOptions>;
  /** Clock and timers for timeouts, backoff and timestamps. Default systemTimers. */
  timers?: Timers;
  /**
   * On NoServiceAvailableError, stop the execution with outcome `unavailable` (the caller
   * re-queues it) instead of treating it as an UNAVAILABLE step error. Default true.
   */
  stopWhenNoServiceAvailable?: boolean;
  /** When given, flat execution parameters go only to steps whose component declares them. */
  catalog?: ComponentCatalog;
}

export interface RunOptions {
  executionId: string;
  /** Execution parameters: flat keys for every step, or `{ <step_id>: {...} }` for one step. */
  parameters?: Record<string, unknown>;
  signal?: AbortSignal;
  /** Called synchronously on every step event; an observer that throws does not stop the run. */
  observer?: (event: StepEvent) => void;
}

export const DEFAULT_MAX_CONCURRENCY = 8;
export const DEFAULT_MAX_RETRIES = 3;
export const DEFAULT_STEP_BACKOFF: BackoffOptions = { baseMs: 1000, factor: 2, maxMs: 4000, jitter: 0.25 };

/** Why a run stopped early: the abort reason the invoker sees on its signal. */
export type StopReason = "cancelled" | "fail_fast" | "unavailable";

/** Throws InvalidInput unless every dependency names a step and the graph has no cycle. */
function assertDag(def: PipelineDefinition): void {
  const ids = new Set(def.steps.map((s) => s.step_id));
  if (ids.size !== def.steps.length) throw new InvalidInput("pipeline-not-a-dag", `pipeline ${def.pipeline_id} has duplicate step ids`);
  const remaining = new Map(def.steps.map((s) => [s.step_id, new Set(s.depends_on)]));
  for (const deps of remaining.values()) for (const d of deps) if (!ids.has(d)) throw new InvalidInput("pipeline-not-a-dag", `pipeline ${def.pipeline_id} depends on unknown step ${d}`);
  // Kahn: peel steps whose dependencies are all peeled; what is left lies on a cycle.
  let progress = true;
  while (progress && remaining.size > 0) {
    progress = false;
    for (const [id, deps] of remaining) {
      if ([...deps].every((d) => !remaining.has(d))) {
        remaining.delete(id);
        progress = true;
      }
    }
  }
  if (remaining.size > 0) throw new InvalidInput("pipeline-not-a-dag", `pipeline ${def.pipeline_id} has a dependency cycle among ${[...remaining.keys()].join(", ")}`);
}

interface Settings {
  invoker: StepInvoker;
  maxConcurrency: number;
  maxRetries: number;
  backoff: BackoffOptions;
  timers: Timers;
  stopWhenNoServiceAvailable: boolean;
  catalog: ComponentCatalog | undefined;
}

export class DagExecutor {
  private readonly s: Settings;

  constructor(opts: DagExecutorOptions) {
    this.s = {
      invoker: opts.invoker,
      maxConcurrency: opts.maxConcurrency ?? DEFAULT_MAX_CONCURRENCY,
      maxRetries: opts.maxRetries ?? DEFAULT_MAX_RETRIES,
      backoff: { ...DEFAULT_STEP_BACKOFF, ...opts.backoff },
      timers: opts.timers ?? systemTimers,
      stopWhenNoServiceAvailable: opts.stopWhenNoServiceAvailable ?? true,
      catalog: opts.catalog,
    };
    const { maxConcurrency, maxRetries } = this.s;
    if (!(Number.isInteger(maxConcurrency) && maxConcurrency >= 1)) throw new RangeError(`maxConcurrency must be an integer >= 1, got ${maxConcurrency}`);
    if (!(Number.isInteger(maxRetries) && maxRetries >= 0)) throw new RangeError(`maxRetries must be an integer >= 0, got ${maxRetries}`);
    backoffDelay(1, this.s.backoff); // validates the backoff options now rather than at the first retry
  }

  /** Runs `def` on `input`; never rejects for a step's failure (see the outcome's status). Rejects with InvalidInput for a definition that is not a DAG. */
  async run(def: PipelineDefinition, input: ImageRef, opts: RunOptions): Promise<ExecutionOutcome> {
    assertDag(def);
    return new Run(this.s, def, input, opts).start();
  }
}

/** The state of one execution; lives for one run() call. */
class Run {
  private readonly results = new Map<string, StepResult>();
  private readonly stepIds: ReadonlySet<string>;
  private readonly stop = new AbortController();
  private stopReason: StopReason | undefined;
  private firstError: (StepErrorInfo & { step_id: string }) | undefined;
  private readonly outputImages: ImageRef[] = [];
  private running = 0;
  private done = false;
  private readonly startedAt: number;
  private finish!: (o: ExecutionOutcome) => void;

  constructor(
    private readonly s: Settings,
    private readonly def: PipelineDefinition,
    private readonly input: ImageRef,
    private readonly opts: RunOptions,
  ) {
    this.stepIds = new Set(def.steps.map((st) => st.step_id));
    this.startedAt = this.s.timers.now();
    for (const st of def.steps) this.results.set(st.step_id, { step_id: st.step_id, service: st.service, method: st.method, status: "pending", attempts: 0 });
  }

  private readonly onCancel = (): void => this.halt("cancelled");

  start(): Promise<ExecutionOutcome> {
    const done = new Promise<ExecutionOutcome>((resolve) => (this.finish = resolve));
    for (const st of this.def.steps) this.emit(st, this.result(st), null, {});
    const signal = this.opts.signal;
    if (signal?.aborted) this.halt("cancelled");
    else signal?.addEventListener("abort", this.onCancel, { once: true });
    this.pump();
    return done;
  }

  private result(st: PipelineStep): StepResult {
    return this.results.get(st.step_id) as StepResult;
  }

  private emit(st: PipelineStep, r: StepResult, previous: StepStatus | null, extra: Partial<StepEvent>): void {
    if (!this.opts.observer) return;
    const event: StepEvent = {
      execution_id: this.opts.executionId,
      step_id: st.step_id,
      service: st.service,
      method: st.method,
      status: r.status,
      previous,
      attempt: r.attempts,
      at: this.s.timers.now(),
      ...(r.started_at !== undefined ? { started_at: r.started_at } : {}),
      ...(r.finished_at !== undefined ? { finished_at: r.finished_at } : {}),
      ...(r.input_image ? { input_image: r.input_image } : {}),
      ...(r.output ? { output: r.output } : {}),
      ...(r.error ? { error: r.error } : {}),
      ...extra,
    };
    try {
      this.opts.observer(event);
    } catch {
      // Progress reporting is best effort: a broken listener must not fail the execution.
    }
  }

  private transition(st: PipelineStep, to: StepStatus, patch: Partial<StepResult> = {}): void {
    const r = this.result(st);
    const previous = r.status;
    Object.assign(r, patch, { status: to });
    if (to !== "running" && to !== "pending" && r.started_at !== undefined) {
      r.finished_at = this.s.timers.now();
      r.duration_ms = r.finished_at - r.started_at;
    }
    this.emit(st, r, previous, {});
  }

  /** Stops the execution: running steps are aborted, those not started never will be. */
  private halt(reason: StopReason): void {
    if (this.stopReason || this.done) return;
    this.stopReason = reason;
    this.stop.abort(reason);
    const neverStarted: StepStatus = reason === "fail_fast" ? "skipped" : reason === "cancelled" ? "cancelled" : "pending";
    for (const st of this.def.steps) {
      if (this.result(st).status === "pending" && neverStarted !== "pending") this.transition(st, neverStarted);
    }
    this.pump();
  }

  /** Starts every ready step the cap allows; resolves the run when nothing is left to do. */
  private pump(): void {
    if (this.done) return;
    if (!this.stopReason) {
      for (const st of this.def.steps) {
        const r = this.result(st);
        if (r.status !== "pending") continue;
        const deps = st.depends_on.map((d) => this.results.get(d) as StepResult);
        // continue strategy: a step downstream of a failure can never run.
        if (deps.some((d) => d.status === "failed" || d.status === "skipped" || d.status === "cancelled")) {
          this.transition(st, "skipped");
          continue;
        }
        if (this.running >= this.s.maxConcurrency) continue;
        if (deps.every((d) => d.status === "completed")) {
          this.running++;
          void this.runStep(st).finally(() => {
            this.running--;
            this.pump();
          });
        }
      }
      // Skipping a step may have made later ones skippable; one more pass settles it.
      if (this.def.steps.some((st) => this.result(st).status === "pending" && st.depends_on.some((d) => ["failed", "skipped", "cancelled"].includes((this.results.get(d) as StepResult).status)))) {
        this.pump();
        return;
      }
    }
    if (this.running > 0) return;
    if (!this.stopReason && this.def.steps.some((st) => this.result(st).status === "pending")) return;
    this.complete();
  }

  private complete(): void {
    this.done = true;
    this.opts.signal?.removeEventListener("abort", this.onCancel);
    const finishedAt = this.s.timers.now();
    const steps = this.def.steps.map((st) => ({ ...this.result(st) }));
    const status: ExecutionStatus =
      this.stopReason === "cancelled" ? "cancelled" : this.stopReason === "unavailable" ? "unavailable" : steps.some((r) => r.status === "failed") ? "failed" : "completed";
    this.finish({
      execution_id: this.opts.executionId,
      pipeline_id: this.def.pipeline_id,
      pipeline_version: this.def.version,
      status,
      steps,
      output_images: [...this.outputImages],
      started_at: this.startedAt,
      finished_at: finishedAt,
      processing_time_ms: finishedAt - this.startedAt,
      ...(this.firstError && status !== "cancelled" ? { error: this.firstError } : {}),
    });
  }

  /** The nearest dependency's output image (depends_on order, then recursively), else the input. */
  private inputImageOf(st: PipelineStep): ImageRef {
    for (const d of st.depends_on) {
      const img = this.results.get(d)?.output?.image;
      if (img) return img;
    }
    for (const d of st.depends_on) {
      const img = this.results.get(d)?.input_image;
      if (img && img !== this.input) return img;
    }
    return this.input;
  }

  private async runStep(st: PipelineStep): Promise<void> {
    const image = this.inputImageOf(st);
    const parameters = stepParameters(st, this.stepIds, this.opts.parameters, this.s.catalog);
    const retries = Math.min(st.retry_count, this.s.maxRetries);
    const r = this.result(st);
    for (let attempt = 1; ; attempt++) {
      if (this.stopReason) return this.stopped(st);
      const now = this.s.timers.now();
      if (attempt === 1) this.transition(st, "running", { attempts: 1, started_at: now, input_image: image });
      else {
        r.attempts = attempt;
        this.emit(st, r, "running", {});
      }
      let output: StepOutput;
      try {
        output = await this.attempt(st, image, parameters, attempt, now + st.timeout_ms);
      } catch (err) {
        if (this.stopReason) return this.stopped(st);
        if (err instanceof NoServiceAvailableError && this.s.stopWhenNoServiceAvailable) {
          this.firstError ??= { step_id: st.step_id, code: "UNAVAILABLE", message: err.message };
          this.transition(st, "pending", { error: { code: "UNAVAILABLE", message: err.message } });
          this.halt("unavailable");
          return;
        }
        const error = classify(err, st);
        if (RETRYABLE_CODES.has(error.code) && attempt <= retries) {
          const delay = backoffDelay(attempt, this.s.backoff);
          this.emit(st, r, "running", { error, retry_in_ms: delay });
          await this.wait(delay);
          continue;
        }
        this.firstError ??= { step_id: st.step_id, ...error };
        this.transition(st, "failed", { error });
        if (this.def.error_handling.strategy === "fail_fast") this.halt("fail_fast");
        return;
      }
      // A call that succeeded counts even if the run stopped meanwhile: its image exists and a rollback must see it.
      if (output.image) this.outputImages.push(output.image);
      this.transition(st, "completed", { output });
      return;
    }
  }

  /** A step the run stopped while it ran: cancelled, or back to pending when it will be re-queued. */
  private stopped(st: PipelineStep): void {
    const r = this.result(st);
    if (r.status !== "running") return;
    this.transition(st, this.stopReason === "unavailable" ? "pending" : "cancelled");
  }

  /** One call, raced against its timeout and the run's stop so an invoker that ignores its signal cannot hang the run. */
  private attempt(st: PipelineStep, image: ImageRef, parameters: Record<string, unknown>, attempt: number, deadlineMs: number): Promise<StepOutput> {
    const ac = new AbortController();
    const onStop = (): void => ac.abort(this.stop.signal.reason);
    this.stop.signal.addEventListener("abort", onStop, { once: true });
    // The signal's reason tells the invoker why: a DEADLINE_EXCEEDED StepCallError, or the run's StopReason.
    const timer = this.s.timers.setTimeout(() => ac.abort(new StepCallError("DEADLINE_EXCEEDED", `step ${st.step_id} timed out after ${st.timeout_ms} ms`)), st.timeout_ms);
    const aborted = new Promise<never>((_, reject) => {
      ac.signal.addEventListener("abort", () => reject(ac.signal.reason instanceof StepCallError ? ac.signal.reason : new Error("stopped")), { once: true });
    });
    aborted.catch(() => undefined); // the race below observes it; this keeps a late abort from being unhandled
    const call = Promise.resolve().then(() => this.s.invoker.invoke(st, { image, parameters }, { signal: ac.signal, attempt, deadlineMs, executionId: this.opts.executionId }));
    return Promise.race([call, aborted]).finally(() => {
      this.s.timers.clearTimeout(timer);
      this.stop.signal.removeEventListener("abort", onStop);
      // Ends the call if it is still going (a race won by the timeout already did).
      if (!ac.signal.aborted) ac.abort(new Error("attempt settled"));
    });
  }

  /** Waits `ms` on the injected timers, or less if the run stops. */
  private wait(ms: number): Promise<void> {
    return new Promise((resolve) => {
      if (this.stop.signal.aborted) return resolve();
      const onStop = (): void => {
        this.s.timers.clearTimeout(timer);
        resolve();
      };
      const timer = this.s.timers.setTimeout(() => {
        this.stop.signal.removeEventListener("abort", onStop);
        resolve();
      }, ms);
      this.stop.signal.addEventListener("abort", onStop, { once: true });
    });
  }
}

function classify(err: unknown, st: PipelineStep): StepErrorInfo {
  if (err instanceof StepCallError) return { code: err.code, message: err.message };
  // Without a breaker-driven stop, "no instance" is just an unavailable service: retried.
  if (err instanceof NoServiceAvailableError) return { code: "UNAVAILABLE", message: err.message };
  return { code: "INTERNAL", message: `step ${st.step_id}: ${err instanceof Error ? err.message : String(err)}` };
}
