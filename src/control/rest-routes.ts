import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { Type, type Static } from "typebox";
import { forwardToOwner, mayForward } from "./forward-to-owner.js";
import type { LiveStream, StreamRegistry } from "../core/stream-registry.js";
import { BadRequestError, NotFoundError } from "../errors.js";
import { parseSpan, parseTime } from "../core/time-param.js";
import { parseTagFilters, SpanQuery } from "./query.js";
import type { RecordingCatalog } from "../recorder/recording-catalog.js";
import type { Recorder } from "../recorder/recorder.js";
import { grants, type Permission } from "./auth/permissions.js";
import type { RouteAuth } from "./auth/principal.js";
import { binary, empty, GapSchema, problems, StreamParams } from "./schemas.js";
import type { SourceInfo } from "../ingest/source-manager.js";

/** A pulled camera's side of its stream's entry. */
const StreamSourceSchema = Type.Object({
  id: Type.String(),
  state: Type.Union([Type.Literal("idle"), Type.Literal("connecting"), Type.Literal("live"), Type.Literal("retrying")]),
  retries: Type.Integer({ description: "Failed tries since the camera was last live" }),
  reconnects: Type.Integer({ description: "Times the camera came back after a drop" }),
  nextRetryAt: Type.Optional(Type.String({ format: "date-time" })),
  lastError: Type.Optional(Type.String()),
}, {
  description: "Set when the stream is pulled from a camera (/api/v1/sources). A camera that is down past IFC_RECONNECT_GRACE_MS has no live stream any more, yet its entry stays listed while the source retries: `state` `reconnecting` (or `connecting` before it was ever live), zero figures, no readers.",
});

export interface RestRoutesOptions {
  registry: StreamRegistry;
  catalog: RecordingCatalog;
  recorder: Recorder;
  playMaxDurationMs: number;
  /** Readiness probes; each throws with a reason when not ready. */
  readinessChecks: Record<string, () => Promise<void>>;
  /** Ends the live stream's publisher session (DELETE /api/v1/streams/{stream}); false when not live. */
  kick?: (stream: string) => Promise<boolean>;
  /** Pulled cameras: their state joins their stream's entry (see StreamSourceSchema). */
  sources?: { sourceOf(stream: string): SourceInfo | undefined; list(): SourceInfo[] };
  /** In a cluster: this node's id (on every entry) and the streams other nodes own, as entries of StreamSchema. */
  cluster?: {
    nodeId: string;
    remote(): Promise<RemoteStreamEntry[]>;
    remoteOne(stream: string): Promise<RemoteStreamEntry | undefined>;
    /** The owner's base URL when another node owns `stream` (kicks are passed on to it). */
    ownerUrl(stream: string): Promise<string | undefined>;
  };
}

/** A stream another node owns, as that node described it (StreamSchema without sessionId). */
export type RemoteStreamEntry = Static<typeof StreamSchema> & { node: string };

const PUBLIC: RouteAuth = { permission: "public" };
const onStream = (permission: Permission, viewToken = false): RouteAuth => ({ permission, stream: { in: "params", name: "stream" }, ...(viewToken ? { viewToken } : {}) });

const StreamSchema = Type.Object({
  name: Type.String(),
  node: Type.Optional(Type.String({ description: "In a cluster: the node that owns the stream (IFC_NODE_ID); its figures reach other nodes within a second or two" })),
  protocol: Type.String(),
  sessionId: Type.Optional(Type.String({ description: "Only shown to callers who may publish or control the stream" })),
  state: Type.Union([Type.Literal("connecting"), Type.Literal("live"), Type.Literal("reconnecting")], { description: "`reconnecting`: the publisher is gone and the stream waits IFC_RECONNECT_GRACE_MS for it to come back" }),
  reconnects: Type.Integer({ description: "Times a publisher came back (ICE restart, new POST, takeover)" }),
  reconnectingSince: Type.Optional(Type.String({ format: "date-time", description: "When the stream entered `reconnecting` (only while it is)" })),
  since: Type.String({ format: "date-time" }),
  recording: Type.Boolean(),
  video: Type.Optional(Type.Object({
    codec: Type.String(),
    width: Type.Optional(Type.Integer()),
    height: Type.Optional(Type.Integer()),
    profile: Type.Optional(Type.Integer()),
    level: Type.Optional(Type.Integer()),
    fps: Type.Number(),
  })),
  audio: Type.Optional(Type.Object({ codec: Type.String(), sampleRate: Type.Integer(), channels: Type.Integer() })),
  bitrateBps: Type.Integer(),
  packetsReceived: Type.Integer(),
  packetsLost: Type.Integer(),
  framesReceived: Type.Integer(),
  framesDropped: Type.Integer(),
  keyframeRequests: Type.Integer(),
  socketDrops: Type.Optional(Type.Integer({ description: "Datagrams the kernel dropped at the publisher session's UDP sockets (receive buffer full, IFC_RTC_RECV_BUFFER_BYTES); Linux only." })),
  viewers: Type.Integer(),
  source: Type.Optional(StreamSourceSchema),
  readers: Type.Array(Type.Object({
    name: Type.String(),
    delivered: Type.Integer(),
    dropped: Type.Integer(),
    queued: Type.Integer(),
    capacity: Type.Integer(),
    failed: Type.Optional(Type.Integer()),
    detachedReason: Type.Optional(Type.String()),
  })),
});

