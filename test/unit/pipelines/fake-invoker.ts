import type { PipelineStep } from "../../../src/pipelines/definition.js";
import type { ImageRef, StepContext, StepInput, StepInvoker, StepOutput } from "../../../src/pipelines/step-invoker.js";

/** One call the executor made; the test settles it when it chooses. */
export interface Call {
  step: PipelineStep;
  input: StepInput;
  ctx: StepContext;
  resolve(out: StepOutput): void;
  reject(err: unknown): void;
}

/**
 * The StepInvoker boundary, faked: every call waits for the test to settle it, unless `auto`
 * answers it (return undefined from `auto` to leave a call pending).
 */
export class FakeInvoker implements StepInvoker {
  readonly calls: Call[] = [];
  constructor(private readonly auto?: (call: Call) => StepOutput | Error | undefined) {}

  invoke(step: PipelineStep, input: StepInput, ctx: StepContext): Promise<StepOutput> {
    return new Promise<StepOutput>((resolve, reject) => {
      const call: Call = { step, input, ctx, resolve, reject };
      this.calls.push(call);
      const answer = this.auto?.(call);
      if (answer instanceof Error) reject(answer);
      else if (answer) resolve(answer);
    });
  }

  callsOf(stepId: string): Call[] {
    return this.calls.filter((c) => c.step.step_id === stepId);
  }
}

export const image = (key: string, width = 100, height = 100): ImageRef => ({
  bucket: "processed-images",
  object_key: key,
  content_type: "image/png",
  size_bytes: 1000,
  width,
  height,
});
