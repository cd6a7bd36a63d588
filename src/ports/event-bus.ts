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

/**
 * A subscriber may return a promise: the bus counts it as handled when it settles. A handler
 * that throws or rejects has its event sent to the topic's dead-letter topic
 * (`deadLetterTopic(topic)`), never back to the publisher.
 */
export type EventHandler = (event: BusEvent) => void;

/** Counters every bus keeps (Prometheus `ifc_events_*`). */
export interface EventBusStats {
  /** Events accepted by publish(). */
  published: number;
  /** Handler calls that completed. */
  delivered: number;
  /** Handler calls that threw or rejected (each also dead-lettered). */
  failed: number;
  /** Events sent to a dead-letter topic. */
  deadLettered: number;
  /** Events lost to a full bounded queue (a slow subscriber, or the engine unreachable too long): counted and logged, never silent. */
  dropped: number;
  /** Events accepted and not yet handed to the engine (Kafka: waiting while the broker is unreachable). */
  queued: number;
}

export interface EventBus {
  /** Never waits and never throws on the media path: an engine that is down buffers (bounded). */
  publish(event: BusEvent): void;
  /**
   * Subscribers of a topic on this node (WebSocket fan-out, recording tags); returns the
   * unsubscribe. With Kafka they see every node's events (a per-node consumer group), in order
   * per key; delivery is at least once.
   */
  subscribe(topic: string, handler: EventHandler): () => void;
  stats(): EventBusStats;
  /** Delivers what is queued (bounded by the engine's own timeout), then stops. */
  close(): Promise<void>;
}

/** Where events whose handler failed go, with the error: `<topic>.dlq`. */
export function deadLetterTopic(topic: string): string {
  return `${topic}.dlq`;
}

/** The value of a dead-letter message. */
export interface DeadLetter {
  [key: string]: unknown;
  topic: string;
  key: string;
  value: Record<string, unknown>;
  error: string;
  /** Epoch ms. */
  failedAt: number;
}

/** Every message's value carries it (`schema_version`), so consumers can evolve. */
export const EVENT_SCHEMA_VERSION = 1;

/** Batch pipeline progress (design documents). Key: the execution id. */
export const PIPELINE_PROGRESS_TOPIC = "pipeline-progress";
/** Executions waiting for their services: the fallback queue of the direct gRPC path. */
export const IMAGE_PROCESSING_TOPIC = "image-processing-requests";
/** Per-node and per-stream figures, periodically. Key: the node id (or the stream). */
export const SYSTEM_METRICS_TOPIC = "system-metrics";

export const VIDEO_ANALYSIS_TOPIC = "video-analysis-events";
/** The audit trail (control/audit.ts): who did what, to what, from where, when. Key: the target (or who). */
export const AUDIT_TOPIC = "audit-events";

/** Stream lifecycle (published, reconnecting, resumed, unpublished, recording started/stopped...). Key: the stream name. */
export const STREAM_EVENTS_TOPIC = "stream-events";

/** The value of a `stream-events` message. */
export interface StreamLifecycleEvent {
  [key: string]: unknown;
  type: "published" | "reconnecting" | "resumed" | "unpublished" | "recording-started" | "recording-stopped" | "segment-completed" | "clip-exported";
  stream: string;
  /** Epoch ms. */
  at: number;
  /** The publisher session now carrying the stream (after a takeover: the new one). */
  sessionId?: string;
  /** Why (reconnecting: the disconnect cause; resumed: ice-restart | re-post | takeover; unpublished: grace-expired, deleted, kicked...). */
  reason?: string;
  recordingId?: string;
}