export const SpanSchema = Type.Object({
  stream: Type.String(),
  recordingId: Type.String(),
  start: Type.String(),
  startMs: Type.Number(),
  durationMs: Type.Number(),
  bytes: Type.Integer(),
  segments: Type.Integer(),
  live: Type.Boolean(),
  tags: Type.Record(Type.String(), Type.String()),
  width: Type.Optional(Type.Integer()),
  height: Type.Optional(Type.Integer()),
  codec: Type.Optional(Type.String()),
  gaps: Type.Array(GapSchema, { description: "Holes inside the span where the publisher's network broke, oldest first" }),
});

/** `?token=` of routes that take a view token (declared so the schema does not refuse it). */
export const ViewTokenQuery = { token: Type.Optional(Type.String({ maxLength: 4096, description: "A view token (players that cannot set headers)" })) };

const sourceJson = (src: SourceInfo) => ({
  id: src.id, state: src.status.state, retries: src.status.retries, reconnects: src.status.reconnects,
  ...(src.status.nextRetryAt !== undefined ? { nextRetryAt: new Date(src.status.nextRetryAt).toISOString() } : {}),
  ...(src.status.lastError ? { lastError: src.status.lastError.message } : {}),
});

/**
 * A live stream's entry of `GET /api/v1/streams` without its session id (which only callers
 * who may control the stream see): also what this node tells the cluster of its streams.
 */
export function describeStream(s: LiveStream, opts: Pick<RestRoutesOptions, "recorder" | "sources" | "cluster">): { entry: Static<typeof StreamSchema>; sessionId: string } {
  const { sessionId, reconnectingSince, ...st } = s.stats();
  const src = opts.sources?.sourceOf(s.name);
  return {
    sessionId,
    entry: {
      name: s.name, ...(opts.cluster ? { node: opts.cluster.nodeId } : {}), ...st,
      ...(reconnectingSince !== undefined ? { reconnectingSince: new Date(reconnectingSince).toISOString() } : {}),
      since: new Date(st.since).toISOString(), recording: opts.recorder.isRecording(s.name), viewers: s.hub.viewerCount, readers: s.hub.readerStats,
      ...(src ? { source: sourceJson(src) } : {}),
    },
  };
}

/** Whether the caller may `permission` on `stream`; with no gate in front (unit tests) everything is visible. */
export function callerMay(req: FastifyRequest, permission: Permission, stream: string): boolean {
  return req.principal ? grants(req.principal.permissions, permission, stream) : true;
}

/**
 * Whether the caller may see a stream's publisher session id: the id is the handle of the
 * session resource (PATCH/DELETE), so only callers who could publish or control the stream see
 * it. With no principal (no gate), nobody does.
 */
function mayControl(req: FastifyRequest, stream: string): boolean {
  const p = req.principal;
  return p !== undefined && (grants(p.permissions, "stream:publish", stream) || grants(p.permissions, "stream:control", stream));
}

