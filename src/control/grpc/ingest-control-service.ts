import { Metadata, status, type ServerWritableStream, type UntypedServiceImplementation } from "@grpc/grpc-js";
import { assertStreamName } from "../../core/stream-name.js";
import type { LiveStream, StreamRegistry } from "../../core/stream-registry.js";
import { parseSpan } from "../../core/time-param.js";
import { BadRequestError, NotFoundError } from "../../errors.js";
import type { AiFeed, AiStreamStats } from "../../extractor/ai-feed.js";
import type { QosPresetName } from "../../extractor/qos-presets.js";
import {
  QosPreset,
  StreamEventType,
  type AiStatus,
  type Clip,
  type IngestControlServer,
  type StreamEvent,
  type StreamInfo,
  type WatchStreamsRequest,
} from "../../generated/imageflow/v1/ingest_control.js";
import type { WhipIngest } from "../../ingest/whip-ingest.js";
import type { ClipService, ClipSummary } from "../../recorder/clips.js";
import { UnreadableManifestError } from "../../recorder/manifest-store.js";
import type { RecordingCatalog } from "../../recorder/recording-catalog.js";
import { MAX_POST_ROLL_MS, type Recorder } from "../../recorder/recorder.js";
import type { Permission } from "../auth/permissions.js";
import { checkTags } from "../query.js";
import type { CallContext, CallGuard } from "./call-guard.js";
import { GrpcError } from "./grpc-errors.js";
import { streamEvent, type StreamEventFeed } from "./stream-events.js";

export interface IngestControlDeps {
  registry: StreamRegistry;
  recorder: Recorder;
  catalog: RecordingCatalog;
  clips: ClipService;
  /** Kick ends a WHIP publisher's session through its ingest (the same path as DELETE /whip/…). */
  ingest: WhipIngest;
  /** Undefined with IFC_AI_ENABLED=false. */
  ai: AiFeed | undefined;
  /** IFC_MAX_TAGS. */
  maxTags: number;
  /** IFC_STREAM_BUFFER_MS: the most pre-roll StartRecording accepts. */
  maxPreRollMs: number;
  feed: StreamEventFeed;
  /** A watcher further behind than this many events is ended (RESOURCE_EXHAUSTED), never waited for. */
  maxWatchBacklog?: number;
  /** Most WatchStreams calls open at once, server-wide; more are RESOURCE_EXHAUSTED. */
  maxWatchers?: number;
}

// TODO(lead): config key (IFC_GRPC_MAX_WATCHERS?) if operators need to tune it.
const MAX_WATCHERS = 1000;

const PRESET_OF: Record<QosPresetName, QosPreset> = { high: QosPreset.QOS_PRESET_HIGH, medium: QosPreset.QOS_PRESET_MEDIUM, low: QosPreset.QOS_PRESET_LOW };
const NAME_OF: Partial<Record<QosPreset, QosPresetName | null>> = {
  [QosPreset.QOS_PRESET_HIGH]: "high",
  [QosPreset.QOS_PRESET_MEDIUM]: "medium",
  [QosPreset.QOS_PRESET_LOW]: "low",
  [QosPreset.QOS_PRESET_AUTO]: null,
};

function streamInfo(s: LiveStream, recorder: Recorder): StreamInfo {
  const st = s.stats();
  return {
    name: s.name,
    protocol: st.protocol,
    state: st.state,
    sinceMs: st.since,
    recording: recorder.isRecording(s.name),
    video: st.video ? { codec: st.video.codec, width: st.video.width, height: st.video.height, profile: st.video.profile, level: st.video.level, fps: st.video.fps } : undefined,
    audio: st.audio,
    bitrateBps: Math.round(st.bitrateBps),
    packetsReceived: st.packetsReceived,
    packetsLost: st.packetsLost,
    framesReceived: st.framesReceived,
    framesDropped: st.framesDropped,
    keyframeRequests: st.keyframeRequests,
    viewers: s.hub.viewerCount,
    readers: s.hub.readerStats.map((r) => ({ ...r })),
  };
}

function clipOf(c: ClipSummary): Clip {
  return { ...c };
}

