import fc from "fast-check";
import { describe, expect, it } from "vitest";
import { DagExecutor, type StepEvent } from "../../../src/pipelines/dag-executor.js";
import { normalizeDefinition } from "../../../src/pipelines/definition.js";
import { StepCallError } from "../../../src/pipelines/step-invoker.js";
import { ManualTimers } from "../../support/manual-timers.js";
import type { StepInvoker } from "../../../src/pipelines/step-invoker.js";
import { image } from "./fake-invoker.js";

/** A random DAG: step i may depend only on steps before it, so every draw is acyclic. */
const dagArb = fc.integer({ min: 1, max: 9 }).chain((n) =>
  fc.record({
    deps: fc.tuple(...Array.from({ length: n }, (_, i) => fc.subarray(Array.from({ length: i }, (_, j) => j)))),
    // Steps listed in a shuffled order: the executor must not rely on definition order.
    order: fc.shuffledSubarray(Array.from({ length: n }, (_, i) => i), { minLength: n, maxLength: n }),
    ticks: fc.array(fc.integer({ min: 0, max: 4 }), { minLength: n, maxLength: n }),
    failing: fc.array(fc.boolean(), { minLength: n, maxLength: n }).map((a) => a.map((f, i) => f && i % 3 === 0)),
    cap: fc.integer({ min: 1, max: 4 }),
    strategy: fc.constantFrom("fail_fast" as const, "continue" as const),
  }),
);

const yieldTicks = async (k: number): Promise<void> => {
  for (let i = 0; i < k; i++) await new Promise((r) => setImmediate(r));
};

describe("DagExecutor property", () => {
  it("every step starts only after all its dependencies completed; never more than the cap at once", async () => {
    await fc.assert(
      fc.asyncProperty(dagArb, async ({ deps, order, ticks, failing, cap, strategy }) => {
        const name = (i: number) => `s${i}`;
        const def = normalizeDefinition({
          pipeline_id: "prop",
          name: "prop",
          version: "1",
          steps: order.map((i) => ({ step_id: name(i), service: "S", method: "M", depends_on: (deps[i] ?? []).map(name), retry_count: 0 })),
          error_handling: { strategy },
        });
        // Each call takes a drawn number of event-loop turns, so completions interleave differently per draw.
        const invoker: StepInvoker = {
          invoke: async (step) => {
            const i = Number(step.step_id.slice(1));
            await yieldTicks(ticks[i] ?? 0);
            if (failing[i]) throw new StepCallError("INTERNAL", "drawn to fail");
            return { image: image(`${step.step_id}.png`) };
          },
        };
        let failedSeen = false;
        const events: StepEvent[] = [];
        const status = new Map<string, string>();
        let running = 0;
        let maxRunning = 0;
        const observer = (e: StepEvent): void => {
          events.push(e);
          if (e.status === "running" && e.previous !== "running") {
            const i = Number(e.step_id.slice(1));
            if (strategy === "fail_fast") expect(failedSeen, `${e.step_id} started after a failure under fail_fast`).toBe(false);
            for (const d of deps[i] ?? []) expect(status.get(name(d)), `${e.step_id} started before ${name(d)} completed`).toBe("completed");
            running++;
            maxRunning = Math.max(maxRunning, running);
          } else if (e.previous === "running" && e.status !== "running") running--;
          if (e.status === "failed") failedSeen = true;
          status.set(e.step_id, e.status);
        };
        const out = await new DagExecutor({ invoker, timers: new ManualTimers(), maxConcurrency: cap }).run(def, image("in.png"), { executionId: "p", observer });
        expect(maxRunning).toBeLessThanOrEqual(cap);
        // Every step ends in a final state, and a step runs iff all its dependencies completed (continue).
        for (const r of out.steps) expect(["completed", "failed", "skipped", "cancelled"]).toContain(r.status);
        const anyFailed = out.steps.some((r) => r.status === "failed");
        expect(out.status).toBe(anyFailed ? "failed" : "completed");
        if (strategy === "continue") {
          const byId = new Map(out.steps.map((r) => [r.step_id, r]));
          for (const r of out.steps) {
            const i = Number(r.step_id.slice(1));
            const depsOk = (deps[i] ?? []).every((d) => byId.get(name(d))?.status === "completed");
            expect(r.status === "skipped").toBe(!depsOk);
          }
        }
      }),
      { numRuns: 150 },
    );
  });
});
