import { readJsonIfExists, SerialQueue, writeJsonAtomic } from "./atomic-file.js";
import type { RefreshRecord, SessionStore } from "../../ports/session-store.js";

export type { RefreshRecord, SessionStore };

interface Doc {
  version: 1;
  refresh: RefreshRecord[];
  denied: { jti: string; expiresAtMs: number }[];
}

/**
 * Sessions in memory, written through to `<auth dir>/sessions.json` (0600, atomic) so a restart
 * keeps them. Expired entries are dropped at each write, which bounds the file by the number of
 * live sessions.
 */
export class FileSessionStore implements SessionStore {
  private readonly refresh = new Map<string, RefreshRecord>();
  private readonly denied = new Map<string, number>();
  private readonly writes = new SerialQueue();
  private queued: Promise<void> | undefined;

  constructor(private readonly file: string, private readonly now: () => number = Date.now) {}

  async load(): Promise<void> {
    const doc = (await readJsonIfExists(this.file)) as Partial<Doc> | undefined;
    if (!doc) return;
    for (const r of doc.refresh ?? []) this.refresh.set(r.hash, { ...r });
    for (const d of doc.denied ?? []) this.denied.set(d.jti, d.expiresAtMs);
  }

  /** Resolves once every change so far is on file (shutdown). */
  flush(): Promise<void> {
    return this.writes.run(async () => undefined);
  }

  async put(rec: RefreshRecord): Promise<void> {
    this.refresh.set(rec.hash, { ...rec });
    await this.save();
  }

  /** An expired record may still be returned (until the next write drops it): callers check expiresAtMs. */
  async get(hash: string): Promise<RefreshRecord | undefined> {
    const r = this.refresh.get(hash);
    return r ? { ...r } : undefined;
  }

  async spend(hash: string): Promise<boolean> {
    const r = this.live(hash);
    if (!r || r.spent) return false;
    r.spent = true; // synchronously, before any await: two concurrent refreshes cannot both win
    await this.save();
    return true;
  }

  async revokeFamily(family: string): Promise<void> {
    for (const r of this.refresh.values()) if (r.family === family) r.revoked = true;
    await this.save();
  }

  async revokeUser(username: string): Promise<void> {
    for (const r of this.refresh.values()) if (r.username === username) r.revoked = true;
    await this.save();
  }

  async deny(jti: string, expiresAtMs: number): Promise<void> {
    this.denied.set(jti, expiresAtMs);
    await this.save();
  }

  async isDenied(jti: string): Promise<boolean> {
    const until = this.denied.get(jti);
    return until !== undefined && until > this.now();
  }

  /** The record unless it has expired (expired ones stay in the map until the next write). */
  private live(hash: string): RefreshRecord | undefined {
    const r = this.refresh.get(hash);
    return r && r.expiresAtMs > this.now() ? r : undefined;
  }

  /**
   * One write covers every change made before it starts: a burst of logins queues one rewrite
   * of the file, not one each.
   */
  private save(): Promise<void> {
    if (this.queued) return this.queued;
    const write = this.writes.run(async () => {
      this.queued = undefined; // changes from here on need the next write
      const t = this.now();
      for (const [k, r] of this.refresh) if (r.expiresAtMs <= t) this.refresh.delete(k);
      for (const [k, until] of this.denied) if (until <= t) this.denied.delete(k);
      const doc: Doc = { version: 1, refresh: [...this.refresh.values()], denied: [...this.denied].map(([jti, expiresAtMs]) => ({ jti, expiresAtMs })) };
      await writeJsonAtomic(this.file, doc);
    });
    this.queued = write;
    return write;
  }
}
