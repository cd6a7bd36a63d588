import { describe, expect, it } from "vitest";
import { ComponentCatalog } from "../../../src/pipelines/components.js";
import { DagExecutor, type StepEvent } from "../../../src/pipelines/dag-executor.js";
import { stepParameters } from "../../../src/pipelines/step-parameters.js";
import { normalizeDefinition, type PipelineDefinition, type PipelineDefinitionInput } from "../../../src/pipelines/definition.js";
import { NoServiceAvailableError, StepCallError } from "../../../src/pipelines/step-invoker.js";
import { ManualTimers } from "../../support/manual-timers.js";
import { waitFor } from "../../support/wait-for.js";
import { FakeInvoker, image } from "./fake-invoker.js";

type StepIn = PipelineDefinitionInput["steps"][number];
const step = (step_id: string, depends_on: string[] = [], extra: Partial<StepIn> = {}): StepIn => ({ step_id, service: "ResizeService", method: "Resize", parameters: {}, depends_on, ...extra });
const pipeline = (steps: StepIn[], strategy: "fail_fast" | "continue" = "fail_fast"): PipelineDefinition =>
  normalizeDefinition({ pipeline_id: "p", name: "p", version: "1.0.0", steps, error_handling: { strategy } });
const INPUT = image("uploads/input.png", 1920, 1080);

function recorder() {
  const events: StepEvent[] = [];
  const running = new Set<string>();
  let maxOverlap = 0;
  const overlaps: string[][] = [];
  const observer = (e: StepEvent): void => {
    events.push(e);
    if (e.status === "running") running.add(e.step_id);
    else running.delete(e.step_id);
    if (running.size > 1) overlaps.push([...running].sort());
    maxOverlap = Math.max(maxOverlap, running.size);
  };
  return { events, observer, overlaps, get maxOverlap() { return maxOverlap; }, statuses: (id: string) => events.filter((e) => e.step_id === id).map((e) => e.status) };
}

