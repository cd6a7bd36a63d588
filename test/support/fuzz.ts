/**
 * Bounded, reproducible property runs for the fuzz tests: a fixed seed (fast-check prints it,
 * with the shrunk counterexample, on failure), overridable to explore: IFC_FUZZ_SEED, IFC_FUZZ_RUNS.
 */
export const FUZZ_SEED = Number(process.env.IFC_FUZZ_SEED ?? 20261128);

export function fuzzParams(numRuns: number): { seed: number; numRuns: number } {
  return { seed: FUZZ_SEED, numRuns: Number(process.env.IFC_FUZZ_RUNS ?? numRuns) };
}
