import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import type { FastifyInstance } from "fastify";
import { Type } from "typebox";
import type { StreamRegistry } from "../core/stream-registry.js";
import { BadRequestError, ConflictError, NotFoundError, ProblemError } from "../errors.js";
import { ClipLimitError, type ClipService } from "../recorder/clips.js";
import type { RecordingCatalog } from "../recorder/recording-catalog.js";
import { UnreadableManifestError } from "../recorder/manifest-store.js";
import { MAX_POST_ROLL_MS, TagLimitError, type Recorder } from "../recorder/recorder.js";
import type { ObjectStore } from "../ports/object-store.js";
import { parseSpan } from "../core/time-param.js";
import { checkTags, parseTagFilters, SpanQuery } from "./query.js";
import type { RouteAuth } from "./auth/principal.js";
import { callerMay, SpanSchema, ViewTokenQuery } from "./rest-routes.js";
import { binary, ClipIdRef, problems, RecordingIdRef, StreamNameRef, StreamParams } from "./schemas.js";

export interface RecordingRoutesOptions {
  registry: StreamRegistry;
  recorder: Recorder;
  catalog: RecordingCatalog;
  clips: ClipService;
  store: ObjectStore;
  /** Most tags on one recording or clip, and their sizes. */
  maxTags: number;
  /** IFC_PUBLIC_URL: the base that makes a clip's `Location` absolute; empty keeps it relative. */
  publicUrl?: string;
  /** IFC_STREAM_BUFFER_MS: the most pre-roll a recording can start with (the buffer holds no more). */
  maxPreRollMs: number;
}

const Tags = Type.Record(Type.String({ maxLength: 64 }), Type.String({ maxLength: 256 }), { description: "key → value; keys match [A-Za-z0-9_.-]{1,64}" });

const ClipSchema = Type.Object({
  id: Type.String(), stream: Type.String(), from: Type.String(), to: Type.String(),
  startMs: Type.Number(), durationMs: Type.Number(), bytes: Type.Integer(),
  createdAt: Type.String(), expiresAt: Type.String(), tags: Tags, sourceRecordingId: Type.String(),
});

const onStream = (permission: RouteAuth["permission"]): RouteAuth => ({ permission, stream: { in: "params", name: "stream" } });
const Time = Type.Union([Type.String({ maxLength: 64 }), Type.Number()], { description: "ISO 8601 time or epoch ms" });

/**
 * A too-long span is the request's fault (400). A full clip store is not: the same request
 * succeeds once clips are deleted or expire, so count answers 409 (the collection's state) and
 * bytes 507 Insufficient Storage (RFC 4918), both saying which limit was hit.
 */
function clipLimitProblem(err: ClipLimitError): ProblemError {
  if (err.limit === "span") return new BadRequestError(err.message, "clip-too-long");
  if (err.limit === "count") return new ConflictError(err.message, "clip-limit");
  return new ProblemError(507, "clip-storage-full", "Insufficient storage", err.message);
}

/** Runs a tag change; the recorder's TagLimitError becomes a 400 (nothing was changed). */
async function tagOrRefuse<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof TagLimitError) throw new BadRequestError(err.message, "too-many-tags");
    throw err;
  }
}