/** Health, readiness, live streams and recordings (`/api/v1`). */
export async function restRoutes(fastify: FastifyInstance, opts: RestRoutesOptions): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { registry, catalog } = opts;

  const describe = (req: FastifyRequest, s: LiveStream) => {
    const { sessionId, entry } = describeStream(s, opts);
    return { ...entry, ...(mayControl(req, s.name) ? { sessionId } : {}) };
  };
  /** A running source whose stream is not live (down past the grace, or never up yet): listed, so the outage shows. */
  const awaitedEntry = (src: SourceInfo) => ({
    name: src.name, protocol: "rtsp", state: src.status.everLive ? ("reconnecting" as const) : ("connecting" as const), reconnects: src.status.reconnects,
    ...(src.status.everLive ? { reconnectingSince: new Date(src.status.since).toISOString() } : {}),
    since: new Date(src.createdAt).toISOString(), recording: false, bitrateBps: 0, packetsReceived: 0, packetsLost: 0, framesReceived: 0, framesDropped: 0,
    keyframeRequests: 0, viewers: 0, readers: [], source: sourceJson(src),
  });
  const awaited = (req: FastifyRequest) =>
    (opts.sources?.list() ?? []).filter((src) => (src.status.state === "connecting" || src.status.state === "retrying") && !registry.get(src.name) && callerMay(req, "stream:view", src.name)).map(awaitedEntry);
  const liveOr404 = (stream: string): LiveStream => {
    const s = registry.get(stream);
    if (!s) throw new NotFoundError(`stream "${stream}" is not live`, "stream-not-found");
    return s;
  };

  app.get("/health", {
    config: { auth: PUBLIC },
    schema: { tags: ["system"], summary: "Liveness", response: { 200: Type.Object({ status: Type.Literal("ok") }), ...problems() } },
  }, async () => ({ status: "ok" as const }));

  app.get("/ready", {
    config: { auth: PUBLIC },
    schema: {
      tags: ["system"], summary: "Readiness: the object store is writable and ffmpeg runs",
      response: {
        200: Type.Object({ status: Type.String(), checks: Type.Record(Type.String(), Type.String()) }),
        503: Type.Object({ status: Type.String(), checks: Type.Record(Type.String(), Type.String()) }),
        ...problems(),
      },
    },
  }, async (_req, reply) => {
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

  app.get("/api/v1/streams", {
    // Scoped grants count here; the list shows only the streams the caller may view.
    config: { auth: { permission: "stream:view" } },
    schema: { tags: ["streams"], summary: "Live streams the caller may view", response: { 200: Type.Object({ streams: Type.Array(StreamSchema) }), ...problems() } },
  }, async (req) => {
    const local = registry.list().filter((s) => callerMay(req, "stream:view", s.name)).map((s) => describe(req, s));
    const remote = opts.cluster ? (await opts.cluster.remote()).filter((r) => !registry.get(r.name) && callerMay(req, "stream:view", r.name)) : [];
    return { streams: [...local, ...awaited(req), ...remote] };
  });

  app.get("/api/v1/streams/:stream", {
    config: { auth: onStream("stream:view") },
    schema: { tags: ["streams"], summary: "One live stream", params: StreamParams, response: { 200: StreamSchema, ...problems(404) } },
  }, async (req) => {
    const s = registry.get(req.params.stream);
    if (s) return describe(req, s);
    const remote = await opts.cluster?.remoteOne(req.params.stream);
    if (remote) return remote;
    throw new NotFoundError(`stream "${req.params.stream}" is not live`, "stream-not-found");
  });

  app.delete("/api/v1/streams/:stream", {
    config: { auth: onStream("stream:control"), audit: "stream.kicked" },
    schema: { tags: ["streams"], summary: "Kick the stream's publisher (its session ends, its recording closes)", params: StreamParams, response: { 204: empty("Publisher disconnected"), ...problems(404) } },
  }, async (req, reply) => {
    if (!registry.get(req.params.stream)) {
      // Another node's stream: the kick goes to its owner.
      const owner = mayForward(req) ? await opts.cluster?.ownerUrl(req.params.stream) : undefined;
      if (owner) return forwardToOwner(req, reply as FastifyReply, owner);
    }
    liveOr404(req.params.stream);
    if (!opts.kick || !(await opts.kick(req.params.stream))) throw new NotFoundError(`stream "${req.params.stream}" is not live`, "stream-not-found");
    return reply.code(204).send();
  });

  app.get("/api/v1/recordings", {
    config: { auth: { permission: "recording:view", stream: { in: "query", name: "stream" } } },
    schema: { tags: ["recordings"], summary: "Recorded spans by stream, time and tags", querystring: SpanQuery, response: { 200: Type.Object({ recordings: Type.Array(SpanSchema) }), ...problems() } },
  }, async (req) => {
    const { stream, from, to, tag } = req.query;
    const { fromMs, toMs } = parseSpan(from, to);
    const spans = await catalog.spans(stream, fromMs, toMs, parseTagFilters(tag));
    return { recordings: spans.filter((s) => callerMay(req, "recording:view", s.stream)) };
  });

  app.get("/api/v1/recordings/:stream/play", {
    config: { auth: onStream("recording:view", true) },
    schema: {
      tags: ["recordings"], summary: "A recorded span as one MP4 (fragmented)",
      params: StreamParams,
      querystring: Type.Object({
        start: Type.String({ description: "ISO 8601 time or epoch ms" }),
        duration: Type.Number({ exclusiveMinimum: 0, description: "seconds" }),
        ...ViewTokenQuery,
      }, { additionalProperties: false }),
      response: { 200: binary("The span as fragmented MP4", "video/mp4"), ...problems(404) },
    },
  }, async (req, reply) => {
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
  });
}
