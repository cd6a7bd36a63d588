import type { Logger } from "pino";
import { deadLetterTopic, type BusEvent, type DeadLetter, type EventBus, type EventBusStats, type EventHandler } from "../../ports/event-bus.js";

/** Default bound on one subscriber's unfinished async deliveries. */
export const DEFAULT_MAX_PENDING_PER_SUBSCRIBER = 1000;

interface Subscriber {
  handler: EventHandler;
  /** Async deliveries not settled yet: the subscriber's queue. */
  pending: number;
  dropped: number;
  failed: number;
  /** A drop was logged since the queue last drained (one warning per episode). */
  dropLogged: boolean;
}

/**
 * The embedded event bus: subscribers of a topic are called in publish order. Delivery is
 * synchronous so a subscriber sees events in order without a queue. The bus cannot be
 * unreachable; its faults are its subscribers':
 * - one that throws (or whose promise rejects) is logged and counted, and reaches neither the
 *   others nor the publisher (an unhandled rejection would end the process); the event goes,
 *   with the error, to `deadLetterTopic(topic)` on this same bus (not for a dead-letter topic
 *   itself, so a failing dead-letter handler cannot loop);
 * - one that is async and slow holds at most `maxPendingPerSubscriber` unfinished deliveries;
 *   beyond that its events are dropped and counted, so it cannot pile up memory. A synchronous
 *   subscriber runs on the publisher's time and must stay quick (the WebSocket fan-out only
 *   enqueues).
 */
export class InProcessEventBus implements EventBus {
  private readonly handlers = new Map<string, Set<Subscriber>>();
  private closed = false;
  private delivered = 0;
  private failed = 0;
  private dropped = 0;
  private published = 0;
  private deadLettered = 0;

  constructor(
    private readonly log?: Logger,
    private readonly maxPendingPerSubscriber = DEFAULT_MAX_PENDING_PER_SUBSCRIBER,
  ) {}

  stats(): EventBusStats {
    // Nothing is ever queued: delivery is synchronous (async handlers are tracked per subscriber).
    return { published: this.published, delivered: this.delivered, failed: this.failed, deadLettered: this.deadLettered, dropped: this.dropped, queued: 0 };
  }

  publish(event: BusEvent): void {
    if (this.closed) return;
    this.published++;
    this.deliver(event);
  }

  private deliver(event: BusEvent): void {
    const set = this.handlers.get(event.topic);
    if (!set) return;
    for (const s of set) {
      if (s.pending >= this.maxPendingPerSubscriber) {
        s.dropped++;
        this.dropped++;
        if (!s.dropLogged) {
          s.dropLogged = true;
          this.log?.warn({ topic: event.topic, pending: s.pending, droppedSoFar: s.dropped }, "event subscriber too slow: dropping its events until it catches up");
        }
        continue;
      }
      try {
        const result: unknown = s.handler(event);
        this.delivered++;
        if (isThenable(result)) this.track(s, result, event);
      } catch (err) {
        this.fail(s, err, event);
      }
    }
  }

  private track(s: Subscriber, result: PromiseLike<unknown>, event: BusEvent): void {
    s.pending++;
    result.then(
      () => this.settle(s),
      (err: unknown) => {
        this.settle(s);
        this.fail(s, err, event);
      },
    );
  }

  private settle(s: Subscriber): void {
    s.pending--;
    if (s.pending === 0) s.dropLogged = false;
  }

  private fail(s: Subscriber, err: unknown, event: BusEvent): void {
    s.failed++;
    this.failed++;
    this.log?.warn({ err, topic: event.topic }, "event subscriber failed");
    if (this.closed || event.topic.endsWith(".dlq")) return;
    const letter: DeadLetter = { topic: event.topic, key: event.key, value: event.value, error: err instanceof Error ? err.message : String(err), failedAt: Date.now() };
    this.deadLettered++;
    this.deliver({ topic: deadLetterTopic(event.topic), key: event.key, value: letter });
  }

  subscribe(topic: string, handler: EventHandler): () => void {
    let set = this.handlers.get(topic);
    if (!set) this.handlers.set(topic, (set = new Set()));
    const sub: Subscriber = { handler, pending: 0, dropped: 0, failed: 0, dropLogged: false };
    set.add(sub);
    return () => {
      set.delete(sub);
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.handlers.clear();
  }
}

function isThenable(v: unknown): v is PromiseLike<unknown> {
  return typeof v === "object" && v !== null && typeof (v as { then?: unknown }).then === "function";
}
