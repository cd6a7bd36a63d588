import { afterEach, describe, expect, it } from "vitest";
import { InProcessEventBus } from "../../../src/adapters/events/in-process-event-bus.js";
import { migrate } from "../../../src/adapters/db/migrate.js";
import { ALL_MIGRATIONS } from "../../../src/adapters/db/migrations/index.js";
import { CapacityExceeded, Conflict } from "../../../src/core/errors.js";
import type { Database } from "../../../src/ports/database.js";
import { PIPELINE_PROGRESS_TOPIC } from "../../../src/ports/event-bus.js";
import { ExecutionService, type ExecutionServiceOptions, type PipelineRunner, type ProgressEvent, type RunOutcome, type RunRequest } from "../../../src/pipelines/execution-service.js";
import { ExecutionStore } from "../../../src/pipelines/execution-store.js";
import { FileStore } from "../../../src/pipelines/file-store.js";
import { PipelineStore } from "../../../src/pipelines/pipeline-store.js";
import { ManualTimers } from "../../support/manual-timers.js";
import { openTestPglite } from "../../support/pglite.js";
import { waitFor } from "../../support/wait-for.js";

interface Def {
  pipeline_id: string;
  name: string;
  version: string;
  execution_mode: string;
  steps: { step_id: string }[];
}

/** The runner is this test's boundary: it records what ran and finishes when the test says. */
class ScriptedRunner implements PipelineRunner<Def> {
  readonly started: string[] = [];
  readonly aborted: string[] = [];
  private readonly gates = new Map<string, (o: RunOutcome) => void>();
  /** Outcome when the test does not hold the execution: completed at once. */
  auto: ((req: RunRequest<Def>) => RunOutcome | undefined) | undefined = () => ({ status: "completed", output_file_ids: [], processing_time_ms: 5 });

  run(req: RunRequest<Def>): Promise<RunOutcome> {
    const id = req.execution.execution_id;
    this.started.push(id);
    req.onStep({ input_index: 0, step_id: "a", service: "ResizeService", method: "Resize", status: "running", attempts: 1, instance: null, started_at: new Date().toISOString(), finished_at: null, duration_ms: null, result: null, error: null });
    const now = this.auto?.(req);
    if (now) {
      req.onStep({ input_index: 0, step_id: "a", service: "ResizeService", method: "Resize", status: "completed", attempts: 1, instance: null, started_at: new Date().toISOString(), finished_at: new Date().toISOString(), duration_ms: 1, result: { ok: true }, error: null });
      return Promise.resolve(now);
    }
    return new Promise((resolve) => {
      this.gates.set(id, resolve);
      req.signal.addEventListener("abort", () => {
        this.aborted.push(id);
        resolve({ status: "cancelled", output_file_ids: [], processing_time_ms: 1 });
      });
    });
  }

  release(id: string, o: RunOutcome = { status: "completed", output_file_ids: [], processing_time_ms: 7 }): void {
    this.gates.get(id)?.(o);
  }

  holding(id: string): boolean {
    return this.gates.has(id);
  }
}

const opts = (over: Partial<ExecutionServiceOptions> = {}): ExecutionServiceOptions => ({
  nodeId: "n1",
  maxConcurrent: 1,
  queueMax: 10,
  fallbackConsumers: 1,
  maxAttempts: 2,
  fallbackRetryMs: 1000,
  ...over,
});

