import type { ObjectStore } from "../ports/object-store.js";
import { manifestKey, parseManifest, type RecordingManifest } from "../ports/recording-manifest.js";

/**
 * A change to one recording's manifest: given its newest version (do not mutate it), return the
 * next one, or `null` to delete the manifest (a stored recording only). Throwing changes nothing.
 */
export type ManifestChange = (current: Readonly<RecordingManifest>, ctx: { live: boolean }) => RecordingManifest | null;

/** A stored manifest that does not parse (corrupt or foreign); it is left as it is. */
export class UnreadableManifestError extends Error {
  override name = "UnreadableManifestError";
  constructor(readonly key: string, cause: unknown) {
    super(`unreadable manifest ${key}: ${(cause as Error).message}`, { cause });
  }
}

/** Parses a stored manifest, naming its key when it cannot. */
export function parseStoredManifest(key: string, buf: Buffer): RecordingManifest {
  try {
    return parseManifest(buf);
  } catch (err) {
    throw new UnreadableManifestError(key, err);
  }
}

/** The live recording's writer: it holds the newest manifest in memory and writes it in its own order. */
export interface LiveManifestOwner {
  update(change: ManifestChange): Promise<RecordingManifest>;
}

/**
 * The one way to change a recording's manifest.json. Changes to one recording run one after
 * another, each on the newest version: a tag update and a retention pass can no longer read the
 * same version and write back each other's removed segments. While a recording is live its
 * writer owns the manifest (attach), so its next segment write carries the change rather than
 * overwriting it; afterwards the stored object is read, changed and written.
 */
export class ManifestStore {
  private readonly chains = new Map<string, Promise<unknown>>();
  private readonly owners = new Map<string, LiveManifestOwner>();
  private readonly waiting = new Map<string, number>();
  private readonly writeListeners = new Set<(key: string) => void>();

  constructor(private readonly store: ObjectStore) {}

  /** Routes the recording's changes through its live writer until the returned function is called. */
  attach(stream: string, recordingId: string, owner: LiveManifestOwner): () => void {
    const key = manifestKey(stream, recordingId);
    this.owners.set(key, owner);
    return () => {
      if (this.owners.get(key) === owner) this.owners.delete(key);
    };
  }

  /**
   * Applies `change` to the newest version, after every change queued before it. Resolves with
   * the version written (`undefined` when there is no such recording, or it was deleted).
   */
  update(stream: string, recordingId: string, change: ManifestChange): Promise<RecordingManifest | undefined> {
    const key = manifestKey(stream, recordingId);
    this.waiting.set(key, (this.waiting.get(key) ?? 0) + 1);
    // The owner is looked up when the change's turn comes, not when it is queued: a recording
    // that ended meanwhile has written its last version, which is then read from the store.
    const run = (this.chains.get(key) ?? Promise.resolve()).then(() => {
      const owner = this.owners.get(key);
      return owner ? owner.update(change) : this.updateStored(key, change);
    });
    const tail = run.catch(() => undefined).then(() => {
      const n = (this.waiting.get(key) ?? 1) - 1;
      if (n > 0) this.waiting.set(key, n);
      else this.waiting.delete(key);
    });
    this.chains.set(key, tail);
    void tail.then(() => {
      if (this.chains.get(key) === tail) this.chains.delete(key);
    });
    return run;
  }

  /**
   * Told the key of every stored manifest this store rewrote or deleted (readers that cache by
   * listing time drop their copy: object stores list times at 1 s or 1 ms granularity).
   */
  onWrite(listener: (key: string) => void): () => void {
    this.writeListeners.add(listener);
    return () => this.writeListeners.delete(listener);
  }

  /** Changes queued or running for a recording (observability, and tests that order changes). */
  queued(stream: string, recordingId: string): number {
    return this.waiting.get(manifestKey(stream, recordingId)) ?? 0;
  }

  /** The stored version (`undefined` when absent); unreadable manifests throw. */
  async read(stream: string, recordingId: string): Promise<RecordingManifest | undefined> {
    const key = manifestKey(stream, recordingId);
    if (!(await this.store.stat(key))) return undefined;
    return parseStoredManifest(key, await this.store.get(key));
  }

  private async updateStored(key: string, change: ManifestChange): Promise<RecordingManifest | undefined> {
    if (!(await this.store.stat(key))) return undefined;
    const current = parseStoredManifest(key, await this.store.get(key));
    const next = change(current, { live: false });
    try {
      if (next === null) {
        await this.store.delete(key);
        return undefined;
      }
      await this.store.put(key, Buffer.from(JSON.stringify(next)), "application/json");
      return next;
    } finally {
      for (const l of this.writeListeners) l(key);
    }
  }
}