function aiStatus(stream: string, st: AiStreamStats): AiStatus {
  return {
    stream,
    preset: PRESET_OF[st.preset],
    override: st.override ? PRESET_OF[st.override] : QosPreset.QOS_PRESET_AUTO,
    worker: st.worker,
    state: st.state,
    framesOffered: st.framesOffered,
    framesSent: st.framesSent,
    framesDropped: st.framesDropped,
    results: st.results,
    outstanding: st.outstanding,
    credits: st.credits,
    reconnects: st.reconnects,
    latencyMs: st.latencyMs,
    ingestToWorkerMs: st.ingestToWorkerMs,
  };
}

/** A listing asked for one stream: out of the caller's scope is PERMISSION_DENIED (as REST's 403), not an empty list. */
function onlyIfGranted(ctx: CallContext, permission: Permission, stream: string): void {
  assertStreamName(stream);
  if (!ctx.may(permission, stream)) throw new GrpcError(status.PERMISSION_DENIED, `permission ${permission} is not granted on stream "${stream}"`, { "problem-type": "urn:imageflowcanvas:problem:forbidden" });
}

const tagPairs = (tags: Record<string, string>): [string, string][] => Object.entries(tags);
const optionalSpan = (from: string | undefined, to: string | undefined) => parseSpan(from || undefined, to || undefined);

/**
 * IngestControl over the same services as the REST routes (rest-routes.ts, recording-routes.ts,
 * ai-routes.ts), with the same checks and errors; the guard has already checked credentials,
 * the method's permission and, where a request names one stream, its scope.
 */
export class IngestControlService {
  private readonly watchers = new Set<ServerWritableStream<WatchStreamsRequest, StreamEvent>>();

  constructor(private readonly deps: IngestControlDeps) {}

  /** Ends every WatchStreams call (the server is closing). */
  endWatchers(): void {
    for (const w of this.watchers) w.end();
    this.watchers.clear();
  }

