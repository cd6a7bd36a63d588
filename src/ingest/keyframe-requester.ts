/**
 * Rate-limits keyframe requests (PLI) to one publisher: the first is sent at once, the ones
 * that come within `minIntervalMs` are coalesced into a single request at the end of it.
 */
export class KeyframeRequester {
  private lastSentAt = -Infinity;
  private timer: NodeJS.Timeout | undefined;
  private sent = 0;
  private coalesced = 0;

  constructor(
    private readonly minIntervalMs: number,
    private readonly send: () => void,
    private readonly now: () => number = Date.now,
  ) {}

  request(): void {
    if (this.timer) {
      this.coalesced++;
      return;
    }
    const wait = this.lastSentAt + this.minIntervalMs - this.now();
    if (wait <= 0) {
      this.fire();
      return;
    }
    this.coalesced++;
    this.timer = setTimeout(() => {
      this.timer = undefined;
      this.fire();
    }, wait);
  }

  private fire(): void {
    this.lastSentAt = this.now();
    this.sent++;
    this.send();
  }

  get stats(): { sent: number; coalesced: number } {
    return { sent: this.sent, coalesced: this.coalesced };
  }

  stop(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = undefined;
  }
}
