/**
 * The bounded, in-order queue between publish() and the Kafka producer. Entries leave only when
 * the broker acknowledged them (take() then ack()), so a failed send is retried from the same
 * place and order holds. A full queue refuses the newest entry: the caller counts and logs it.
 */
export class Outbox<T> {
  private items: T[] = [];
  private head = 0;
  /** Entries handed out by take() and not yet acknowledged. */
  private taken = 0;

  constructor(private readonly max: number) {
    if (!Number.isInteger(max) || max < 1) throw new Error(`maxQueuedEvents must be a positive integer, got ${max}`);
  }

  get size(): number {
    return this.items.length - this.head;
  }

  /** False when full (the entry is not queued). */
  push(item: T): boolean {
    if (this.size >= this.max) return false;
    this.items.push(item);
    return true;
  }

  /**
   * The oldest entries, in order, while `weigh` keeps the sum within `maxWeight` (at least one, so
   * an entry heavier than the limit still goes out alone), at most `maxCount`.
   */
  take(maxWeight: number, maxCount: number, weigh: (item: T) => number): T[] {
    const out: T[] = [];
    let weight = 0;
    for (let i = this.head; i < this.items.length && out.length < maxCount; i++) {
      const item = this.items[i] as T;
      const w = weigh(item);
      if (out.length > 0 && weight + w > maxWeight) break;
      weight += w;
      out.push(item);
    }
    this.taken = out.length;
    return out;
  }

  /** The last take() went out: drop those entries. */
  ack(): void {
    this.head += this.taken;
    this.taken = 0;
    // Compact now and then, so a long-running queue does not keep every entry it ever held.
    if (this.head > 1024 && this.head * 2 > this.items.length) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
  }

  /** Empties the queue; returns what was in it. */
  drain(): T[] {
    const left = this.items.slice(this.head);
    this.items = [];
    this.head = 0;
    this.taken = 0;
    return left;
  }
}
