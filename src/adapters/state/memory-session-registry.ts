import type { ClaimResult, SessionRegistry, StreamOwner } from "../../ports/session-registry.js";

export interface MemorySessionRegistryOptions {
  /** An entry not renewed (claim, update, heartbeat) for this long expires (default 15 000 ms). */
  ttlMs?: number;
  /** Epoch-ms clock (tests inject one). */
  now?: () => number;
}

interface Entry {
  owner: StreamOwner;
  expiresAt: number;
}

/**
 * The one-node registry: the same claim rules and TTLs as RedisSessionRegistry, in a Map. Expired
 * entries are dropped when touched or listed, so the map holds at most the streams of the last TTL.
 */
export class MemorySessionRegistry implements SessionRegistry {
  private readonly entries = new Map<string, Entry>();
  private readonly ttlMs: number;
  private readonly now: () => number;

  constructor(opts: MemorySessionRegistryOptions = {}) {
    this.ttlMs = opts.ttlMs ?? 15_000;
    this.now = opts.now ?? Date.now;
    if (!(this.ttlMs > 0)) throw new RangeError(`ttlMs must be > 0, got ${this.ttlMs}`);
  }

  async claim(owner: StreamOwner): Promise<ClaimResult> {
    const cur = this.live(owner.stream);
    if (cur && cur.identity !== owner.identity) return { outcome: "refused", holder: { ...cur } };
    this.set({ ...owner, since: cur ? cur.since : owner.since });
    if (!cur) return { outcome: "claimed" };
    if (cur.nodeId === owner.nodeId && cur.sessionId === owner.sessionId) return { outcome: "renewed" };
    return { outcome: "taken-over", previous: { ...cur } };
  }

  async update(stream: string, nodeId: string, patch: Partial<Pick<StreamOwner, "state" | "sessionId">>): Promise<boolean> {
    const cur = this.live(stream);
    if (!cur || cur.nodeId !== nodeId) return false;
    this.set({ ...cur, ...(patch.state ? { state: patch.state } : {}), ...(patch.sessionId ? { sessionId: patch.sessionId } : {}) });
    return true;
  }

  async heartbeat(nodeId: string, owners: readonly StreamOwner[]): Promise<string[]> {
    const lost: string[] = [];
    for (const o of owners) {
      const cur = this.live(o.stream);
      if (!cur) this.set({ ...o, nodeId });
      else if (cur.nodeId === nodeId) this.set(cur);
      else lost.push(o.stream);
    }
    return lost;
  }

  async release(stream: string, nodeId: string): Promise<void> {
    if (this.live(stream)?.nodeId === nodeId) this.entries.delete(stream);
  }

  async get(stream: string): Promise<StreamOwner | undefined> {
    const cur = this.live(stream);
    return cur ? { ...cur } : undefined;
  }

  async list(): Promise<StreamOwner[]> {
    const out: StreamOwner[] = [];
    for (const name of [...this.entries.keys()]) {
      const cur = this.live(name);
      if (cur) out.push({ ...cur });
    }
    return out.sort((a, b) => (a.stream < b.stream ? -1 : a.stream > b.stream ? 1 : 0));
  }

  async close(): Promise<void> {
    this.entries.clear();
  }

  private live(stream: string): StreamOwner | undefined {
    const e = this.entries.get(stream);
    if (!e) return undefined;
    if (e.expiresAt <= this.now()) {
      this.entries.delete(stream);
      return undefined;
    }
    return e.owner;
  }

  private set(owner: StreamOwner): void {
    this.entries.set(owner.stream, { owner: { ...owner }, expiresAt: this.now() + this.ttlMs });
  }
}
