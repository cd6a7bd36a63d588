import type { ObjectStore } from "../../ports/object-store.js";
import type { ClientImageFormat } from "./frame-decoder.js";

export const ARCHIVE_PREFIX = "video-stream-archive";

export interface FrameArchiverOptions {
  /** Writes queued or in flight at once (default 8); a frame beyond that is not archived and is counted. */
  maxPendingWrites?: number;
}

export interface ArchiveStats {
  archived: number;
  /** Not archived because `maxPendingWrites` were already waiting. */
  dropped: number;
  /** The store refused the write. */
  failed: number;
  pending: number;
}

/**
 * Stores selected client frames' original bytes off the hot path: `archive()` returns at once,
 * the write runs in the background, and at most `maxPendingWrites` are outstanding (a slow
 * store costs archived frames, counted, never memory or latency). Shared by every session.
 */
export class FrameArchiver {
  private readonly maxPending: number;
  private readonly inFlight = new Set<Promise<void>>();
  private readonly counts = { archived: 0, dropped: 0, failed: 0 };

  constructor(
    private readonly store: Pick<ObjectStore, "put">,
    opts: FrameArchiverOptions = {},
    private readonly onError: (key: string, err: Error) => void = () => undefined,
  ) {
    this.maxPending = opts.maxPendingWrites ?? 8;
    if (!(this.maxPending >= 1)) throw new RangeError(`maxPendingWrites must be ≥ 1, got ${this.maxPending}`);
  }

  /** `video-stream-archive/<source_id>/<timestamp_ms>-<seq>.jpg` (`.png` for PNG frames). */
  static keyOf(sourceId: string, timestampMs: number, sequence: number, format: ClientImageFormat): string {
    return `${ARCHIVE_PREFIX}/${sourceId}/${timestampMs}-${sequence}.${format === "png" ? "png" : "jpg"}`;
  }

  /** The key it will be written under, or undefined when the queue was full (counted). */
  archive(sourceId: string, timestampMs: number, sequence: number, format: ClientImageFormat, bytes: Buffer): string | undefined {
    if (this.inFlight.size >= this.maxPending) {
      this.counts.dropped++;
      return undefined;
    }
    const key = FrameArchiver.keyOf(sourceId, timestampMs, sequence, format);
    const write: Promise<void> = this.store.put(key, bytes, format === "png" ? "image/png" : "image/jpeg").then(
      () => {
        this.counts.archived++;
      },
      (err: unknown) => {
        this.counts.failed++;
        this.onError(key, err as Error);
      },
    ).finally(() => this.inFlight.delete(write));
    this.inFlight.add(write);
    return key;
  }

  stats(): ArchiveStats {
    return { ...this.counts, pending: this.inFlight.size };
  }

  /** Waits for the writes in flight (shutdown, tests). */
  async drain(): Promise<void> {
    while (this.inFlight.size > 0) await Promise.all([...this.inFlight]);
  }
}
