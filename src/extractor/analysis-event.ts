import type { Detection } from "../generated/imageflow/v1/common.js";
import type { ProductInfo } from "./product-info.js";

/** Where each frame's time went, in ms from the arrival of its last RTP packet. */
export interface FrameLatency {
  /** Last RTP packet arrived → frame decoded. */
  decodeMs: number;
  /** Last RTP packet arrived → frame written to the worker's stream. */
  toWorkerMs: number;
  /** Written to the worker → its result received. */
  workerRoundTripMs: number;
  /** Last RTP packet arrived → result received. */
  totalMs: number;
  /** Last RTP packet arrived → the worker received the frame, when the worker reports it. */
  workerReceivedMs?: number;
}

/**
 * One processed frame on the `video-analysis-events` topic. Field names follow the design
 * documents' Kafka message (`event_type`, `video_id`, `product_info`, `analysis_results`,
 * `timestamp`), extended with what a consumer needs to place a result on the video.
 */
export interface AnalysisEvent {
  [key: string]: unknown;
  event_type: "analysis_completed";
  event_id: string;
  stream_id: string;
  /** The recording the frame belongs to (null when the stream is not being recorded). */
  video_id: string | null;
  sequence: number;
  product_info?: ProductInfo;
  analysis_results: {
    detection_count: number;
    detections: {
      class_name: string;
      confidence: number;
      bbox?: { x: number; y: number; width: number; height: number };
      attributes: Record<string, string>;
    }[];
    processing_time_ms: number;
    processing_stats: Record<string, string>;
  };
  frame: { width: number; height: number; pixel_format: string; captured_at: string; preset: string; model_tier: string };
  latency_ms: FrameLatency;
  worker: string;
  timestamp: string;
}

export function detectionsJson(detections: readonly Detection[]): AnalysisEvent["analysis_results"]["detections"] {
  return detections.map((d) => ({
    class_name: d.className,
    confidence: d.confidence,
    ...(d.bbox ? { bbox: { x: d.bbox.x, y: d.bbox.y, width: d.bbox.width, height: d.bbox.height } } : {}),
    attributes: { ...d.attributes },
  }));
}