describe("DagExecutor", () => {
  it("runs the two middle steps of a diamond A→(B,C)→D at once; D gets the image of its first dependency", async () => {
    const invoker = new FakeInvoker((c) => (c.step.step_id === "A" ? { image: image("A.png") } : undefined));
    const rec = recorder();
    const ex = new DagExecutor({ invoker, timers: new ManualTimers() });
    const done = ex.run(pipeline([step("A"), step("B", ["A"]), step("C", ["A"]), step("D", ["B", "C"])]), INPUT, { executionId: "e1", observer: rec.observer });
    await waitFor(() => invoker.calls.length === 3, { what: "B and C called" });
    // Both are running before either finished: overlap seen through the observer, not timing.
    expect(rec.overlaps).toContainEqual(["B", "C"]);
    expect(invoker.callsOf("B")[0]?.input.image.object_key).toBe("A.png");
    invoker.callsOf("C")[0]?.resolve({ image: image("C.png") });
    invoker.callsOf("B")[0]?.resolve({ image: image("B.png") });
    await waitFor(() => invoker.callsOf("D").length === 1, { what: "D called" });
    expect(invoker.callsOf("D")[0]?.input.image.object_key).toBe("B.png");
    invoker.callsOf("D")[0]?.resolve({});
    const out = await done;
    expect(out.status).toBe("completed");
    expect(out.output_images.map((i) => i.object_key)).toEqual(["A.png", "C.png", "B.png"]);
    expect(rec.statuses("D")).toEqual(["pending", "running", "completed"]);
    expect(out.steps.map((s) => [s.step_id, s.status, s.attempts])).toEqual([["A", "completed", 1], ["B", "completed", 1], ["C", "completed", 1], ["D", "completed", 1]]);
  });

  it("holds the concurrency cap at its edge: three independent steps under a cap of 2 never run three at once", async () => {
    const invoker = new FakeInvoker();
    const rec = recorder();
    const ex = new DagExecutor({ invoker, timers: new ManualTimers(), maxConcurrency: 2 });
    const done = ex.run(pipeline([step("a"), step("b"), step("c")]), INPUT, { executionId: "e", observer: rec.observer });
    await waitFor(() => invoker.calls.length === 2, { what: "two calls" });
    expect(invoker.callsOf("c")).toHaveLength(0);
    invoker.calls[0]?.resolve({});
    await waitFor(() => invoker.calls.length === 3, { what: "third call after a slot freed" });
    invoker.calls[1]?.resolve({});
    invoker.calls[2]?.resolve({});
    expect((await done).status).toBe("completed");
    expect(rec.maxOverlap).toBe(2);
  });

  it("retries UNAVAILABLE after 1 s, 2 s, 4 s (±25 %) on the injected clock, then fails", async () => {
    for (const [r, expected] of [[0, [750, 1500, 3000]], [0.5, [1000, 2000, 4000]], [1 - 1e-12, [1250, 2500, 4000]]] as const) {
      const timers = new ManualTimers();
      const invoker = new FakeInvoker(() => new StepCallError("UNAVAILABLE", "connection refused"));
      const rec = recorder();
      const ex = new DagExecutor({ invoker, timers, backoff: { random: () => r } });
      const done = ex.run(pipeline([step("s", [], { retry_count: 3 })]), INPUT, { executionId: "e", observer: rec.observer });
      const t0 = timers.now();
      for (let i = 0; i < 3; i++) {
        await waitFor(() => rec.events.filter((e) => e.retry_in_ms !== undefined).length === i + 1, { what: `retry ${i + 1} scheduled` });
        const delay = expected[i] as number;
        expect(rec.events.filter((e) => e.retry_in_ms !== undefined)[i]?.retry_in_ms).toBeCloseTo(delay, 6);
        timers.advance(delay - 1);
        expect(timers.armed).toBe(1); // the backoff timer has not fired a millisecond early
        timers.advance(1);
        await waitFor(() => invoker.calls.length === i + 2, { what: `attempt ${i + 2}` });
        expect(invoker.calls[i + 1]?.ctx.attempt).toBe(i + 2);
      }
      const out = await done;
      expect(out.status).toBe("failed");
      expect(out.steps[0]).toMatchObject({ status: "failed", attempts: 4, error: { code: "UNAVAILABLE" } });
      expect(out.error).toMatchObject({ step_id: "s", code: "UNAVAILABLE" });
      expect(timers.now() - t0).toBeCloseTo(expected[0] + expected[1] + expected[2], 6);
      expect(timers.armed).toBe(0);
    }
  });

  it("retries at most min(retry_count, 3) times, and RESOURCE_EXHAUSTED is retried too", async () => {
    const timers = new ManualTimers();
    const invoker = new FakeInvoker((c) => (c.ctx.attempt < 2 ? new StepCallError("RESOURCE_EXHAUSTED", "busy") : new StepCallError("UNAVAILABLE", "down")));
    const ex = new DagExecutor({ invoker, timers, backoff: { random: () => 0.5 } });
    const rec = recorder();
    const done = ex.run(pipeline([step("one", [], { retry_count: 1 })]), INPUT, { executionId: "e", observer: rec.observer });
    await waitFor(() => rec.events.some((e) => e.retry_in_ms !== undefined), { what: "retry scheduled" });
    timers.advance(1000);
    const out = await done;
    expect(out.steps[0]).toMatchObject({ status: "failed", attempts: 2 });
    expect(invoker.calls).toHaveLength(2);

    const capped = new DagExecutor({ invoker: new FakeInvoker(() => new StepCallError("UNAVAILABLE", "down")), timers, maxRetries: 0 });
    expect((await capped.run(pipeline([step("x", [], { retry_count: 3 })]), INPUT, { executionId: "e2" })).steps[0]?.attempts).toBe(1);
  });

  it("does not retry INVALID_ARGUMENT or an unexpected exception", async () => {
    const timers = new ManualTimers();
    const invoker = new FakeInvoker((c) => (c.step.step_id === "a" ? new StepCallError("INVALID_ARGUMENT", "model yolo11 not served (serves: reference)") : new TypeError("boom")));
    const ex = new DagExecutor({ invoker, timers });
    const out = await ex.run(pipeline([step("a"), step("b")], "continue"), INPUT, { executionId: "e" });
    expect(out.steps.map((s) => [s.status, s.attempts, s.error?.code])).toEqual([["failed", 1, "INVALID_ARGUMENT"], ["failed", 1, "INTERNAL"]]);
    expect(invoker.calls).toHaveLength(2);
    expect(timers.armed).toBe(0);
  });

  it("aborts an attempt at its timeout as DEADLINE_EXCEEDED and retries it", async () => {
    const timers = new ManualTimers();
    const invoker = new FakeInvoker((c) => (c.ctx.attempt === 2 ? { image: image("ok.png") } : undefined));
    const rec = recorder();
    const ex = new DagExecutor({ invoker, timers, backoff: { random: () => 0.5 } });
    const t0 = timers.now();
    const done = ex.run(pipeline([step("slow", [], { timeout_ms: 250 })]), INPUT, { executionId: "e", observer: rec.observer });
    await waitFor(() => invoker.calls.length === 1, { what: "first attempt" });
    expect(invoker.calls[0]?.ctx.deadlineMs).toBe(t0 + 250);
    timers.advance(249);
    expect(invoker.calls[0]?.ctx.signal.aborted).toBe(false);
    timers.advance(1);
    expect(invoker.calls[0]?.ctx.signal.reason).toMatchObject({ code: "DEADLINE_EXCEEDED" });
    await waitFor(() => rec.events.some((e) => e.retry_in_ms !== undefined), { what: "retry scheduled" });
    expect(rec.events.find((e) => e.retry_in_ms !== undefined)?.error?.code).toBe("DEADLINE_EXCEEDED");
    timers.advance(1000);
    const out = await done;
    expect(out.steps[0]).toMatchObject({ status: "completed", attempts: 2, started_at: t0, finished_at: t0 + 1250, duration_ms: 1250 });
  });

  it("fail_fast: the first failure aborts running steps and skips the rest", async () => {
    const invoker = new FakeInvoker();
    const rec = recorder();
    const ex = new DagExecutor({ invoker, timers: new ManualTimers() });
    const done = ex.run(pipeline([step("A"), step("B"), step("C", ["A"]), step("D", ["B"])]), INPUT, { executionId: "e", observer: rec.observer });
    await waitFor(() => invoker.calls.length === 2, { what: "A and B running" });
    invoker.callsOf("A")[0]?.reject(new StepCallError("INVALID_ARGUMENT", "bad"));
    const out = await done;
    expect(invoker.callsOf("B")[0]?.ctx.signal.aborted).toBe(true);
    expect(out.status).toBe("failed");
    expect(Object.fromEntries(out.steps.map((s) => [s.step_id, s.status]))).toEqual({ A: "failed", B: "cancelled", C: "skipped", D: "skipped" });
    expect(out.error).toEqual({ step_id: "A", code: "INVALID_ARGUMENT", message: "bad" });
    expect(invoker.calls).toHaveLength(2);
  });

  it("fail_fast: a step whose call succeeded in the same turn as the failure still counts, so its image can be rolled back", async () => {
    const invoker = new FakeInvoker();
    const ex = new DagExecutor({ invoker, timers: new ManualTimers() });
    const done = ex.run(pipeline([step("A"), step("B"), step("C", ["B"])]), INPUT, { executionId: "e" });
    await waitFor(() => invoker.calls.length === 2, { what: "A and B running" });
    invoker.callsOf("A")[0]?.reject(new StepCallError("INTERNAL", "bad"));
    invoker.callsOf("B")[0]?.resolve({ image: image("B.png") });
    const out = await done;
    expect(Object.fromEntries(out.steps.map((s) => [s.step_id, s.status]))).toEqual({ A: "failed", B: "completed", C: "skipped" });
    expect(out.output_images.map((i) => i.object_key)).toEqual(["B.png"]);
  });

  it("continue: steps whose dependencies succeeded still run, those downstream of a failure are skipped", async () => {
    const invoker = new FakeInvoker((c) => (c.step.step_id === "D" ? {} : undefined));
    const ex = new DagExecutor({ invoker, timers: new ManualTimers() });
    const done = ex.run(pipeline([step("A"), step("B"), step("C", ["A"]), step("E", ["C"]), step("D", ["B"])], "continue"), INPUT, { executionId: "e" });
    await waitFor(() => invoker.calls.length === 2, { what: "A and B running" });
    invoker.callsOf("A")[0]?.reject(new StepCallError("FAILED_PRECONDITION", "no"));
    await waitFor(() => invoker.calls.length === 2 && invoker.callsOf("B")[0] !== undefined, { what: "B still there" });
    expect(invoker.callsOf("B")[0]?.ctx.signal.aborted).toBe(false);
    invoker.callsOf("B")[0]?.resolve({});
    const out = await done;
    expect(Object.fromEntries(out.steps.map((s) => [s.step_id, s.status]))).toEqual({ A: "failed", B: "completed", C: "skipped", E: "skipped", D: "completed" });
    expect(out.status).toBe("failed");
  });

  it("cancel during a long step: the invoker sees the abort, the outcome is cancelled", async () => {
    const invoker = new FakeInvoker();
    const ac = new AbortController();
    const ex = new DagExecutor({ invoker, timers: new ManualTimers() });
    const done = ex.run(pipeline([step("long", [], { timeout_ms: 300_000 }), step("after", ["long"])]), INPUT, { executionId: "e", signal: ac.signal });
    await waitFor(() => invoker.calls.length === 1, { what: "long step called" });
    const seen = new Promise<unknown>((r) => invoker.calls[0]?.ctx.signal.addEventListener("abort", () => r(invoker.calls[0]?.ctx.signal.reason)));
    ac.abort();
    expect(await seen).toBe("cancelled");
    const out = await done;
    expect(out.status).toBe("cancelled");
    expect(out.steps.map((s) => s.status)).toEqual(["cancelled", "cancelled"]);
    expect(invoker.calls).toHaveLength(1);
  });

  it("cancel during a backoff wait ends at once, and a run cancelled before it starts calls nothing", async () => {
    const timers = new ManualTimers();
    const invoker = new FakeInvoker(() => new StepCallError("UNAVAILABLE", "down"));
    const ac = new AbortController();
    const rec = recorder();
    const done = new DagExecutor({ invoker, timers }).run(pipeline([step("s")]), INPUT, { executionId: "e", signal: ac.signal, observer: rec.observer });
    await waitFor(() => rec.events.some((e) => e.retry_in_ms !== undefined), { what: "retry scheduled" });
    expect(timers.armed).toBe(1);
    ac.abort();
    expect((await done).status).toBe("cancelled");
    expect(timers.armed).toBe(0);

    const pre = new AbortController();
    pre.abort();
    const none = new FakeInvoker();
    const out = await new DagExecutor({ invoker: none, timers }).run(pipeline([step("s")]), INPUT, { executionId: "e2", signal: pre.signal });
    expect(out.status).toBe("cancelled");
    expect(none.calls).toHaveLength(0);
  });

  it("chains images resize → detect → filter (filter gets resize's image) and merges execution parameters", async () => {
    const resized = image("executions/e/resize.png", 640, 360);
    const invoker = new FakeInvoker((c) => {
      if (c.step.step_id === "resize") return { image: resized };
      if (c.step.step_id === "detect") return { detections: [{ class_name: "qr_code", confidence: 1, bbox: { x: 1, y: 2, width: 3, height: 4 }, attributes: { payload: "PART-1" } }] };
      return { image: image("executions/e/filter.png", 640, 360) };
    });
    const def = normalizeDefinition({
      pipeline_id: "qi",
      name: "qi",
      version: "2.0.0",
      steps: [
        { step_id: "resize", service: "ResizeService", method: "Resize", parameters: { target_width: 640 } },
        { step_id: "detect", service: "AIDetectionService", method: "Detect", parameters: { confidence_threshold: 0.5 }, depends_on: ["resize"] },
        { step_id: "filter", service: "FilterService", method: "ApplyFilter", parameters: { filter_type: "blur", parameters: { sigma: "2" } }, depends_on: ["detect"] },
      ],
    });
    const ex = new DagExecutor({ invoker, timers: new ManualTimers(), catalog: new ComponentCatalog() });
    const out = await ex.run(def, INPUT, { executionId: "e", parameters: { confidence_threshold: 0.8, filter: { parameters: { sigma: "3" } } } });
    expect(out.status).toBe("completed");
    expect(out.pipeline_version).toBe("2.0.0");
    expect(invoker.callsOf("resize")[0]?.input).toEqual({ image: INPUT, parameters: { target_width: 640 } });
    expect(invoker.callsOf("detect")[0]?.input).toEqual({ image: resized, parameters: { confidence_threshold: 0.8 } });
    expect(invoker.callsOf("filter")[0]?.input).toEqual({ image: resized, parameters: { filter_type: "blur", parameters: { sigma: "3" } } });
    expect(out.steps[1]?.output?.detections?.[0]?.attributes?.payload).toBe("PART-1");
    expect(out.output_images.map((i) => i.object_key)).toEqual(["executions/e/resize.png", "executions/e/filter.png"]);
  });

  it("stepParameters without a catalog gives flat keys to every step", () => {
    const s = pipeline([step("a", [], { parameters: { x: 1, y: 1 } })]).steps[0]!;
    expect(stepParameters(s, new Set(["a", "b"]), { y: 2, z: 3, a: { x: 9 }, b: { x: 7 } })).toEqual({ x: 9, y: 2, z: 3 });
  });

  it("NoServiceAvailableError stops the execution as unavailable, not as a failure (unless told otherwise)", async () => {
    const invoker = new FakeInvoker((c) => (c.step.step_id === "B" ? new NoServiceAvailableError("AIDetectionService", "breaker_open") : c.step.step_id === "A" ? { image: image("a.png") } : undefined));
    const rec = recorder();
    const out = await new DagExecutor({ invoker, timers: new ManualTimers() }).run(pipeline([step("A"), step("B", ["A"]), step("C", ["B"])]), INPUT, { executionId: "e", observer: rec.observer });
    expect(out.status).toBe("unavailable");
    expect(out.steps.map((s) => s.status)).toEqual(["completed", "pending", "pending"]);
    expect(out.steps.some((s) => s.status === "failed")).toBe(false);
    expect(out.error).toMatchObject({ step_id: "B", code: "UNAVAILABLE" });
    expect(out.output_images.map((i) => i.object_key)).toEqual(["a.png"]);

    const timers = new ManualTimers();
    const retried = new FakeInvoker((c) => (c.ctx.attempt === 1 ? new NoServiceAvailableError("ResizeService", "no_healthy_instance") : {}));
    const rec2 = recorder();
    const done = new DagExecutor({ invoker: retried, timers, stopWhenNoServiceAvailable: false, backoff: { random: () => 0.5 } }).run(pipeline([step("A")]), INPUT, { executionId: "e2", observer: rec2.observer });
    await waitFor(() => rec2.events.some((e) => e.retry_in_ms !== undefined), { what: "retry scheduled" });
    expect(rec2.events.find((e) => e.retry_in_ms !== undefined)?.error?.code).toBe("UNAVAILABLE");
    timers.advance(1000);
    expect((await done).steps[0]).toMatchObject({ status: "completed", attempts: 2 });
  });

  it("an observer that throws does not stop the run; a definition that is not a DAG is refused", async () => {
    const invoker = new FakeInvoker(() => ({}));
    const ex = new DagExecutor({ invoker, timers: new ManualTimers() });
    const out = await ex.run(pipeline([step("a"), step("b", ["a"])]), INPUT, { executionId: "e", observer: () => { throw new Error("listener bug"); } });
    expect(out.status).toBe("completed");
    await expect(ex.run(pipeline([step("a", ["b"]), step("b", ["a"])]), INPUT, { executionId: "e" })).rejects.toThrow(/cycle among a, b/);
    await expect(ex.run(pipeline([step("a", ["z"])]), INPUT, { executionId: "e" })).rejects.toThrow(/unknown step z/);
    expect(invoker.calls).toHaveLength(2);
    expect(() => new DagExecutor({ invoker, maxConcurrency: 0 })).toThrow(RangeError);
  });
});
