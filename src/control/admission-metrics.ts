import { Counter, Gauge, Registry } from "prom-client";
import type { AdmissionKind } from "../core/admission.js";

export interface AdmissionFigures {
  /** Refusals since start, per kind of newcomer. */
  refused: Readonly<Record<AdmissionKind, number>>;
  /** The meter's reading (0 while nothing is live: it sleeps then). */
  cpuPercent(): number;
  /** IFC_MAX_CPU_PERCENT (0: off). */
  maxCpuPercent: number;
}

/**
 * Admission figures for /metrics, read at scrape time: `ifc_admission_refused_total{kind}` and
 * the CPU reading admission compares with its limit. Its own registry, merged into /metrics.
 */
export function admissionMetrics(figures: AdmissionFigures): Registry {
  const registry = new Registry();
  new Counter({
    name: "ifc_admission_refused_total", help: "New publishers (whip, rtsp) and WHEP viewers (whep) refused with 503 because CPU use was above IFC_MAX_CPU_PERCENT", labelNames: ["kind"], registers: [registry],
    collect() {
      this.reset();
      for (const [kind, n] of Object.entries(figures.refused)) this.inc({ kind }, n);
    },
  });
  new Gauge({
    name: "ifc_cpu_percent", help: "The server's own CPU use (user + system, all threads) in percent of the cores it may use, over the admission window; measured only while a stream is live and IFC_MAX_CPU_PERCENT is set, else 0", registers: [registry],
    collect() {
      this.set(figures.cpuPercent());
    },
  });
  new Gauge({
    name: "ifc_max_cpu_percent", help: "IFC_MAX_CPU_PERCENT: the admission limit (0: off)", registers: [registry],
    collect() {
      this.set(figures.maxCpuPercent);
    },
  });
  return registry;
}
