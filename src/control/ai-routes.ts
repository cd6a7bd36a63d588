import type { FastifyInstance } from "fastify";
import { assertStreamName } from "../core/stream-name.js";
import type { StreamRegistry } from "../core/stream-registry.js";
import { BadRequestError, NotFoundError } from "../errors.js";
import type { AiFeed } from "../extractor/ai-feed.js";
import { QosAboveMaximumError } from "../extractor/qos-controller.js";
import type { QosPresetName } from "../extractor/qos-presets.js";

export interface AiRoutesOptions {
  registry: StreamRegistry;
  /** Undefined when the AI feed is disabled (IFC_AI_ENABLED=false). */
  ai: AiFeed | undefined;
}

const qosBodySchema = {
  type: "object",
  required: ["preset"],
  properties: { preset: { type: "string", enum: ["high", "medium", "low", "auto"] } },
  additionalProperties: false,
} as const;

/**
 * The AI feed's operator surface: a stream's feed figures, its QoS override, the workers.
 * `PUT /api/v1/streams/{stream}/qos {"preset":"low"}` pins a preset; `"auto"` hands it back to
 * the automatic controller.
 */
export async function aiRoutes(app: FastifyInstance, opts: AiRoutesOptions): Promise<void> {
  const feedOf = (stream: string): AiFeed => {
    assertStreamName(stream);
    if (!opts.registry.get(stream)) throw new NotFoundError(`stream "${stream}" is not live`, "stream-not-found");
    if (!opts.ai) throw new NotFoundError("the AI feed is disabled (IFC_AI_ENABLED=false)", "ai-disabled");
    return opts.ai;
  };

  app.get<{ Params: { stream: string } }>("/api/v1/streams/:stream/ai", async (req) => {
    const stats = feedOf(req.params.stream).stats(req.params.stream);
    if (!stats) throw new NotFoundError(`stream "${req.params.stream}" is not fed to AI workers (no video yet)`, "ai-session-not-found");
    return stats;
  });

  app.put<{ Params: { stream: string }; Body: { preset: QosPresetName | "auto" } }>(
    "/api/v1/streams/:stream/qos",
    { schema: { body: qosBodySchema } },
    async (req) => {
      const ai = feedOf(req.params.stream);
      const preset = req.body.preset === "auto" ? null : req.body.preset;
      let applied;
      try {
        applied = ai.setOverride(req.params.stream, preset);
      } catch (err) {
        if (err instanceof QosAboveMaximumError) throw new BadRequestError(`${err.message} (IFC_AI_MAX_PRESET)`, "qos-above-maximum");
        throw err;
      }
      if (applied === false) {
        throw new NotFoundError(`stream "${req.params.stream}" is not fed to AI workers (no video yet, or waiting for a slot)`, "ai-session-not-found");
      }
      return ai.stats(req.params.stream);
    },
  );

  app.get("/api/v1/ai/workers", async () => ({ enabled: opts.ai !== undefined, workers: opts.ai?.pool.status() ?? [], sessions: opts.ai?.sessionCount ?? 0 }));
}
