/**
 * Chooses an AI worker endpoint: the usable one with the fewest outstanding frames (sent, no
 * result yet); ties go round-robin so equal workers share new load evenly. Endpoints whose
 * breaker refuses requests (open) or whose health check fails are skipped.
 */

/** The part of a circuit breaker the balancer needs (CircuitBreaker satisfies it). */
export interface RequestGate {
  allowRequest(): boolean;
}

export interface EndpointStatus {
  id: string;
  outstanding: number;
  healthy: boolean;
  /** False when the breaker refuses requests. */
  allowed: boolean;
}

interface Endpoint {
  id: string;
  outstanding: number;
  healthy: boolean;
  breaker: RequestGate | undefined;
}

export class WorkerBalancer {
  private readonly endpoints: Endpoint[] = [];
  /** Index of the endpoint chosen last, where the next tie-break search starts after. */
  private cursor = -1;

  constructor(ids: Iterable<string> = []) {
    for (const id of ids) this.add(id);
  }

  /** Adds an endpoint, healthy until told otherwise (a breaker, if given, still gates it). */
  add(id: string, breaker?: RequestGate): void {
    if (this.find(id)) throw new Error(`endpoint ${id} already added`);
    this.endpoints.push({ id, outstanding: 0, healthy: true, breaker });
  }

  remove(id: string): void {
    const i = this.endpoints.findIndex((e) => e.id === id);
    if (i < 0) return;
    this.endpoints.splice(i, 1);
    // Keep the rotation where it was: the endpoint after the removed one is next.
    if (i <= this.cursor) this.cursor--;
  }

  setBreaker(id: string, breaker: RequestGate | undefined): void {
    this.get(id).breaker = breaker;
  }

  setHealthy(id: string, healthy: boolean): void {
    this.get(id).healthy = healthy;
  }

  /** One more frame sent to `id` and awaiting its result. */
  markSent(id: string, n = 1): void {
    this.get(id).outstanding += n;
  }

  /** A result (or a definitive loss, e.g. the call ended) for `n` frames sent to `id`. */
  markDone(id: string, n = 1): void {
    const e = this.get(id);
    e.outstanding = Math.max(0, e.outstanding - n);
  }

  /** Sets the count outright, e.g. to 0 when a call to the endpoint is torn down. */
  setOutstanding(id: string, n: number): void {
    if (!(Number.isInteger(n) && n >= 0)) throw new RangeError(`outstanding must be an integer >= 0, got ${n}`);
    this.get(id).outstanding = n;
  }

  /**
   * The usable endpoint with the fewest outstanding frames, round-robin among ties; undefined
   * when none is usable. `exclude` skips endpoints the caller already tried.
   */
  pick(exclude: ReadonlySet<string> = new Set()): string | undefined {
    const n = this.endpoints.length;
    let best: { index: number; outstanding: number } | undefined;
    // Scan in ring order starting after the last choice: the first minimum found is the
    // round-robin successor among the tied endpoints.
    for (let k = 1; k <= n; k++) {
      const index = (((this.cursor + k) % n) + n) % n;
      const e = this.endpoints[index] as Endpoint;
      if (exclude.has(e.id) || !this.usable(e)) continue;
      if (!best || e.outstanding < best.outstanding) best = { index, outstanding: e.outstanding };
    }
    if (!best) return undefined;
    this.cursor = best.index;
    return (this.endpoints[best.index] as Endpoint).id;
  }

  status(): EndpointStatus[] {
    return this.endpoints.map((e) => ({ id: e.id, outstanding: e.outstanding, healthy: e.healthy, allowed: e.breaker?.allowRequest() ?? true }));
  }

  private usable(e: Endpoint): boolean {
    return e.healthy && (e.breaker?.allowRequest() ?? true);
  }

  private find(id: string): Endpoint | undefined {
    return this.endpoints.find((e) => e.id === id);
  }

  private get(id: string): Endpoint {
    const e = this.find(id);
    if (!e) throw new Error(`unknown endpoint ${id}`);
    return e;
  }
}
