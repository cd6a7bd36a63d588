import type { Logger } from "pino";
import type { BusEvent, EventBus, EventHandler } from "../../ports/event-bus.js";

/**
 * The embedded event bus: subscribers of a topic are called in publish order. Delivery is
 * synchronous so a subscriber sees events in order without a queue; a subscriber that throws is
 * logged and does not stop the others (nor the publisher).
 */
export class InProcessEventBus implements EventBus {
  private readonly handlers = new Map<string, Set<EventHandler>>();
  private closed = false;

  constructor(private readonly log?: Logger) {}

  publish(event: BusEvent): void {
    if (this.closed) return;
    const set = this.handlers.get(event.topic);
    if (!set) return;
    for (const h of set) {
      try {
        h(event);
      } catch (err) {
        this.log?.warn({ err, topic: event.topic }, "event subscriber failed");
      }
    }
  }

  subscribe(topic: string, handler: EventHandler): () => void {
    let set = this.handlers.get(topic);
    if (!set) this.handlers.set(topic, (set = new Set()));
    set.add(handler);
    return () => {
      set.delete(handler);
    };
  }

  async close(): Promise<void> {
    this.closed = true;
    this.handlers.clear();
  }
}