describe("ExecutionService", () => {
  const cleanups: (() => Promise<void>)[] = [];
  afterEach(async () => {
    for (const c of cleanups.splice(0).reverse()) await c();
  });

  async function world(over: Partial<ExecutionServiceOptions> = {}, db?: Database) {
    const database = db ?? (await openTestPglite());
    if (!db) {
      await migrate(database, ALL_MIGRATIONS);
      cleanups.push(() => database.close());
    }
    const bus = new InProcessEventBus();
    const pipelines = new PipelineStore<Def>(database);
    const executions = new ExecutionStore(database);
    const files = new FileStore(database);
    const runner = new ScriptedRunner();
    const service = new ExecutionService<Def>({ pipelines, executions, files, bus, runner }, opts(over));
    const events: ProgressEvent[] = [];
    bus.subscribe(PIPELINE_PROGRESS_TOPIC, (e) => void events.push(e.value as ProgressEvent));
    cleanups.push(async () => {
      await service.close();
      await bus.close();
    });
    await service.start();
    if (!db) {
      await pipelines.create({ pipeline_id: "p", name: "P", version: "1", execution_mode: "direct_grpc", steps: [{ step_id: "a" }] }, "admin");
      await pipelines.create({ pipeline_id: "q", name: "Q", version: "1", execution_mode: "kafka_queue", steps: [{ step_id: "a" }] }, "admin");
      await files.insert({ file_id: "f1", filename: "a.jpg", content_type: "image/jpeg", size_bytes: 10, format: "jpeg", width: 1, height: 1, object_key: "files/f1", role: "upload", execution_id: null, created_by: null });
    }
    return { db: database, bus, executions, runner, service, events };
  }

  const req = (priority: "low" | "normal" | "high" = "normal", pipeline_id = "p") => ({ pipeline_id, input_file_ids: ["f1"], parameters: {}, priority, submitted_by: "op" });

  it("with capacity for one, runs a high-priority execution before an earlier low one", async () => {
    const w = await world();
    w.runner.auto = undefined;
    const blocker = await w.service.submit(req());
    await waitFor(() => w.runner.holding(blocker.execution_id), { what: "the blocker running" });
    const low = await w.service.submit(req("low"));
    const high = await w.service.submit(req("high"));
    expect(w.service.stats().queued).toBe(2);
    w.runner.auto = () => ({ status: "completed", output_file_ids: [], processing_time_ms: 1 });
    w.runner.release(blocker.execution_id);
    await waitFor(async () => (await w.executions.get(low.execution_id)).status === "completed", { what: "the low one completed" });
    expect(w.runner.started).toEqual([blocker.execution_id, high.execution_id, low.execution_id]);
  });

  it("refuses past the queue's depth with a 503-class error, storing nothing for the refused one", async () => {
    const w = await world({ queueMax: 1 });
    w.runner.auto = undefined;
    const running = await w.service.submit(req());
    await waitFor(() => w.runner.holding(running.execution_id), { what: "running" });
    await w.service.submit(req());
    expect(w.service.saturated).toBe(true);
    const err = await w.service.submit(req()).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(CapacityExceeded);
    expect((err as CapacityExceeded).retryAfterSeconds).toBeGreaterThan(0);
    expect((await w.executions.list({}, { limit: 10 })).total).toBe(2);
    expect(w.service.stats().rejected).toBe(1);
  });

  it("cancels during a long step: the runner sees the abort and the execution ends cancelled, once", async () => {
    const w = await world();
    w.runner.auto = undefined;
    const e = await w.service.submit(req());
    await waitFor(() => w.runner.holding(e.execution_id), { what: "running" });
    const after = await w.service.cancel(e.execution_id);
    expect(after.status).toBe("cancelled");
    expect(w.runner.aborted).toEqual([e.execution_id]);
    await expect(w.service.cancel(e.execution_id)).rejects.toBeInstanceOf(Conflict);
    expect(w.events.filter((x) => x.type === "cancelled")).toHaveLength(1);
  });

  it("cancels a queued execution without running it", async () => {
    const w = await world();
    w.runner.auto = undefined;
    const first = await w.service.submit(req());
    await waitFor(() => w.runner.holding(first.execution_id), { what: "running" });
    const queued = await w.service.submit(req());
    expect((await w.service.cancel(queued.execution_id)).status).toBe("cancelled");
    w.runner.release(first.execution_id);
    await waitFor(async () => (await w.executions.get(first.execution_id)).status === "completed", { what: "first completed" });
    expect(w.runner.started).toEqual([first.execution_id]);
  });

  it("publishes queued, every step transition and completed in order, with the documents' fields", async () => {
    const w = await world();
    const e = await w.service.submit(req());
    await waitFor(() => w.events.some((x) => x.type === "completed"), { what: "completed event" });
    expect(w.events.map((x) => `${x.type}:${x.step_name ?? ""}:${x.status}`)).toEqual(["queued::pending", "progress:a:running", "progress:a:completed", "completed::completed"]);
    const done = w.events.at(-1)!;
    expect(done).toMatchObject({ execution_id: e.execution_id, pipeline_id: "p", progress_percentage: 100, metadata: { processing_time_ms: 5, execution_mode: "direct_grpc" } });
    expect(done.metadata.resource_usage).toEqual({ cpu: 0, memory: 0 });
    const steps = await w.executions.steps(e.execution_id);
    expect(steps.map((s) => [s.step_id, s.status, s.result])).toEqual([["a", "completed", { ok: true }]]);
  });

  it("loses nothing across a restart: pending ones run, a running one is retried, then failed past maxAttempts", async () => {
    const db = await openTestPglite();
    await migrate(db, ALL_MIGRATIONS);
    cleanups.push(() => db.close());
    const pipelines = new PipelineStore<Def>(db);
    await pipelines.create({ pipeline_id: "p", name: "P", version: "1", execution_mode: "direct_grpc", steps: [{ step_id: "a" }] }, "admin");
    await new FileStore(db).insert({ file_id: "f1", filename: "a.jpg", content_type: "image/jpeg", size_bytes: 10, format: null, width: null, height: null, object_key: "files/f1", role: "upload", execution_id: null, created_by: null });

    const first = await world({}, db);
    first.runner.auto = undefined;
    const a = await first.service.submit(req());
    await waitFor(() => first.runner.holding(a.execution_id), { what: "a running" });
    const b = await first.service.submit(req("high"));
    await first.service.close(); // the "crash": a stays running, b pending
    expect((await first.executions.get(a.execution_id)).status).toBe("running");
    expect((await first.executions.get(b.execution_id)).status).toBe("pending");

    const second = await world({}, db);
    await waitFor(async () => (await second.executions.get(a.execution_id)).status === "completed" && (await second.executions.get(b.execution_id)).status === "completed", { what: "both completed after restart" });
    expect((await second.executions.get(a.execution_id)).attempts).toBe(2);
    expect((await second.executions.get(b.execution_id)).attempts).toBe(1);

    // Past maxAttempts a running execution is failed explicitly, not retried for ever.
    second.runner.auto = undefined;
    const c = await second.service.submit(req());
    await waitFor(() => second.runner.holding(c.execution_id), { what: "c running" });
    await second.service.close();
    const third = await world({ maxAttempts: 1 }, db);
    await waitFor(async () => (await third.executions.get(c.execution_id)).status === "failed", { what: "c failed" });
    expect((await third.executions.get(c.execution_id)).error).toMatchObject({ code: "INTERRUPTED" });
    expect(third.runner.started).toEqual([]);
  });

  it("parks an execution whose services are down on the fallback topic and completes it when they recover", async () => {
    const timers = new ManualTimers();
    const w = await world({ timers });
    let down = true;
    w.runner.auto = () =>
      down
        ? { status: "unavailable", error: { code: "NO_HEALTHY_INSTANCE", message: "ResizeService has no healthy instance" }, retryAfterMs: 30_000 }
        : { status: "completed", output_file_ids: [], processing_time_ms: 3 };
    const e = await w.service.submit(req());
    // Direct try, then the fallback consumer's first try: both find the services down.
    await waitFor(() => w.runner.started.length === 2 && timers.armed === 1, { what: "fallback waiting" });
    const parked = await w.executions.get(e.execution_id);
    expect(parked).toMatchObject({ status: "pending", execution_mode: "kafka_fallback" });
    expect(w.service.stats().fallbackWaiting).toBe(1);
    down = false;
    timers.advance(30_000);
    await waitFor(async () => (await w.executions.get(e.execution_id)).status === "completed", { what: "completed by the fallback" });
    expect((await w.executions.get(e.execution_id)).execution_mode).toBe("kafka_fallback");
  });

  it("sends kafka_queue pipelines straight to the fallback consumers", async () => {
    const w = await world();
    const e = await w.service.submit(req("normal", "q"));
    await waitFor(async () => (await w.executions.get(e.execution_id)).status === "completed", { what: "completed" });
    expect((await w.executions.get(e.execution_id)).execution_mode).toBe("kafka_fallback");
  });
});
