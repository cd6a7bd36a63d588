/** How acquire() picks among usable instances of a service. */
export type BalancingStrategy = "least-connections" | "response-time" | "random";

export const BALANCING_STRATEGIES: readonly BalancingStrategy[] = ["least-connections", "response-time", "random"];

export interface BalanceCandidate {
  inFlight: number;
  /** EWMA of response time (ms); undefined before the first answer. */
  avgResponseMs: number | undefined;
}

/**
 * Index of the chosen candidate (candidates non-empty). Ties go to the first tied one at or after
 * `cursor`, so equal instances share new load evenly instead of the first one taking it all.
 * An instance with no timing yet counts as the fastest, so a new instance is tried at least once.
 */
export function pickCandidate(candidates: readonly BalanceCandidate[], strategy: BalancingStrategy, cursor: number, random: () => number): number {
  const n = candidates.length;
  if (n === 0) throw new RangeError("no candidates");
  if (strategy === "random") return Math.min(n - 1, Math.floor(random() * n));
  const key = (c: BalanceCandidate): [number, number] =>
    strategy === "least-connections" ? [c.inFlight, 0] : [c.avgResponseMs ?? 0, c.inFlight];
  let best = -1;
  let bestKey: [number, number] = [Infinity, Infinity];
  for (let k = 0; k < n; k++) {
    const i = (((cursor + k) % n) + n) % n;
    const kk = key(candidates[i]!);
    if (kk[0] < bestKey[0] || (kk[0] === bestKey[0] && kk[1] < bestKey[1])) {
      best = i;
      bestKey = kk;
    }
  }
  return best;
}
