/**
 * The benchmarks' statistics. Empty samples give null, never NaN: a results file says "no
 * sample" rather than a number that is not one (JSON has no NaN).
 */

/** Nearest-rank percentile (p in 0–100) of the samples; null when there are none. */
export function pct(xs: readonly number[], p: number): number | null {
  if (xs.length === 0) return null;
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] as number;
}

export const median = (xs: readonly number[]): number | null => pct(xs, 50);

/** Rounded to `digits` decimals; null for null or a non-finite value. */
export function round(x: number | null | undefined, digits = 1): number | null {
  if (x === null || x === undefined || !Number.isFinite(x)) return null;
  const f = 10 ** digits;
  return Math.round(x * f) / f;
}

export const max = (xs: readonly number[]): number | null => (xs.length ? Math.max(...xs) : null);
export const min = (xs: readonly number[]): number | null => (xs.length ? Math.min(...xs) : null);
