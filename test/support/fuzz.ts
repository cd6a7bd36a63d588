import fc from "fast-check";

/**
 * Bounded, reproducible property runs for the fuzz tests: a fixed seed (fast-check prints it,
 * with the shrunk counterexample, on failure), overridable to explore: IFC_FUZZ_SEED, IFC_FUZZ_RUNS.
 */
export const FUZZ_SEED = Number(process.env.IFC_FUZZ_SEED ?? 20261128);

export function fuzzParams(numRuns: number): { seed: number; numRuns: number } {
  return { seed: FUZZ_SEED, numRuns: Number(process.env.IFC_FUZZ_RUNS ?? numRuns) };
}

/** Tokens that parsers trip on: separators, signs, huge numbers, `$` replacement patterns, line ends. */
const NASTY = fc.constantFrom(" ", "", ":", "/", "=", ";", "$'", "$&", "$`", "-1", "99999999999999999999", "1e309", "\r", "\n", "\u0000", "\u{1F600}", "NaN", "*", "typ", "a=mid:", "a=candidate:", "m=");

/**
 * Lines of `base`, a few of them (about two per input) dropped, duplicated, cut, or with a nasty
 * token spliced in, plus arbitrary extra lines: input near valid, where parsers break.
 */
export function mutatedLines(base: string[]): fc.Arbitrary<string> {
  const keepWeight = Math.max(6, 2 * base.length);
  const line = (l: string): fc.Arbitrary<string[]> =>
    fc.oneof(
      { weight: keepWeight, arbitrary: fc.constant<string[]>([l]) },
      fc.constant<string[]>([]),
      fc.constant<string[]>([l, l]),
      fc.nat(l.length).map((n) => [l.slice(0, n)]),
      fc.tuple(fc.nat(l.length), fc.oneof(NASTY, fc.string({ maxLength: 12 }))).map(([n, s]) => [l.slice(0, n) + s + l.slice(n)]),
      fc.tuple(fc.nat(l.length), fc.oneof(NASTY, fc.string({ maxLength: 12 }))).map(([n, s]) => [l.slice(0, n) + s]),
    );
  return fc
    .tuple(fc.tuple(...base.map(line)), fc.array(fc.oneof(NASTY, fc.string({ maxLength: 40 })), { maxLength: 3 }), fc.constantFrom("\r\n", "\n"))
    .map(([lines, extra, eol]) => [...lines.flat(), ...extra].join(eol) + eol);
}
