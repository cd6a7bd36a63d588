/**
 * The shared state store (Redis) cannot answer now: unreachable, restarting, or too slow. State
 * adapters throw it fast instead of waiting for the store to come back, so a publish or a login
 * fails at once (control/ maps it to 503) and the caller may retry; it never hangs.
 */
export class StateUnavailableError extends Error {
  override name = "StateUnavailableError";
  constructor(
    /** What was being done, e.g. "session-registry claim". */
    readonly operation: string,
    options?: { cause?: unknown },
  ) {
    const why = options?.cause instanceof Error ? `: ${options.cause.message}` : "";
    super(`state store unavailable during ${operation}${why}`, options);
  }
}
