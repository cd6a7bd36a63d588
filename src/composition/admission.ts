import { availableParallelism } from "node:os";
import type { Registry } from "prom-client";
import type { Logger } from "pino";
import type { Config } from "../config.js";
import { admissionMetrics } from "../control/admission-metrics.js";
import { CpuAdmission, type AdmissionGate } from "../core/admission.js";
import { CpuMeter } from "../core/cpu-meter.js";
import type { StreamRegistry } from "../core/stream-registry.js";
import type { CloseStack } from "./close-stack.js";

/** The CPU figure admission compares: long enough to smooth a keyframe burst, short enough to see a join. */
const CPU_WINDOW_MS = 2000;
/** Four samples a second while a stream is live: negligible next to the media. */
const CPU_SAMPLE_EVERY_MS = 250;

export interface BuiltAdmission {
  /** Undefined with IFC_MAX_CPU_PERCENT=0: nothing is checked, nothing sampled. */
  gate: AdmissionGate | undefined;
  metrics: Registry;
}

/**
 * Admission on CPU headroom (IFC_MAX_CPU_PERCENT). The meter runs only while the registry has
 * a live stream: with none there is nothing to protect, and an idle server keeps no timer.
 */
export function buildAdmission(config: Config, logger: Logger, stack: CloseStack, deps: { registry: StreamRegistry }): BuiltAdmission {
  const maxCpuPercent = config.maxCpuPercent;
  if (maxCpuPercent <= 0) {
    return { gate: undefined, metrics: admissionMetrics({ refused: { whip: 0, whep: 0, rtsp: 0 }, cpuPercent: () => 0, maxCpuPercent }) };
  }
  const log = logger.child({ component: "admission" });
  const meter = new CpuMeter({ windowMs: CPU_WINDOW_MS, sampleEveryMs: CPU_SAMPLE_EVERY_MS, cores: availableParallelism });
  const follow = (): void => {
    if (deps.registry.list().length > 0) meter.start();
    else meter.stop();
  };
  deps.registry.onStarted(follow);
  deps.registry.onEnded(follow);
  stack.push("cpu meter", () => meter.stop());
  const admission = new CpuAdmission({
    maxPercent: maxCpuPercent,
    percent: () => meter.percent(),
    retryAfterSeconds: Math.ceil(CPU_WINDOW_MS / 1000),
    onChange: (refusing, percent) => {
      const fields = { cpuPercent: Math.round(percent * 10) / 10, maxCpuPercent };
      if (refusing) log.warn(fields, "CPU use above IFC_MAX_CPU_PERCENT: refusing new publishers and viewers (503)");
      else log.info(fields, "CPU use back within IFC_MAX_CPU_PERCENT: admitting new publishers and viewers");
    },
  });
  return { gate: admission, metrics: admissionMetrics({ refused: admission.refused, cpuPercent: () => meter.percent(), maxCpuPercent }) };
}