  implementation(guard: CallGuard): IngestControlServer & UntypedServiceImplementation {
    const { registry, recorder, catalog, clips } = this.deps;
    const byStream = { stream: (r: { stream: string }) => r.stream };
    const live = (stream: string): LiveStream => {
      const s = registry.get(stream);
      if (!s) throw new NotFoundError(`stream "${stream}" is not live`, "stream-not-found");
      return s;
    };
    return {
      listStreams: guard.unary("ListStreams", { permission: "stream:view" }, async (_req, ctx) => ({
        streams: registry.list().filter((s) => ctx.may("stream:view", s.name)).map((s) => streamInfo(s, recorder)),
      })),

      getStream: guard.unary("GetStream", { permission: "stream:view", ...byStream }, async (req) => streamInfo(live(req.stream), recorder)),

      kickStream: guard.unary("KickStream", { permission: "stream:control", ...byStream }, async (req, ctx) => {
        const s = live(req.stream);
        const protocol = s.stats().protocol;
        if (protocol !== "whip") throw new GrpcError(status.FAILED_PRECONDITION, `stream "${req.stream}" is published over ${protocol}; only WHIP publishers can be kicked`);
        await this.deps.ingest.kick(s.name);
        ctx.audit("stream.kicked", s.name, { session: s.sessionId.slice(0, 8) });
        return { stream: s.name, kicked: true };
      }),

      startRecording: guard.unary("StartRecording", { permission: "recording:control", ...byStream }, async (req, ctx) => {
        const preRollMs = req.preRollMs;
        if (preRollMs !== undefined && preRollMs > this.deps.maxPreRollMs) {
          throw new BadRequestError(`pre_roll_ms ${preRollMs} is more than the stream buffer holds (IFC_STREAM_BUFFER_MS = ${this.deps.maxPreRollMs})`, "pre-roll-too-long");
        }
        const s = live(req.stream);
        checkTags(req.tags, this.deps.maxTags);
        const current = recorder.liveManifest(s.name);
        if (current) {
          // Already recording: the tags join the live recording, as REST answers 200 (a pending post-roll stop is cancelled).
          await recorder.tag(s.name, current.recordingId, req.tags);
          recorder.start(s);
          if (Object.keys(req.tags).length > 0) ctx.audit("recording.tagged", s.name, { recording: current.recordingId, keys: Object.keys(req.tags) });
          return { stream: s.name, recordingId: current.recordingId, recording: true, created: false, startedAtMs: current.startedAt };
        }
        const recordingId = recorder.start(s, req.tags, preRollMs === undefined ? {} : { preRollMs });
        ctx.audit("recording.started", s.name, { recording: recordingId, ...(preRollMs !== undefined ? { preRollMs } : {}) });
        return { stream: s.name, recordingId, recording: true, created: true, startedAtMs: recorder.liveManifest(s.name)?.startedAt ?? Date.now() };
      }),

      stopRecording: guard.unary("StopRecording", { permission: "recording:control", ...byStream }, async (req, ctx) => {
        const postRollMs = req.postRollMs ?? 0;
        if (postRollMs > MAX_POST_ROLL_MS) throw new BadRequestError(`post_roll_ms ${postRollMs} is more than ${MAX_POST_ROLL_MS}`, "post-roll-too-long");
        const recordingId = recorder.liveManifest(req.stream)?.recordingId;
        if (!(await recorder.stop(req.stream, { postRollMs }))) throw new NotFoundError(`stream "${req.stream}" is not being recorded`, "not-recording");
        ctx.audit("recording.stopped", req.stream, recordingId ? { recording: recordingId, ...(postRollMs > 0 ? { postRollMs } : {}) } : undefined);
        const stopsAtMs = recorder.pendingStopAt(req.stream);
        if (postRollMs > 0 && recordingId !== undefined && stopsAtMs !== undefined) return { stream: req.stream, recordingId, recording: true, created: false, stopsAtMs };
        return { stream: req.stream, recordingId: "", recording: false, created: false };
      }),

      setRecordingTags: guard.unary("SetRecordingTags", { permission: "recording:control", ...byStream }, async (req, ctx) => {
        checkTags(req.tags, this.deps.maxTags);
        if (!/^[A-Za-z0-9_-]{1,64}$/.test(req.recordingId)) throw new NotFoundError("no such recording", "recording-not-found");
        const m = await recorder.tag(req.stream, req.recordingId, req.tags).catch((err: unknown) => {
          if (err instanceof UnreadableManifestError) return undefined; // as good as absent
          throw err;
        });
        if (!m) throw new NotFoundError(`no recording ${req.recordingId} of "${req.stream}"`, "recording-not-found");
        ctx.audit("recording.tagged", req.stream, { recording: m.recordingId, keys: Object.keys(req.tags) });
        return { recordingId: m.recordingId, tags: m.tags };
      }),

      listRecordings: guard.unary("ListRecordings", { permission: "recording:view" }, async (req, ctx) => {
        if (req.stream !== undefined) onlyIfGranted(ctx, "recording:view", req.stream);
        const { fromMs, toMs } = optionalSpan(req.from, req.to);
        const spans = await catalog.spans(req.stream, fromMs, toMs, tagPairs(req.tags));
        return {
          recordings: spans
            .filter((s) => ctx.may("recording:view", s.stream))
            .map((s) => ({ stream: s.stream, recordingId: s.recordingId, startMs: s.startMs, durationMs: s.durationMs, bytes: s.bytes, segments: s.segments, live: s.live, tags: s.tags, width: s.width, height: s.height, codec: s.codec })),
        };
      }),

      createClip: guard.unary("CreateClip", { permission: "recording:export", ...byStream }, async (req, ctx) => {
        checkTags(req.tags, this.deps.maxTags);
        if (!req.from || !req.to) throw new GrpcError(status.INVALID_ARGUMENT, "from and to are required (ISO 8601 or epoch ms)");
        const { fromMs, toMs } = parseSpan(req.from, req.to);
        const clip = await clips.create(req.stream, fromMs, toMs, req.tags);
        ctx.audit("clip.exported", clip.id, { stream: req.stream, from: clip.from, to: clip.to });
        return clipOf(clip);
      }),

      listClips: guard.unary("ListClips", { permission: "recording:view" }, async (req, ctx) => {
        if (req.stream !== undefined) onlyIfGranted(ctx, "recording:view", req.stream);
        const { fromMs, toMs } = optionalSpan(req.from, req.to);
        const list = await clips.list({ ...(req.stream !== undefined ? { stream: req.stream } : {}), fromMs, toMs, tags: tagPairs(req.tags) });
        return { clips: list.filter((c) => ctx.may("recording:view", c.stream)).map(clipOf) };
      }),

      deleteClip: guard.unary("DeleteClip", { permission: "recording:export" }, async (req, ctx) => {
        // The grant is checked against the clip's stream: a scoped caller may not learn more than
        // that the clip is not theirs to delete.
        const clip = await clips.get(req.id);
        if (!ctx.may("recording:export", clip.stream)) throw new GrpcError(status.PERMISSION_DENIED, `permission recording:export is not granted on stream "${clip.stream}"`);
        await clips.delete(req.id);
        ctx.audit("clip.deleted", req.id, { stream: clip.stream });
        return { id: req.id, deleted: true };
      }),

      getAiStatus: guard.unary("GetAiStatus", { permission: "stream:view", ...byStream }, async (req) => {
        const ai = this.feedOf(req.stream);
        const st = ai.stats(req.stream);
        if (!st) throw new NotFoundError(`stream "${req.stream}" is not fed to AI workers (no video yet)`, "ai-session-not-found");
        return aiStatus(req.stream, st);
      }),

      setQos: guard.unary("SetQos", { permission: "stream:control", ...byStream }, async (req, ctx) => {
        const preset = NAME_OF[req.preset];
        if (preset === undefined) throw new GrpcError(status.INVALID_ARGUMENT, "preset must be HIGH, MEDIUM, LOW or AUTO");
        const ai = this.feedOf(req.stream);
        if (ai.setOverride(req.stream, preset) === false) {
          throw new NotFoundError(`stream "${req.stream}" is not fed to AI workers (no video yet, or waiting for a slot)`, "ai-session-not-found");
        }
        ctx.audit("qos.pinned", req.stream, { preset: preset ?? "auto" });
        const st = ai.stats(req.stream);
        if (!st) throw new NotFoundError(`stream "${req.stream}" is no longer fed to AI workers`, "ai-session-not-found");
        return aiStatus(req.stream, st);
      }),

      watchStreams: guard.serverStream("WatchStreams", { permission: "stream:view" }, async (req, ctx, call) => this.watch(req, ctx, call)),
    };
  }