/** Operator control of recording: start/stop, clips, tags. */
export async function recordingRoutes(fastify: FastifyInstance, opts: RecordingRoutesOptions): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { registry, recorder, clips } = opts;
  const tags = ["recordings"];

  const started = (description: string) => Type.Object({
    stream: Type.String(), recordingId: Type.String(), recording: Type.Boolean(),
    startedAt: Type.Number({ description: "Epoch ms the recording begins at: with a pre-roll, the capture time of the buffered IDR it starts with" }),
  }, { description });
  app.post("/api/v1/streams/:stream/recording", {
    config: { auth: onStream("recording:control"), audit: "recording.started" },
    schema: {
      tags, summary: "Start recording a live stream, optionally with buffered seconds before now (or add tags to its live recording)",
      description: "With `preRollMs`, the recording begins at the IDR at or before now − preRollMs, taken from the stream buffer (IFC_STREAM_BUFFER_MS). "
        + "When the stream is already recording (IFC_RECORD=true, or an earlier start), the answer is 200 with the current recording: the tags join it, "
        + "the pre-roll is not applied, and a stop pending after a post-roll is cancelled.",
      params: StreamParams,
      body: Type.Optional(Type.Union([Type.Object({
        tags: Type.Optional(Tags),
        preRollMs: Type.Optional(Type.Integer({ minimum: 0, description: "Buffered media before now to begin with (ms), 0..IFC_STREAM_BUFFER_MS" })),
      }, { additionalProperties: false }), Type.Null()])),
      response: {
        200: started("Already recording; the tags joined it"),
        201: started("Recording started"),
        ...problems(400, 404, 415),
      },
    },
  }, async (req, reply) => {
    const preRollMs = req.body?.preRollMs;
    if (preRollMs !== undefined && preRollMs > opts.maxPreRollMs) {
      throw new BadRequestError(`preRollMs ${preRollMs} is more than the stream buffer holds (IFC_STREAM_BUFFER_MS = ${opts.maxPreRollMs})`, "pre-roll-too-long", { limit: opts.maxPreRollMs });
    }
    const live = registry.get(req.params.stream);
    if (!live) throw new NotFoundError(`stream "${req.params.stream}" is not live`, "stream-not-found");
    const tagged = req.body?.tags ?? {};
    checkTags(tagged, opts.maxTags);
    const current = recorder.liveManifest(live.name);
    if (current) {
      // Already recording: the tags join the live recording, within IFC_MAX_TAGS.
      await tagOrRefuse(() => recorder.tag(live.name, current.recordingId, tagged));
      recorder.start(live); // cancels a pending post-roll stop
      return reply.code(200).send({ stream: live.name, recordingId: current.recordingId, recording: true, startedAt: current.startedAt });
    }
    const recordingId = recorder.start(live, tagged, preRollMs === undefined ? {} : { preRollMs });
    return reply.code(201).send({ stream: live.name, recordingId, recording: true, startedAt: recorder.liveManifest(live.name)?.startedAt ?? Date.now() });
  });

  app.delete("/api/v1/streams/:stream/recording", {
    config: { auth: onStream("recording:control"), audit: "recording.stopped" },
    schema: {
      tags, summary: "Stop recording a stream, now or after a post-roll", params: StreamParams,
      description: "With `postRollMs` > 0 the recording goes on that long, then stops (202, with `stopsAt`); a start request before then cancels the stop.",
      querystring: Type.Object({
        postRollMs: Type.Optional(Type.Integer({ minimum: 0, maximum: MAX_POST_ROLL_MS, description: `Keep recording this long more (ms), at most ${MAX_POST_ROLL_MS}` })),
      }, { additionalProperties: false }),
      response: {
        200: Type.Object({ stream: Type.String(), recording: Type.Boolean() }, { description: "Stopped" }),
        202: Type.Object({ stream: Type.String(), recording: Type.Boolean(), recordingId: Type.String(), stopsAt: Type.Number({ description: "Epoch ms when the post-roll ends" }) }, { description: "Stops after the post-roll" }),
        ...problems(400, 404),
      },
    },
  }, async (req, reply) => {
    const postRollMs = req.query.postRollMs ?? 0;
    const recordingId = recorder.liveManifest(req.params.stream)?.recordingId;
    if (!(await recorder.stop(req.params.stream, { postRollMs }))) throw new NotFoundError(`stream "${req.params.stream}" is not being recorded`, "not-recording");
    const stopsAt = recorder.pendingStopAt(req.params.stream);
    if (postRollMs > 0 && recordingId !== undefined && stopsAt !== undefined) {
      return reply.code(202).send({ stream: req.params.stream, recording: true, recordingId, stopsAt });
    }
    return reply.code(200).send({ stream: req.params.stream, recording: false });
  });

  app.get("/api/v1/recordings/:stream/:recording", {
    config: { auth: onStream("recording:view") },
    schema: {
      tags, summary: "One recording: its span, live state, tags and the gaps where the publisher's network broke",
      params: Type.Object({ stream: StreamNameRef, recording: RecordingIdRef }),
      response: { 200: SpanSchema, ...problems(404) },
    },
  }, async (req) => {
    const span = (await opts.catalog.spans(req.params.stream)).find((s) => s.recordingId === req.params.recording);
    if (!span) throw new NotFoundError(`no recording "${req.params.recording}" of "${req.params.stream}"`, "recording-not-found");
    return span;
  });

  app.put("/api/v1/recordings/:stream/:recording/tags", {
    config: { auth: onStream("recording:control"), audit: "recording.tagged" },
    schema: {
      tags, summary: "Add or change a recording's tags (live or stored)",
      params: Type.Object({ stream: StreamNameRef, recording: RecordingIdRef }),
      body: Type.Object({ tags: Tags }, { additionalProperties: false }),
      response: { 200: Type.Object({ recordingId: Type.String(), tags: Tags }), ...problems(400, 404, 415) },
    },
  }, async (req) => {
    checkTags(req.body.tags, opts.maxTags);
    // Live or stored, through the recording's one writer (see ManifestStore).
    const m = await tagOrRefuse(async () => {
      try {
        return await recorder.tag(req.params.stream, req.params.recording, req.body.tags);
      } catch (err) {
        if (err instanceof UnreadableManifestError) return undefined; // as good as absent
        throw err;
      }
    });
    if (!m) throw new NotFoundError(`no recording ${req.params.recording} of "${req.params.stream}"`, "recording-not-found");
    return { recordingId: m.recordingId, tags: m.tags };
  });

  app.post("/api/v1/streams/:stream/clips", {
    config: { auth: onStream("recording:export"), audit: "clip.exported" },
    schema: {
      tags, summary: "Export a span of recordings as a clip (kept past retention)",
      params: StreamParams,
      body: Type.Object({ from: Time, to: Time, tags: Type.Optional(Tags) }, { additionalProperties: false }),
      response: { 201: ClipSchema, ...problems(400, 404, 409, 415, 507) },
    },
  }, async (req, reply) => {
    const tagged = req.body.tags ?? {};
    checkTags(tagged, opts.maxTags);
    const { fromMs, toMs } = parseSpan(req.body.from, req.body.to);
    let clip;
    try {
      clip = await tagOrRefuse(() => clips.create(req.params.stream, fromMs, toMs, tagged));
    } catch (err) {
      throw err instanceof ClipLimitError ? clipLimitProblem(err) : err;
    }
    return reply.code(201).header("location", `${opts.publicUrl ?? ""}/api/v1/clips/${clip.id}`).send(clip);
  });

  app.get("/api/v1/clips", {
    config: { auth: { permission: "recording:view", stream: { in: "query", name: "stream" } } },
    schema: { tags, summary: "Clips by stream, time and tags", querystring: SpanQuery, response: { 200: Type.Object({ clips: Type.Array(ClipSchema) }), ...problems() } },
  }, async (req) => {
    const { stream, from, to, tag } = req.query;
    const { fromMs, toMs } = parseSpan(from, to);
    const list = await clips.list({ ...(stream !== undefined ? { stream } : {}), fromMs, toMs, tags: parseTagFilters(tag) });
    return { clips: list.filter((c) => callerMay(req, "recording:view", c.stream)) };
  });

  app.get("/api/v1/clips/:id/play", {
    // The clip's stream is only known once it is looked up: the handler checks the scope.
    config: { auth: { permission: "recording:view", viewToken: true } },
    schema: {
      tags, summary: "A clip as one MP4",
      params: Type.Object({ id: ClipIdRef }),
      querystring: Type.Object({ ...ViewTokenQuery }, { additionalProperties: false }),
      response: { 200: binary("The clip as fragmented MP4", "video/mp4"), ...problems(404) },
    },
  }, async (req, reply) => {
    const plan = await clips.plan(req.params.id);
    const stream = plan.manifest.stream;
    if (!callerMay(req, "recording:view", stream)) throw new NotFoundError(`no clip ${req.params.id}`, "clip-not-found");
    return reply
      .header("content-type", "video/mp4")
      .header("content-length", String(plan.bytes))
      .send(opts.catalog.open(plan));
  });

  app.delete("/api/v1/clips/:id", {
    config: { auth: { permission: "recording:export" }, audit: "clip.deleted" },
    schema: {
      tags, summary: "Delete a clip", params: Type.Object({ id: ClipIdRef }),
      response: { 200: Type.Object({ id: Type.String(), deleted: Type.Boolean() }), ...problems(404) },
    },
  }, async (req, reply) => {
    await clips.delete(req.params.id);
    return reply.code(200).send({ id: req.params.id, deleted: true });
  });
}
