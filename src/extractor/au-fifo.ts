/**
 * Pairs decoder output with the access units written to it. The decoder (low_delay, no
 * B-frames, one thread) emits exactly one frame per access unit, in order, so a FIFO of the
 * units' metadata is enough — as long as the decoder neither drops nor holds a frame. When it
 * does (a unit it could not decode), every later frame would carry the wrong timestamps; the
 * sign is that the FIFO stops emptying. `desynced` reports it so the owner can restart the
 * decoder at the next IDR.
 */
export class AuFifo<T> {
  private items: T[] = [];
  private head = 0;
  /** Units pushed since the FIFO was last empty. */
  private pushesSinceEmpty = 0;
  private lastEmptyMs: number;

  constructor(
    /** Depth never back to 0 over this many pushes AND this long means frames were lost. */
    private readonly maxPushesNotEmpty = 60,
    private readonly maxMsNotEmpty = 2000,
    nowMs = 0,
  ) {
    this.lastEmptyMs = nowMs;
  }

  get depth(): number {
    return this.items.length - this.head;
  }

  push(item: T, nowMs: number): void {
    if (this.depth === 0) {
      this.lastEmptyMs = nowMs;
      this.pushesSinceEmpty = 0;
    }
    this.items.push(item);
    this.pushesSinceEmpty++;
  }

  /** The oldest unit's metadata, for a frame that just came out; undefined if none was pending. */
  shift(nowMs: number): T | undefined {
    if (this.depth === 0) return undefined;
    const item = this.items[this.head] as T;
    this.head++;
    if (this.head === this.items.length) {
      this.items = [];
      this.head = 0;
      this.lastEmptyMs = nowMs;
      this.pushesSinceEmpty = 0;
    } else if (this.head > 1024) {
      this.items = this.items.slice(this.head);
      this.head = 0;
    }
    return item;
  }

  /** True when the decoder has fallen out of step (or so far behind that restarting is better). */
  desynced(nowMs: number): boolean {
    return this.depth > 0 && this.pushesSinceEmpty > this.maxPushesNotEmpty && nowMs - this.lastEmptyMs > this.maxMsNotEmpty;
  }

  clear(nowMs: number): void {
    this.items = [];
    this.head = 0;
    this.pushesSinceEmpty = 0;
    this.lastEmptyMs = nowMs;
  }
}
