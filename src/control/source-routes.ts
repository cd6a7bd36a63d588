import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import type { FastifyInstance } from "fastify";
import { Type } from "typebox";
import { NotFoundError, ProblemError } from "../errors.js";
import type { SourceInfo } from "../ingest/source-manager.js";
import { callerMay } from "./rest-routes.js";
import { empty, problems } from "./schemas.js";

/** What the routes need of the source manager. */
export interface SourceService {
  list(): SourceInfo[];
  get(id: string): SourceInfo;
  create(body: unknown): Promise<SourceInfo>;
  remove(id: string): Promise<void>;
}

export interface SourceRoutesOptions {
  sources: SourceService;
}

const SourceStatusSchema = Type.Object({
  state: Type.Union([Type.Literal("idle"), Type.Literal("connecting"), Type.Literal("live"), Type.Literal("retrying")], {
    description: "`idle`: not pulling (an on-demand source nobody reads); `connecting`: a try is under way; `live`: pulling; `retrying`: the last try failed or the camera dropped, the next try is at `nextRetryAt`",
  }),
  retries: Type.Integer({ description: "Failed tries since the source was last live (0 while live)" }),
  reconnects: Type.Integer({ description: "Times the camera came back after a drop" }),
  since: Type.String({ format: "date-time", description: "When the source entered its state" }),
  nextRetryAt: Type.Optional(Type.String({ format: "date-time" })),
  transport: Type.Optional(Type.Union([Type.Literal("tcp"), Type.Literal("udp")])),
  lastError: Type.Optional(Type.Object({ kind: Type.String(), message: Type.String(), at: Type.String({ format: "date-time" }) })),
});

const SourceSchema = Type.Object({
  id: Type.String(),
  name: Type.String({ description: "The stream it publishes" }),
  url: Type.String({ description: "The camera's URL, password redacted (`***`)" }),
  transport: Type.Union([Type.Literal("tcp"), Type.Literal("udp"), Type.Literal("auto")]),
  mode: Type.Union([Type.Literal("always"), Type.Literal("on-demand")]),
  origin: Type.Union([Type.Literal("config"), Type.Literal("api")], { description: "`config`: declared in IFC_SOURCES (read-only); `api`: added here, kept in <IFC_DATA_DIR>/sources.json" }),
  createdAt: Type.String({ format: "date-time" }),
  status: SourceStatusSchema,
});

const CreateSource = Type.Object({
  name: Type.String({ maxLength: 64, description: "The stream to publish the camera as" }),
  url: Type.String({ maxLength: 2048, description: "`rtsp://user:pass@host[:port]/path`" }),
  transport: Type.Optional(Type.Union([Type.Literal("tcp"), Type.Literal("udp"), Type.Literal("auto")], { description: "Default `auto`: UDP, TCP interleaved when the camera refuses UDP" })),
  mode: Type.Optional(Type.Union([Type.Literal("always"), Type.Literal("on-demand")], { description: "Default `always`" })),
}, { additionalProperties: false });

const IdParams = Type.Object({ id: Type.String({ pattern: "^[A-Za-z0-9_-]{1,80}$" }) });

/** The status in the API's words (ISO times). */
export function sourceStatusJson(s: SourceInfo["status"]) {
  return {
    state: s.state,
    retries: s.retries,
    reconnects: s.reconnects,
    since: new Date(s.since).toISOString(),
    ...(s.nextRetryAt !== undefined ? { nextRetryAt: new Date(s.nextRetryAt).toISOString() } : {}),
    ...(s.transport ? { transport: s.transport } : {}),
    ...(s.lastError ? { lastError: { kind: s.lastError.kind, message: s.lastError.message, at: new Date(s.lastError.at).toISOString() } } : {}),
  };
}

const toJson = (s: SourceInfo) => ({ ...s, createdAt: new Date(s.createdAt).toISOString(), status: sourceStatusJson(s.status) });

/**
 * Pulled cameras (`/api/v1/sources`): list, add, inspect, remove. `stream:control` on the
 * source's stream (scoped grants are checked against its name in the handler: the id in the
 * path names no stream). Passwords never leave the server.
 */
export async function sourceRoutes(fastify: FastifyInstance, opts: SourceRoutesOptions): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { sources } = opts;
  const tags = ["sources"];
  const visible = (id: string, req: Parameters<typeof callerMay>[0]): SourceInfo => {
    const s = sources.get(id);
    // A source on a stream the caller may not control is as unknown to it as a missing one.
    if (!callerMay(req, "stream:control", s.name)) throw new NotFoundError(`no source "${id}"`, "source-not-found");
    return s;
  };

  app.get("/api/v1/sources", {
    config: { auth: { permission: "stream:control" } },
    schema: { tags, summary: "Pulled cameras (RTSP sources) and their state", response: { 200: Type.Object({ sources: Type.Array(SourceSchema) }), ...problems() } },
  }, async (req) => ({ sources: sources.list().filter((s) => callerMay(req, "stream:control", s.name)).map(toJson) }));

  app.post("/api/v1/sources", {
    config: { auth: { permission: "stream:control" } },
    schema: {
      tags, summary: "Pull a camera over RTSP into a stream",
      description: "Kept across restarts. 400: a bad name, URL or scheme (rtsp:// only); 409: the stream already has a source or is live from another publisher.",
      body: CreateSource,
      response: { 201: SourceSchema, ...problems(400, 403, 409, 415) },
    },
  }, async (req, reply) => {
    if (!callerMay(req, "stream:control", req.body.name)) throw new ProblemError(403, "forbidden", "Forbidden", `no permission stream:control on stream "${req.body.name}"`);
    const created = await sources.create(req.body);
    return reply.code(201).header("location", `/api/v1/sources/${created.id}`).send(toJson(created));
  });

  app.get("/api/v1/sources/:id", {
    config: { auth: { permission: "stream:control" } },
    schema: { tags, summary: "One pulled camera", params: IdParams, response: { 200: SourceSchema, ...problems(404) } },
  }, async (req) => toJson(visible(req.params.id, req)));

  app.delete("/api/v1/sources/:id", {
    config: { auth: { permission: "stream:control" } },
    schema: { tags, summary: "Stop pulling a camera and forget it (its stream ends)", params: IdParams, response: { 204: empty("Removed"), ...problems(404, 409) } },
  }, async (req, reply) => {
    visible(req.params.id, req);
    await sources.remove(req.params.id);
    return reply.code(204).send();
  });
}
