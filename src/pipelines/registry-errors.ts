/** Why no instance could take a call: the executor routes such executions to the fallback queue. */
export type NoServiceReason = "unknown-service" | "no-healthy-instance" | "breaker-open";

export class NoServiceAvailableError extends Error {
  override readonly name = "NoServiceAvailableError";
  constructor(
    readonly service: string,
    readonly reason: NoServiceReason,
    /** When trying again may help (breaker pause left, or the next health check); ms. */
    readonly retryAfterMs?: number,
  ) {
    super(`no instance of ${service} available: ${reason}${retryAfterMs !== undefined ? ` (retry after ${retryAfterMs} ms)` : ""}`);
  }
}

/** register() beyond the maxRegisteredInstances limit. */
export class RegistryFullError extends Error {
  override readonly name = "RegistryFullError";
  constructor(readonly limit: number) {
    super(`service registry full: at most ${limit} registered instances`);
  }
}

/** The registry was closed; nothing can be acquired or registered any more. */
export class RegistryClosedError extends Error {
  override readonly name = "RegistryClosedError";
  constructor() {
    super("service registry is closed");
  }
}
