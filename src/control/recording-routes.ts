import type { FastifyInstance } from "fastify";
import type { StreamRegistry } from "../core/stream-registry.js";
import { BadRequestError, ConflictError, NotFoundError, ProblemError } from "../errors.js";
import { assertStreamName } from "../core/stream-name.js";
import { ClipLimitError, type ClipService } from "../recorder/clips.js";
import type { RecordingCatalog } from "../recorder/recording-catalog.js";
import { UnreadableManifestError } from "../recorder/manifest-store.js";
import { TagLimitError, type Recorder } from "../recorder/recorder.js";
import type { ObjectStore } from "../ports/object-store.js";
import { parseSpan } from "../core/time-param.js";
import { checkTags, parseTagFilters, spanQuerySchema } from "./query.js";

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
}

const tagsSchema = { type: "object", additionalProperties: { type: "string", maxLength: 256 } } as const;


const clipSchema = {
  type: "object",
  properties: {
    id: { type: "string" }, stream: { type: "string" }, from: { type: "string" }, to: { type: "string" },
    startMs: { type: "number" }, durationMs: { type: "number" }, bytes: { type: "integer" },
    createdAt: { type: "string" }, expiresAt: { type: "string" }, tags: tagsSchema, sourceRecordingId: { type: "string" },
  },
} as const;

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
export async function recordingRoutes(app: FastifyInstance, opts: RecordingRoutesOptions): Promise<void> {
  const { registry, recorder, clips } = opts;

  app.post<{ Params: { stream: string }; Body: { tags?: Record<string, string> } | undefined }>(
    "/api/v1/streams/:stream/recording",
    { config: { audit: "recording.started" }, schema: { body: { anyOf: [{ type: "object", properties: { tags: tagsSchema }, additionalProperties: false }, { type: "null" }] } } },
    async (req, reply) => {
      assertStreamName(req.params.stream);
      const live = registry.get(req.params.stream);
      if (!live) throw new NotFoundError(`stream "${req.params.stream}" is not live`, "stream-not-found");
      const tags = req.body?.tags ?? {};
      checkTags(tags, opts.maxTags);
      const current = recorder.liveManifest(live.name);
      if (current) {
        // Already recording: the tags join the live recording, within IFC_MAX_TAGS.
        await tagOrRefuse(() => recorder.tag(live.name, current.recordingId, tags));
        return reply.code(200).send({ stream: live.name, recordingId: current.recordingId, recording: true });
      }
      return reply.code(201).send({ stream: live.name, recordingId: recorder.start(live, tags), recording: true });
    },
  );

  app.delete<{ Params: { stream: string } }>("/api/v1/streams/:stream/recording", { config: { audit: "recording.stopped" } }, async (req, reply) => {
    assertStreamName(req.params.stream);
    if (!(await recorder.stop(req.params.stream))) throw new NotFoundError(`stream "${req.params.stream}" is not being recorded`, "not-recording");
    return reply.code(200).send({ stream: req.params.stream, recording: false });
  });

  app.put<{ Params: { stream: string; recording: string }; Body: { tags: Record<string, string> } }>(
    "/api/v1/recordings/:stream/:recording/tags",
    { schema: { body: { type: "object", required: ["tags"], properties: { tags: tagsSchema }, additionalProperties: false } } },
    async (req) => {
      assertStreamName(req.params.stream);
      checkTags(req.body.tags, opts.maxTags);
      if (!/^[A-Za-z0-9_-]{1,64}$/.test(req.params.recording)) throw new NotFoundError("no such recording", "recording-not-found");
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
    },
  );

  app.post<{ Params: { stream: string }; Body: { from: string; to: string; tags?: Record<string, string> } }>(
    "/api/v1/streams/:stream/clips",
    {
      schema: {
        body: {
          type: "object",
          required: ["from", "to"],
          properties: { from: { anyOf: [{ type: "string" }, { type: "number" }] }, to: { anyOf: [{ type: "string" }, { type: "number" }] }, tags: tagsSchema },
          additionalProperties: false,
        },
        response: { 201: clipSchema },
      },
    },
    async (req, reply) => {
      assertStreamName(req.params.stream);
      const tags = req.body.tags ?? {};
      checkTags(tags, opts.maxTags);
      const { fromMs, toMs } = parseSpan(req.body.from, req.body.to);
      let clip;
      try {
        clip = await tagOrRefuse(() => clips.create(req.params.stream, fromMs, toMs, tags));
      } catch (err) {
        throw err instanceof ClipLimitError ? clipLimitProblem(err) : err;
      }
      return reply.code(201).header("location", `${opts.publicUrl ?? ""}/api/v1/clips/${clip.id}`).send(clip);
    },
  );

  app.get<{ Querystring: { stream?: string; from?: string; to?: string; tag?: string | string[] } }>(
    "/api/v1/clips",
    {
      schema: {
        querystring: spanQuerySchema,
        response: { 200: { type: "object", properties: { clips: { type: "array", items: clipSchema } } } },
      },
    },
    async (req) => {
      const { stream, from, to, tag } = req.query;
      if (stream !== undefined) assertStreamName(stream);
      const { fromMs, toMs } = parseSpan(from, to);
      return { clips: await clips.list({ ...(stream !== undefined ? { stream } : {}), fromMs, toMs, tags: parseTagFilters(tag) }) };
    },
  );

  app.get<{ Params: { id: string } }>("/api/v1/clips/:id/play", async (req, reply) => {
    const plan = await clips.plan(req.params.id);
    return reply
      .header("content-type", "video/mp4")
      .header("content-length", String(plan.bytes))
      .send(opts.catalog.open(plan));
  });

  app.delete<{ Params: { id: string } }>("/api/v1/clips/:id", async (req, reply) => {
    await clips.delete(req.params.id);
    return reply.code(200).send({ id: req.params.id, deleted: true });
  });
}
