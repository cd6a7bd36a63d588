/**
 * The one polling wait of the test suite. Tests wait on a condition, never for a fixed time:
 * on a busy two-core machine a fixed sleep is either too short (flaky) or too long (slow).
 * The timeout is a safety net, not the subject of the test: keep it generous.
 */
export interface WaitForOptions {
  /** Give up after this long (default 10 s). */
  timeoutMs?: number;
  /** Poll interval (default 20 ms). */
  intervalMs?: number;
  /** Named in the timeout error, so a failure says what was awaited. */
  what?: string;
}

export async function waitFor(cond: () => boolean | Promise<boolean>, opts: WaitForOptions | number = {}): Promise<void> {
  const { timeoutMs = 10_000, intervalMs = 20, what = "condition" } = typeof opts === "number" ? { timeoutMs: opts } : opts;
  const until = Date.now() + timeoutMs;
  while (!(await cond())) {
    if (Date.now() > until) throw new Error(`${what} not met within ${timeoutMs} ms`);
    await new Promise((r) => setTimeout(r, intervalMs));
  }
}

/** Resolves with the first value `get` returns that is not undefined. */
export async function waitForValue<T>(get: () => T | undefined | Promise<T | undefined>, opts: WaitForOptions | number = {}): Promise<T> {
  let value: T | undefined;
  await waitFor(async () => (value = await get()) !== undefined, opts);
  return value as T;
}