  private feedOf(stream: string): AiFeed {
    if (!this.deps.registry.get(stream)) throw new NotFoundError(`stream "${stream}" is not live`, "stream-not-found");
    if (!this.deps.ai) throw new GrpcError(status.FAILED_PRECONDITION, "the AI feed is disabled (IFC_AI_ENABLED=false)", { "problem-type": "urn:imageflowcanvas:problem:ai-disabled" });
    return this.deps.ai;
  }

  private async watch(req: WatchStreamsRequest, ctx: CallContext, call: ServerWritableStream<WatchStreamsRequest, StreamEvent>): Promise<void> {
    for (const name of req.streams) onlyIfGranted(ctx, "stream:view", name);
    const maxWatchers = this.deps.maxWatchers ?? MAX_WATCHERS;
    if (this.watchers.size >= maxWatchers) {
      throw new GrpcError(status.RESOURCE_EXHAUSTED, `${this.watchers.size} WatchStreams calls are open, the most allowed`, { "retry-after-ms": "5000", "problem-type": "urn:imageflowcanvas:problem:too-many-watchers" });
    }
    const only = req.streams.length > 0 ? new Set(req.streams) : undefined;
    const wanted = (stream: string) => (!only || only.has(stream)) && ctx.may("stream:view", stream);
    const maxBacklog = this.deps.maxWatchBacklog ?? 1024;
    let unsubscribe = (): void => undefined;
    const stop = () => {
      unsubscribe();
      this.watchers.delete(call);
    };
    call.on("cancelled", stop);
    call.on("finish", stop);
    call.on("error", stop);
    this.watchers.add(call);
    // Headers now: a client sees the call open before the first event.
    call.sendMetadata(new Metadata());
    if (req.includeCurrent) {
      for (const s of this.deps.registry.list()) {
        if (wanted(s.name)) call.write(streamEvent(StreamEventType.STREAM_EVENT_TYPE_PUBLISHED, s.name, { protocol: s.stats().protocol, snapshot: true }));
      }
    }
    unsubscribe = this.deps.feed.subscribe((e) => {
      if (!wanted(e.stream)) return;
      if (call.writableLength >= maxBacklog) {
        stop();
        call.emit("error", Object.assign(new Error(`watcher more than ${maxBacklog} events behind`), { code: status.RESOURCE_EXHAUSTED, details: `watcher more than ${maxBacklog} events behind` }));
        return;
      }
      call.write(e);
    });
  }
}
