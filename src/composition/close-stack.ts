/** How the stack reports a closer that failed (pino's Logger fits). */
export interface CloseLog {
  error(obj: object, msg: string): void;
  debug?(obj: object, msg: string): void;
}

/** Undoes one thing the composition root made (stops a timer, ends a child, flushes a queue). */
export type Closer = () => void | Promise<void>;

/**
 * What the composition root made, and how to undo it (MediaMTX's createResources /
 * closeResources): each builder pushes its closer as soon as the thing exists, and `close()`
 * runs them newest first. The same stack serves a graceful stop and a start that failed half
 * way, so a failed start leaves nothing behind (no child process, timer or socket).
 */
export class CloseStack {
  private readonly entries: { name: string; close: Closer }[] = [];
  private closing: Promise<void> | undefined;

  constructor(private readonly log?: CloseLog) {}

  /** Names, oldest first, of what is still to close (for tests and diagnostics). */
  get names(): string[] {
    return this.entries.map((e) => e.name);
  }

  push(name: string, close: Closer): void {
    // Something made after the stop began would never be closed: refuse it loudly.
    if (this.closing) throw new Error(`cannot add "${name}": the server is closing`);
    this.entries.push({ name, close });
  }

  /**
   * Runs every closer once, newest first, each after the previous settled. A failing closer is
   * logged and does not stop the others; the first failure rejects once all have run.
   * Idempotent: later calls return the same promise.
   */
  close(): Promise<void> {
    return (this.closing ??= this.run());
  }

  private async run(): Promise<void> {
    const failures: { name: string; err: unknown }[] = [];
    for (let e = this.entries.pop(); e; e = this.entries.pop()) {
      try {
        await e.close();
        this.log?.debug?.({ resource: e.name }, "closed");
      } catch (err) {
        failures.push({ name: e.name, err });
        this.log?.error({ err, resource: e.name }, "closing failed");
      }
    }
    const first = failures[0];
    if (first) {
      const why = first.err instanceof Error ? first.err.message : String(first.err);
      throw new Error(`closing ${first.name} failed: ${why}${failures.length > 1 ? ` (and ${failures.length - 1} more)` : ""}`, { cause: first.err });
    }
  }
}
