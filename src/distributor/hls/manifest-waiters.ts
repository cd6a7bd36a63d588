import type { RecordingManifest } from "../../ports/recording-manifest.js";

/** Why a wait ended without the manifest it waited for. */
export type WaitFailure = "timeout" | "aborted" | "closed" | "full";

interface Waiter {
  until: (m: RecordingManifest) => boolean;
  settle: (result: RecordingManifest | WaitFailure) => void;
}

/**
 * Requests held until a live recording's manifest reaches some state (LL-HLS blocking reloads
 * and preload-hinted parts). Woken by the recorder's change notifications, never by polling;
 * each stream holds at most `maxPerStream` of them, so viewers cannot pile up without bound.
 */
export class ManifestWaiters {
  private readonly waiting = new Map<string, Set<Waiter>>();
  private closed = false;

  constructor(private readonly maxPerStream: number) {}

  /** Feed every manifest change here (Recorder.onManifestChange). */
  notify(stream: string, manifest: RecordingManifest): void {
    const set = this.waiting.get(stream);
    if (!set) return;
    for (const w of [...set]) if (w.until(manifest)) w.settle(manifest);
  }

  /**
   * Resolves with the first manifest of `stream` for which `until` holds, or with why it did not
   * come: `timeout`, `aborted` (the client went away), `closed` (server shutting down) or `full`
   * (the stream already holds `maxPerStream` waiting requests).
   */
  wait(stream: string, until: (m: RecordingManifest) => boolean, timeoutMs: number, signal?: AbortSignal): Promise<RecordingManifest | WaitFailure> {
    if (this.closed) return Promise.resolve("closed");
    if (signal?.aborted) return Promise.resolve("aborted");
    let set = this.waiting.get(stream);
    if (!set) {
      set = new Set();
      this.waiting.set(stream, set);
    }
    if (set.size >= this.maxPerStream) return Promise.resolve("full");
    const waiters = set;
    return new Promise((resolve) => {
      const onAbort = (): void => w.settle("aborted");
      const timer = setTimeout(() => w.settle("timeout"), timeoutMs);
      const w: Waiter = {
        until,
        settle: (result) => {
          clearTimeout(timer);
          signal?.removeEventListener("abort", onAbort);
          waiters.delete(w);
          if (waiters.size === 0 && this.waiting.get(stream) === waiters) this.waiting.delete(stream);
          resolve(result);
        },
      };
      signal?.addEventListener("abort", onAbort, { once: true });
      waiters.add(w);
    });
  }

  /** Requests waiting on `stream` now. */
  count(stream: string): number {
    return this.waiting.get(stream)?.size ?? 0;
  }

  /** Releases every waiting request with `closed`; later waits resolve at once. */
  close(): void {
    this.closed = true;
    for (const set of [...this.waiting.values()]) for (const w of [...set]) w.settle("closed");
  }
}
