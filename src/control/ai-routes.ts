import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import type { FastifyInstance } from "fastify";
import { Type } from "typebox";
import type { StreamRegistry } from "../core/stream-registry.js";
import { BadRequestError, NotFoundError } from "../errors.js";
import type { AiFeed } from "../extractor/ai-feed.js";
import { QosAboveMaximumError } from "../extractor/qos-controller.js";
import type { RouteAuth } from "./auth/principal.js";
import { problems, StreamParams } from "./schemas.js";

export interface AiRoutesOptions {
  registry: StreamRegistry;
  /** Undefined when the AI feed is disabled (IFC_AI_ENABLED=false). */
  ai: AiFeed | undefined;
}

const QosBody = Type.Object({ preset: Type.Union([Type.Literal("high"), Type.Literal("medium"), Type.Literal("low"), Type.Literal("auto")]) }, { additionalProperties: false });

const Summary = Type.Object({}, { additionalProperties: true });
const AiStats = Type.Object(
  {
    preset: Type.String(),
    override: Type.Union([Type.String(), Type.Null()]),
    worker: Type.Optional(Type.String()),
    state: Type.String(),
    framesOffered: Type.Integer(),
    framesSent: Type.Integer(),
    framesDropped: Type.Integer(),
    results: Type.Integer(),
    outstanding: Type.Integer(),
    credits: Type.Number(),
    reconnects: Type.Integer(),
    latencyMs: Type.Optional(Summary),
    ingestToWorkerMs: Type.Optional(Summary),
    lastProductInfo: Type.Optional(Summary),
  },
  { additionalProperties: true },
);
const Workers = Type.Object({
  enabled: Type.Boolean(),
  workers: Type.Array(Type.Object({ address: Type.String(), healthy: Type.Boolean(), breaker: Type.String(), outstanding: Type.Integer() })),
  sessions: Type.Integer(),
});

const onStream = (permission: RouteAuth["permission"], viewToken = false): RouteAuth => ({ permission, stream: { in: "params", name: "stream" }, ...(viewToken ? { viewToken } : {}) });

/**
 * The AI feed's operator surface: a stream's feed figures, its QoS override, the workers.
 * `PUT /api/v1/streams/{stream}/qos {"preset":"low"}` pins a preset; `"auto"` hands it back to
 * the automatic controller.
 */
export async function aiRoutes(fastify: FastifyInstance, opts: AiRoutesOptions): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const tags = ["ai"];
  const feedOf = (stream: string): AiFeed => {
    if (!opts.registry.get(stream)) throw new NotFoundError(`stream "${stream}" is not live`, "stream-not-found");
    if (!opts.ai) throw new NotFoundError("the AI feed is disabled (IFC_AI_ENABLED=false)", "ai-disabled");
    return opts.ai;
  };

  app.get("/api/v1/streams/:stream/ai", {
    config: { auth: onStream("stream:view") },
    schema: { tags, summary: "A stream's AI feed: preset, worker, frames, latency", params: StreamParams, response: { 200: AiStats, ...problems(404) } },
  }, async (req) => {
    const stats = feedOf(req.params.stream).stats(req.params.stream);
    if (!stats) throw new NotFoundError(`stream "${req.params.stream}" is not fed to AI workers (no video yet)`, "ai-session-not-found");
    return stats;
  });

  app.put("/api/v1/streams/:stream/qos", {
    config: { auth: onStream("stream:control"), audit: "qos.pinned" },
    schema: {
      tags, summary: "Pin the stream's QoS preset (`auto`: back to the automatic controller)",
      params: StreamParams, body: QosBody, response: { 200: AiStats, ...problems(400, 404, 415) },
    },
  }, async (req) => {
    const ai = feedOf(req.params.stream);
    const preset = req.body.preset === "auto" ? null : req.body.preset;
    let applied;
    try {
      applied = ai.setOverride(req.params.stream, preset);
    } catch (err) {
      if (err instanceof QosAboveMaximumError) throw new BadRequestError(`${err.message} (IFC_AI_MAX_PRESET)`, "qos-above-maximum");
      throw err;
    }
    const stats = applied === false ? undefined : ai.stats(req.params.stream);
    if (!stats) {
      throw new NotFoundError(`stream "${req.params.stream}" is not fed to AI workers (no video yet, or waiting for a slot)`, "ai-session-not-found");
    }
    return stats;
  });

  app.get("/api/v1/ai/workers", {
    config: { auth: { permission: "system:view" } },
    schema: { tags, summary: "AI workers and their health", response: { 200: Workers, ...problems() } },
  }, async () => ({ enabled: opts.ai !== undefined, workers: opts.ai?.pool.status() ?? [], sessions: opts.ai?.sessionCount ?? 0 }));
}
