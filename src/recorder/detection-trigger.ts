import type { Logger } from "pino";
import type { StreamRegistry } from "../core/stream-registry.js";
import { VIDEO_ANALYSIS_TOPIC, type BusEvent, type EventBus } from "../ports/event-bus.js";
import type { Recorder } from "./recorder.js";

/** IFC_RECORD_ON_DETECTION and its pre/post roll. */
export interface DetectionTriggerOptions {
  /** Detection class names (`qr_code`, `motion`) that start a recording. */
  types: readonly string[];
  preRollMs: number;
  postRollMs: number;
}

/**
 * Records a stream while the AI worker sees something in it: the first analysis event with a
 * listed detection starts a recording with a pre-roll from the stream buffer, tagged with what
 * triggered it; each further one pushes the stop back to `postRollMs` after it. Only recordings
 * it started are stopped: one an operator (or IFC_RECORD) started is left alone.
 */
export class DetectionTrigger {
  private readonly types: ReadonlySet<string>;
  /** stream → the id of the recording this trigger started, while it is live. */
  private readonly triggered = new Map<string, string>();
  private readonly unsubscribe: () => void;
  private readonly stopListening: () => void;

  constructor(
    bus: EventBus,
    private readonly registry: StreamRegistry,
    private readonly recorder: Recorder,
    private readonly opts: DetectionTriggerOptions,
    private readonly log: Logger,
  ) {
    this.types = new Set(opts.types);
    this.unsubscribe = bus.subscribe(VIDEO_ANALYSIS_TOPIC, (e) => this.onAnalysis(e));
    this.stopListening = recorder.onLifecycle((e) => {
      if (e.kind === "stopped" && this.triggered.get(e.stream) === e.recordingId) this.triggered.delete(e.stream);
    });
  }

  private onAnalysis(event: BusEvent): void {
    const matched = firstMatch(event.value, this.types);
    if (matched === undefined) return;
    const streamId = event.value.stream_id;
    const stream = this.registry.get(typeof streamId === "string" ? streamId : event.key);
    if (!stream) return;
    const current = this.recorder.liveManifest(stream.name);
    const ours = this.triggered.get(stream.name);
    if (current && current.recordingId !== ours) return; // someone else's recording
    if (!current) {
      const recordingId = this.recorder.start(stream, { trigger: "detection", detection: matched }, { preRollMs: this.opts.preRollMs });
      this.triggered.set(stream.name, recordingId);
      this.log.info({ stream: stream.name, recording: recordingId, detection: matched, preRollMs: this.opts.preRollMs }, "recording started on a detection");
    }
    // Each matching detection moves the stop to postRollMs after it.
    this.recorder.stop(stream.name, { postRollMs: this.opts.postRollMs }).catch((err: unknown) => {
      this.log.warn({ err, stream: stream.name }, "detection-triggered recording not stopped");
    });
  }

  close(): void {
    this.unsubscribe();
    this.stopListening();
  }
}

/** The first detection class in an analysis event (`analysis_results.detections[].class_name`) that is listed. */
function firstMatch(value: Record<string, unknown>, types: ReadonlySet<string>): string | undefined {
  const results = value.analysis_results;
  if (typeof results !== "object" || results === null) return undefined;
  const detections = (results as { detections?: unknown }).detections;
  if (!Array.isArray(detections)) return undefined;
  for (const d of detections as unknown[]) {
    const name = typeof d === "object" && d !== null ? (d as { class_name?: unknown }).class_name : undefined;
    if (typeof name === "string" && types.has(name)) return name;
  }
  return undefined;
}
