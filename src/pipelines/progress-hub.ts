import { PIPELINE_PROGRESS_TOPIC, type EventBus } from "../ports/event-bus.js";
import type { ProgressEvent } from "./execution-service.js";

type Listener = (event: ProgressEvent) => void;

/**
 * One subscription to `pipeline-progress` for the whole node, fanned out by execution id: the
 * WebSocket of an execution gets its events whichever node ran it (through Kafka when clustered).
 */
export class ProgressHub {
  private readonly listeners = new Map<string, Set<Listener>>();
  private readonly unsubscribe: () => void;

  constructor(bus: EventBus) {
    this.unsubscribe = bus.subscribe(PIPELINE_PROGRESS_TOPIC, (e) => {
      const id = e.value.execution_id;
      if (typeof id !== "string") return;
      const set = this.listeners.get(id);
      if (!set) return;
      for (const l of [...set]) l(e.value as ProgressEvent);
    });
  }

  /** Listens to one execution's events; returns the function that stops listening. */
  listen(executionId: string, listener: Listener): () => void {
    let set = this.listeners.get(executionId);
    if (!set) this.listeners.set(executionId, (set = new Set()));
    set.add(listener);
    return () => {
      set.delete(listener);
      if (set.size === 0) this.listeners.delete(executionId);
    };
  }

  get listenerCount(): number {
    let n = 0;
    for (const s of this.listeners.values()) n += s.size;
    return n;
  }

  close(): void {
    this.unsubscribe();
    this.listeners.clear();
  }
}
