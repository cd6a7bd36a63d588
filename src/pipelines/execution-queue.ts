import { PRIORITY_RANK, type Priority } from "./execution-store.js";

interface Entry {
  id: string;
  rank: number;
  seq: number;
}

/**
 * Executions waiting for capacity: highest priority first, first come first served within a
 * priority. Bounded: `offer` refuses past `capacity` so the caller can answer 503 instead of
 * queueing without end; `force` is for executions already accepted (a restart re-queues them).
 */
export class ExecutionQueue {
  private readonly entries: Entry[] = [];
  private seq = 0;

  constructor(readonly capacity: number) {
    if (!Number.isInteger(capacity) || capacity < 0) throw new RangeError(`queue capacity must be an integer >= 0, got ${capacity}`);
  }

  get size(): number {
    return this.entries.length;
  }

  get full(): boolean {
    return this.entries.length >= this.capacity;
  }

  offer(id: string, priority: Priority, force = false): boolean {
    if (!force && this.full) return false;
    const e: Entry = { id, rank: PRIORITY_RANK[priority], seq: this.seq++ };
    // Queues are short (bounded, hundreds): a sorted insert beats a heap's constant factors here.
    let i = this.entries.findIndex((x) => x.rank < e.rank);
    if (i < 0) i = this.entries.length;
    this.entries.splice(i, 0, e);
    return true;
  }

  take(): string | undefined {
    return this.entries.shift()?.id;
  }

  remove(id: string): boolean {
    const i = this.entries.findIndex((e) => e.id === id);
    if (i < 0) return false;
    this.entries.splice(i, 1);
    return true;
  }

  /** Position (0 = next) of a waiting execution, or -1. */
  position(id: string): number {
    return this.entries.findIndex((e) => e.id === id);
  }
}
