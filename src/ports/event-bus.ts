/**
 * Where analysis results, stream lifecycle and recording events go: in-process by default,
 * Kafka when configured. Publishing never waits on the bus; a bus that cannot keep up buffers
 * (bounded) and counts what it drops, so the media path is never held back.
 */
export interface BusEvent {
  /** Topic, e.g. `video-analysis-events`. */
  topic: string;
  /** Partition key (the stream name), so one stream's events stay in order. */
  key: string;
  value: Record<string, unknown>;
}

export type EventHandler = (event: BusEvent) => void;

export interface EventBus {
  publish(event: BusEvent): void;
  /** Local subscribers of a topic (WebSocket fan-out, recording tags); returns the unsubscribe. */
  subscribe(topic: string, handler: EventHandler): () => void;
  close(): Promise<void>;
}

export const VIDEO_ANALYSIS_TOPIC = "video-analysis-events";
/** The audit trail (control/audit.ts): who did what, to what, from where, when. Key: the target (or who). */
export const AUDIT_TOPIC = "audit-events";

/** Stream lifecycle (published, reconnecting, resumed, unpublished, recording started/stopped...). Key: the stream name. */
export const STREAM_EVENTS_TOPIC = "stream-events";

/** The value of a `stream-events` message. */
export interface StreamLifecycleEvent {
  [key: string]: unknown;
  type: "published" | "reconnecting" | "resumed" | "unpublished" | "recording-started" | "recording-stopped";
  stream: string;
  /** Epoch ms. */
  at: number;
  /** The publisher session now carrying the stream (after a takeover: the new one). */
  sessionId?: string;
  /** Why (reconnecting: the disconnect cause; resumed: ice-restart | re-post | takeover; unpublished: grace-expired, deleted, kicked...). */
  reason?: string;
  recordingId?: string;
}
