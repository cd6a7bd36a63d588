import type { FastifyInstance } from "fastify";
import { Type, type TSchema } from "typebox";
import { STREAM_NAME } from "../core/stream-name.js";

/**
 * The shared JSON schemas every route refers to by `$ref` (`streamName#`, `problem#`, …):
 * registered once with `app.addSchema`, so validation, serialization and the OpenAPI document
 * (components.schemas) come from one definition. The `…Ref` values are TypeBox types typed as
 * what they validate, so handlers get `string` for a `$ref: streamName#` parameter.
 */

const SESSION_ID = /^[A-Za-z0-9_-]{1,64}$/;
const ID = /^[A-Za-z0-9_-]{1,64}$/;

export const SHARED_SCHEMAS: readonly TSchema[] = [
  Type.String({
    $id: "streamName",
    pattern: STREAM_NAME.source,
    // `clips` and `auth` are the object store's and the data dir's own prefixes (see core/stream-name.ts).
    not: { enum: ["clips", "auth"] },
    description: "A stream's name: 1–64 of A–Z a–z 0–9 _ -; `clips` and `auth` are reserved.",
    examples: ["cam1"],
  }),
  Type.String({ $id: "sessionId", pattern: SESSION_ID.source, description: "A WHIP/WHEP session resource id (unguessable, 128-bit random)." }),
  Type.String({ $id: "recordingId", pattern: ID.source, description: "A recording's id, e.g. `20261123T054000123Z-3f9a`." }),
  Type.String({ $id: "clipId", pattern: ID.source, description: "A clip's id." }),
  Type.Object(
    {
      type: Type.String({ description: "A URN naming the kind of problem; clients branch on it." }),
      title: Type.String(),
      status: Type.Integer({ minimum: 100, maximum: 599 }),
      detail: Type.Optional(Type.String()),
      instance: Type.Optional(Type.String()),
      errors: Type.Optional(
        Type.Array(Type.Object({ field: Type.String(), message: Type.String() }), { description: "Validation failures, one per failing field." }),
      ),
    },
    // Extension members (RFC 9457 §3.2) such as `limit` or `offered` ride along.
    { $id: "problem", additionalProperties: true, description: "RFC 9457 (7807) problem details" },
  ),
];

/** Registers the shared schemas on the root instance (before any route plugin). */
export function addSharedSchemas(app: FastifyInstance): void {
  for (const s of SHARED_SCHEMAS) app.addSchema(s);
}

export const StreamNameRef = Type.Unsafe<string>(Type.Ref("streamName"));
export const SessionIdRef = Type.Unsafe<string>(Type.Ref("sessionId"));
export const RecordingIdRef = Type.Unsafe<string>(Type.Ref("recordingId"));
export const ClipIdRef = Type.Unsafe<string>(Type.Ref("clipId"));

export const StreamParams = Type.Object({ stream: StreamNameRef });

/** A hole in a recording (a network break it went on after), as listed with the recording. */
export const GapSchema = Type.Object({
  fromMs: Type.Number({ description: "Epoch ms of the last frame before the break" }),
  toMs: Type.Number({ description: "Epoch ms of the first frame after it (a segment start, at an IDR)" }),
  durationMs: Type.Number({ description: "toMs − fromMs: the real wall-clock length, kept in the recording's timeline" }),
  reason: Type.Union([Type.Literal("discontinuity"), Type.Literal("time-hole")], {
    description: "`discontinuity`: the publisher reconnected or its clock jumped; `time-hole`: frames stopped for a while (e.g. an ICE restart)",
  }),
});
export const SessionParams = Type.Object({ stream: StreamNameRef, session: SessionIdRef });

export const PROBLEM = "application/problem+json";
const problemContent = { [PROBLEM]: { schema: { $ref: "problem#" } } };

/**
 * Error responses by status, each a problem+json described by `$ref: problem#`. Every route
 * lists the ones it can answer (plus 4xx/5xx catch-alls), so the OpenAPI document and the fuzz
 * test know them.
 */
export function problems(...statuses: number[]): Record<string, unknown> {
  const out: Record<string, unknown> = {};
  for (const s of statuses) out[String(s)] = { description: STATUS_TEXT[s] ?? "Error", content: problemContent };
  out["4xx"] = { description: "Client error", content: problemContent };
  out["5xx"] = { description: "Server error", content: problemContent };
  return out;
}

/** A non-JSON body (SDP, playlists, MP4) as an OpenAPI response with its content type. */
export function binary(description: string, ...contentTypes: string[]): Record<string, unknown> {
  return {
    description,
    content: Object.fromEntries(contentTypes.map((t) => [t, { schema: { type: "string", ...(t.startsWith("video/") ? { format: "binary" } : {}) } }])),
  };
}

/** A response with no body. */
export function empty(description: string): Record<string, unknown> {
  return { description, type: "null" };
}

const STATUS_TEXT: Record<number, string> = {
  400: "Invalid request",
  401: "Credentials missing or refused",
  403: "Not permitted",
  404: "Not found",
  406: "Not acceptable",
  409: "Conflict",
  412: "Precondition failed",
  413: "Payload too large",
  415: "Unsupported media type",
  422: "Unprocessable content",
  426: "Upgrade required",
  429: "Too many requests",
  503: "Service unavailable",
  507: "Insufficient storage",
};
