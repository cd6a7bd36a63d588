/**
 * How a benchmark is run and what its results file records. Every results file carries the
 * date, the machine (CPU count and model) and a load note, because figures taken on a shared
 * machine mean little without them.
 *   IFC_BENCH_SHORT=1 (or --short): a short run, to check a script works, not to quote.
 *   IFC_BENCH_NOTE="...": the load note (default: that nothing was checked).
 */
import { mkdir, writeFile } from "node:fs/promises";
import { cpus, loadavg } from "node:os";
import path from "node:path";

export const SHORT = process.env.IFC_BENCH_SHORT === "1" || process.argv.includes("--short");

/** Positional arguments (flags such as --short left out). */
export const ARGS = process.argv.slice(2).filter((a) => !a.startsWith("--"));

/** Positional argument `i` as a number, else the default (the short one in short mode). */
export function numArg(i: number, full: number, short = full): number {
  const v = ARGS[i];
  return v === undefined || v === "" ? (SHORT ? short : full) : Number(v);
}

/** Positional argument `i` as a comma-separated list of numbers. */
export function listArg(i: number, full: number[], short = full): number[] {
  const v = ARGS[i];
  return v === undefined || v === "" ? (SHORT ? short : full) : v.split(",").map(Number);
}

export interface Machine {
  nproc: number;
  model: string;
  node: string;
  loadAverage1m5m15m: number[];
  loadNote: string;
}

/** The machine as it is now (call at the start of a run: the load average is the run's context). */
export function machine(): Machine {
  return {
    nproc: cpus().length,
    model: cpus()[0]?.model.trim() ?? "unknown",
    node: process.version,
    loadAverage1m5m15m: loadavg().map((l) => Math.round(l * 100) / 100),
    loadNote: process.env.IFC_BENCH_NOTE ?? "not stated (set IFC_BENCH_NOTE); see the load average",
  };
}

/**
 * Writes bench/results/<name>.json (<name>.short.json for a short run, which git ignores: a
 * check run never replaces the figures): date, machine, then the benchmark's own data.
 */
export async function writeResults(name: string, m: Machine, data: Record<string, unknown>): Promise<string> {
  const dir = path.resolve(import.meta.dirname, "../results");
  await mkdir(dir, { recursive: true });
  const file = path.join(dir, SHORT ? `${name}.short.json` : `${name}.json`);
  await writeFile(file, JSON.stringify({ date: new Date().toISOString(), machine: m, short: SHORT, ...data }, null, 2) + "\n");
  return file;
}

export const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

/** Polls `get` until it returns a value (not undefined); throws naming `what` after `timeoutMs`. */
export async function pollFor<T>(what: string, get: () => Promise<T | undefined>, timeoutMs = 30_000, intervalMs = 100): Promise<T> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const v = await get();
    if (v !== undefined) return v;
    if (Date.now() > until) throw new Error(`${what}: not within ${timeoutMs} ms`);
    await sleep(intervalMs);
  }
}
