import type { FastifyInstance } from "fastify";
import type { StreamRegistry } from "../core/stream-registry.js";
import { BadRequestError, NotFoundError } from "../errors.js";
import { assertStreamName } from "../core/stream-name.js";
import { parseSpan, parseTime } from "../core/time-param.js";
import { parseTagFilters, spanQuerySchema } from "./query.js";
import type { RecordingCatalog } from "../recorder/recording-catalog.js";
import type { Recorder } from "../recorder/recorder.js";

export interface RestRoutesOptions {
  registry: StreamRegistry;
  catalog: RecordingCatalog;
  recorder: Recorder;
  playMaxDurationMs: number;
  /** Readiness probes; each throws with a reason when not ready. */
  readinessChecks: Record<string, () => Promise<void>>;
}


const streamSchema = {
  type: "object",
  properties: {
    name: { type: "string" },
    protocol: { type: "string" },
    sessionId: { type: "string" },
    state: { type: "string" },
    since: { type: "string" },
    recording: { type: "boolean" },
    video: {
      type: "object",
      properties: {
        codec: { type: "string" },
        width: { type: "integer" },
        height: { type: "integer" },
        profile: { type: "integer" },
        level: { type: "integer" },
        fps: { type: "number" },
      },
    },
    audio: { type: "object", properties: { codec: { type: "string" }, sampleRate: { type: "integer" }, channels: { type: "integer" } } },
    bitrateBps: { type: "integer" },
    packetsReceived: { type: "integer" },
    packetsLost: { type: "integer" },
    framesReceived: { type: "integer" },
    framesDropped: { type: "integer" },
    keyframeRequests: { type: "integer" },
    viewers: { type: "integer" },
    readers: {
      type: "array",
      items: { type: "object", properties: { name: { type: "string" }, delivered: { type: "integer" }, dropped: { type: "integer" }, queued: { type: "integer" }, capacity: { type: "integer" }, failed: { type: "integer" }, detachedReason: { type: "string" } } },
    },
  },
} as const;

const spanSchema = {
  type: "object",
  properties: {
    stream: { type: "string" },
    recordingId: { type: "string" },
    start: { type: "string" },
    startMs: { type: "number" },
    durationMs: { type: "number" },
    bytes: { type: "integer" },
    segments: { type: "integer" },
    live: { type: "boolean" },
    tags: { type: "object", additionalProperties: { type: "string" } },
    width: { type: "integer" },
    height: { type: "integer" },
    codec: { type: "string" },
  },
} as const;

/** Health, readiness, live streams and recordings (`/api/v1`). */
export async function restRoutes(app: FastifyInstance, opts: RestRoutesOptions): Promise<void> {
  const { registry, catalog, recorder } = opts;

  app.get("/health", async () => ({ status: "ok" }));

  app.get("/ready", async (_req, reply) => {
    const results: Record<string, string> = {};
    let ready = true;
    for (const [name, check] of Object.entries(opts.readinessChecks)) {
      try {
        await check();
        results[name] = "ok";
      } catch (err) {
        ready = false;
        results[name] = err instanceof Error ? err.message : String(err);
      }
    }
    return reply.code(ready ? 200 : 503).send({ status: ready ? "ready" : "not ready", checks: results });
  });

  app.get("/api/v1/streams", { schema: { response: { 200: { type: "object", properties: { streams: { type: "array", items: streamSchema } } } } } }, async () => ({
    streams: registry.list().map((s) => {
      const st = s.stats();
      return { name: s.name, ...st, since: new Date(st.since).toISOString(), recording: recorder.isRecording(s.name), viewers: s.hub.viewerCount, readers: s.hub.readerStats };
    }),
  }));

  app.get<{ Params: { stream: string } }>("/api/v1/streams/:stream", { schema: { response: { 200: streamSchema } } }, async (req) => {
    assertStreamName(req.params.stream);
    const s = registry.get(req.params.stream);
    if (!s) throw new NotFoundError(`stream "${req.params.stream}" is not live`, "stream-not-found");
    const st = s.stats();
    return { name: s.name, ...st, since: new Date(st.since).toISOString(), recording: recorder.isRecording(s.name), viewers: s.hub.viewerCount, readers: s.hub.readerStats };
  });

  app.get<{ Querystring: { stream?: string; from?: string; to?: string; tag?: string | string[] } }>(
    "/api/v1/recordings",
    {
      schema: {
        querystring: spanQuerySchema,
        response: { 200: { type: "object", properties: { recordings: { type: "array", items: spanSchema } } } },
      },
    },
    async (req) => {
      const { stream, from, to, tag } = req.query;
      if (stream !== undefined) assertStreamName(stream);
      const { fromMs, toMs } = parseSpan(from, to);
      return { recordings: await catalog.spans(stream, fromMs, toMs, parseTagFilters(tag)) };
    },
  );

  app.get<{ Params: { stream: string }; Querystring: { start: string; duration: number } }>(
    "/api/v1/recordings/:stream/play",
    {
      schema: {
        querystring: {
          type: "object",
          required: ["start", "duration"],
          properties: { start: { type: "string" }, duration: { type: "number", exclusiveMinimum: 0 } },
        },
      },
    },
    async (req, reply) => {
      assertStreamName(req.params.stream);
      const startMs = parseTime(req.query.start, "start");
      const durationMs = req.query.duration * 1000;
      if (durationMs > opts.playMaxDurationMs) {
        throw new BadRequestError(`duration exceeds the limit of ${opts.playMaxDurationMs / 1000} s (IFC_PLAY_MAX_DURATION_MS)`, "duration-too-long");
      }
      const plan = await catalog.plan(req.params.stream, startMs, durationMs);
      if (!plan) throw new NotFoundError(`no recording of "${req.params.stream}" covers that span`, "recording-not-found");
      return reply
        .header("content-type", "video/mp4")
        .header("content-length", String(plan.bytes))
        .header("x-ifc-recording", plan.manifest.recordingId)
        .header("x-ifc-start", new Date(plan.startMs).toISOString())
        .header("x-ifc-duration-ms", String(Math.round(plan.durationMs)))
        .send(catalog.open(plan));
    },
  );
}
