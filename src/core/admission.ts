import { CapacityExceeded } from "./errors.js";

/** What asks to be admitted: a WHIP publisher, a WHEP viewer, an RTSP publisher. */
export type AdmissionKind = "whip" | "whep" | "rtsp";

/** The check ingest and egress make before they take on a new publisher or viewer. */
export interface AdmissionGate {
  /** Throws CapacityExceeded (503 with Retry-After at the edge) while the server has no headroom. */
  admit(kind: AdmissionKind): void;
}

export interface CpuAdmissionOptions {
  /** IFC_MAX_CPU_PERCENT: above it new publishers and viewers are refused (0: never). */
  maxPercent: number;
  /** The measured CPU use, in percent of the cores the process may use. */
  percent: () => number;
  /** Seconds a refused client is told to wait: the meter's window, after which the figure is new. */
  retryAfterSeconds: number;
  /** Called when refusing starts (first refusal after admitting) and when admitting resumes. */
  onChange?: (refusing: boolean, percent: number) => void;
}

/**
 * Admission on measured CPU headroom: a new session is refused before the ones already live
 * degrade. Exactly at the limit still admits; only above it refuses. Refusals are counted per
 * kind for /metrics.
 */
export class CpuAdmission implements AdmissionGate {
  readonly refused: Record<AdmissionKind, number> = { whip: 0, whep: 0, rtsp: 0 };
  private refusing = false;

  constructor(private readonly opts: CpuAdmissionOptions) {}

  admit(kind: AdmissionKind): void {
    if (this.opts.maxPercent <= 0) return;
    const percent = this.opts.percent();
    if (percent <= this.opts.maxPercent) {
      if (this.refusing) this.opts.onChange?.(false, percent);
      this.refusing = false;
      return;
    }
    this.refused[kind]++;
    if (!this.refusing) this.opts.onChange?.(true, percent);
    this.refusing = true;
    const shown = Math.round(percent * 10) / 10;
    throw new CapacityExceeded(
      "cpu-saturated",
      `the server's CPU use (${shown} % of its cores over the last seconds) is above IFC_MAX_CPU_PERCENT=${this.opts.maxPercent}: new ${kind === "whep" ? "viewers" : "publishers"} are refused so that live streams keep every frame`,
      this.opts.retryAfterSeconds,
      { limit: "IFC_MAX_CPU_PERCENT", maxCpuPercent: this.opts.maxPercent, cpuPercent: shown },
    );
  }
}
