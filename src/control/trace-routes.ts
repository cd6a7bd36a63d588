import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import type { FastifyInstance } from "fastify";
import { Type } from "typebox";
import { parseTime } from "../core/time-param.js";
import { BadRequestError, NotFoundError } from "../errors.js";
import type { TraceService } from "../products/trace-service.js";
import type { LinkKind, TraceStore } from "../products/trace-store.js";
import { STREAM_NAME } from "../core/stream-name.js";
import { callerMay } from "./rest-routes.js";
import { empty, problems } from "./schemas.js";

const tags = ["products"];
const ProductIdParams = Type.Object({ id: Type.String({ pattern: "^[A-Za-z0-9_.:-]{1,128}$", description: "A product id" }) });
const Paging = {
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 50 })),
  cursor: Type.Optional(Type.String({ maxLength: 2048, description: "Opaque: the next_cursor of the previous page (anything else: 400)" })),
};
const Field = (description: string) => Type.Optional(Type.String({ minLength: 1, maxLength: 64, description }));
const Time = (description: string) => Type.Optional(Type.String({ maxLength: 64, description: `${description}: ISO 8601 time or epoch ms` }));
const Kind = Type.Union([Type.Literal("recording"), Type.Literal("clip"), Type.Literal("execution"), Type.Literal("file")]);
const RefId = Type.String({ minLength: 1, maxLength: 200, pattern: "^[A-Za-z0-9_.:/-]+$", description: "What is linked: `<stream>/<recording id>` for a recording, a clip, execution or file id otherwise" });
const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);

const TraceEntrySchema = Type.Object({
  kind: Type.String({ description: "production, recording, clip, inspection_session, inspection_result, execution or file" }),
  id: Type.String(),
  at: Type.String({ format: "date-time", description: "When it happened; a recording: when the product was first seen in it (or the recording's start when only its tags name the product)" }),
  url: Type.String({ description: "Where to fetch it (a recording: its span as MP4)" }),
}, { additionalProperties: true, description: "One link of the chain; further members depend on the kind" });

const LinkSchema = Type.Object({
  product_id: Type.String(),
  kind: Kind,
  ref_id: Type.String(),
  stream: Nullable(Type.String()),
  first_seen_at: Type.String({ format: "date-time" }),
  last_seen_at: Type.String({ format: "date-time" }),
});

const ProductSchema = Type.Object({
  product_id: Type.String(),
  work_order_id: Type.String(),
  instruction_id: Nullable(Type.String()),
  product_type: Nullable(Type.String()),
  machine_number: Nullable(Type.String()),
  production_date: Nullable(Type.String()),
  monthly_sequence: Nullable(Type.Integer()),
  model: Nullable(Type.String()),
  version: Nullable(Type.String()),
  batch: Nullable(Type.String()),
  status: Type.String(),
  revision: Type.Integer(),
  created_at: Type.String({ format: "date-time" }),
  updated_at: Type.String({ format: "date-time" }),
  specifications: Type.Record(Type.String(), Type.String()),
});

const ResultSchema = Type.Object({
  result_id: Type.String(), session_id: Type.String(), item_id: Nullable(Type.String()), source: Type.String(), result: Type.String(),
  confidence: Nullable(Type.Number()), defect_types: Type.Array(Type.Unknown()), pipeline_id: Nullable(Type.String()), pipeline_version: Nullable(Type.String()),
  execution_id: Nullable(Type.String()), image_file_id: Nullable(Type.String()), created_at: Type.String({ format: "date-time" }),
});
const SessionSchema = Type.Object({
  session_id: Type.String(), target_id: Type.String(), status: Type.String(), overall_result: Nullable(Type.String()), inspector: Nullable(Type.String()),
  device_id: Nullable(Type.String()), started_at: Type.String({ format: "date-time" }), completed_at: Nullable(Type.String()), results: Type.Array(ResultSchema),
});

const VideoHitSchema = Type.Object({
  product_id: Type.String(),
  work_order_id: Type.String(),
  stream: Type.String(),
  recording_id: Type.String(),
  from: Type.String({ format: "date-time", description: "First frame the product's code was seen in" }),
  to: Type.String({ format: "date-time", description: "Last frame it was seen in" }),
  play_url: Type.String({ description: "GET it (recording:view) for the span as MP4: duration at least 1 s, at most IFC_PLAY_MAX_DURATION_MS" }),
});

const pageOf = <T extends Parameters<typeof Type.Array>[0]>(item: T) =>
  Type.Object({ items: Type.Array(item), next_cursor: Nullable(Type.String()), total: Type.Integer() });

export interface TraceRoutesOptions {
  service: TraceService;
  store: () => Promise<TraceStore>;
}

const validRef = (kind: LinkKind, ref: string): boolean => {
  if (kind !== "recording") return !ref.includes("/");
  const slash = ref.indexOf("/");
  return slash > 0 && STREAM_NAME.test(ref.slice(0, slash)) && /^[A-Za-z0-9_-]{1,64}$/.test(ref.slice(slash + 1));
};

/**
 * Traceability (issue 16 item 4): a product's chain and details, its explicit links, and the
 * recording spans of products by their fields (the documents' VideoAnalysisService search).
 */
export async function traceRoutes(fastify: FastifyInstance, opts: TraceRoutesOptions): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const { service } = opts;

  app.get("/api/v1/products/:id/trace", {
    config: { auth: { permission: "product:search" } },
    schema: {
      tags, summary: "The product's whole chain, oldest first: production, recordings, clips, inspections and their results, pipeline executions, files",
      params: ProductIdParams, querystring: Type.Object(Paging, { additionalProperties: false }),
      response: { 200: Type.Object({ product_id: Type.String(), items: Type.Array(TraceEntrySchema), next_cursor: Nullable(Type.String()), total: Type.Integer(), truncated: Type.Boolean({ description: "A source held more than the chain reads (5000 rows each)" }) }), ...problems(400, 404) },
    },
  }, async (req) => service.trace(req.params.id, { limit: req.query.limit ?? 50, ...(req.query.cursor !== undefined ? { cursor: req.query.cursor } : {}) }));

  app.get("/api/v1/products/:id/details", {
    config: { auth: { permission: "product:search" } },
    schema: {
      tags, summary: "The product with its specifications, its inspection history (newest first, paged), related files and the trace summary",
      params: ProductIdParams, querystring: Type.Object(Paging, { additionalProperties: false }),
      response: {
        200: Type.Object({
          product: ProductSchema,
          inspection_history: pageOf(SessionSchema),
          related_files: Type.Object({ images: Type.Array(TraceEntrySchema), recordings: Type.Array(TraceEntrySchema), clips: Type.Array(TraceEntrySchema), reports: Type.Array(TraceEntrySchema) }),
          trace_summary: Type.Object({
            kinds: Type.Record(Type.String(), Type.Object({ count: Type.Integer(), first_at: Type.String(), last_at: Type.String() })),
            total: Type.Integer(), first_at: Nullable(Type.String()), last_at: Nullable(Type.String()), truncated: Type.Boolean(), trace_url: Type.String(),
          }),
        }),
        ...problems(400, 404),
      },
    },
  }, async (req) => service.details(req.params.id, { limit: req.query.limit ?? 50, ...(req.query.cursor !== undefined ? { cursor: req.query.cursor } : {}) }));

  app.post("/api/v1/products/:id/links", {
    config: { auth: { permission: "inspection:create" } },
    schema: {
      tags, summary: "Link a recording, clip, pipeline execution or file to the product (a repeated link widens its span)",
      params: ProductIdParams,
      body: Type.Object({
        kind: Kind,
        ref_id: RefId,
        first_seen_at: Time("Start of the span (default: now)"),
        last_seen_at: Time("End of the span (default: first_seen_at)"),
      }, { additionalProperties: false }),
      response: { 201: LinkSchema, ...problems(400, 404) },
    },
  }, async (req, reply) => {
    const { kind, ref_id: ref } = req.body;
    if (!validRef(kind, ref)) throw new BadRequestError(kind === "recording" ? "a recording's ref_id is <stream>/<recording id>" : `a ${kind}'s ref_id is its id (no "/")`, "invalid-ref");
    const first = req.body.first_seen_at !== undefined ? parseTime(req.body.first_seen_at, "first_seen_at") : Date.now();
    const last = req.body.last_seen_at !== undefined ? parseTime(req.body.last_seen_at, "last_seen_at") : first;
    if (last < first) throw new BadRequestError("last_seen_at is before first_seen_at", "invalid-range");
    const store = await opts.store();
    if (!(await store.productExists(req.params.id))) throw new NotFoundError(`no product ${req.params.id}`, "product-not-found");
    const stream = kind === "recording" ? ref.slice(0, ref.indexOf("/")) : null;
    await store.upsertLinks([{ product_id: req.params.id, kind, ref_id: ref, stream, first_seen_at: first, last_seen_at: last, detail: { source: "operator", by: req.principal?.subject ?? null } }]);
    const link = await store.link(req.params.id, kind, ref);
    if (!link) throw new NotFoundError(`no product ${req.params.id}`, "product-not-found"); // deleted meanwhile
    return reply.code(201).send({
      product_id: link.product_id, kind: link.kind, ref_id: link.ref_id, stream: link.stream,
      first_seen_at: new Date(link.first_seen_at).toISOString(), last_seen_at: new Date(link.last_seen_at).toISOString(),
    });
  });

  app.delete("/api/v1/products/:id/links", {
    config: { auth: { permission: "system:admin" } },
    schema: {
      tags, summary: "Remove a link", params: ProductIdParams,
      querystring: Type.Object({ kind: Kind, ref_id: RefId }, { additionalProperties: false }),
      response: { 204: empty("Link removed"), ...problems(404) },
    },
  }, async (req, reply) => {
    const store = await opts.store();
    if (!(await store.deleteLink(req.params.id, req.query.kind, req.query.ref_id))) throw new NotFoundError(`product ${req.params.id} has no ${req.query.kind} link ${req.query.ref_id}`, "link-not-found");
    return reply.code(204).send();
  });

  app.get("/api/v1/videos/search", {
    // recording:view (what the hits play): whoever may watch the recordings may find them by product.
    config: { auth: { permission: "recording:view" } },
    schema: {
      tags, summary: "Recording spans of products by product fields, time and inspection result, oldest first, paged",
      querystring: Type.Object({
        work_order_id: Field("Exact work order"),
        work_order_prefix: Field("Work orders starting with it"),
        instruction_id: Field("Exact instruction"),
        product_type: Field("Exact product type"),
        machine_number: Field("Exact machine number"),
        from: Time("Spans ending at or after it"),
        to: Time("Spans starting at or before it"),
        inspection_result: Type.Optional(Type.Union([Type.Literal("OK"), Type.Literal("NG")], { description: "Products whose latest judged inspection session ended so" })),
        ...Paging,
      }, { additionalProperties: false }),
      response: { 200: pageOf(VideoHitSchema), ...problems(400) },
    },
  }, async (req) => {
    const q = req.query;
    const fromMs = q.from !== undefined ? parseTime(q.from, "from") : undefined;
    const toMs = q.to !== undefined ? parseTime(q.to, "to") : undefined;
    if (fromMs !== undefined && toMs !== undefined && toMs < fromMs) throw new BadRequestError("from must not be after to", "invalid-range");
    const found = await service.searchVideos(
      {
        ...(q.work_order_id !== undefined ? { work_order_id: q.work_order_id } : {}),
        ...(q.work_order_prefix !== undefined ? { work_order_prefix: q.work_order_prefix } : {}),
        ...(q.instruction_id !== undefined ? { instruction_id: q.instruction_id } : {}),
        ...(q.product_type !== undefined ? { product_type: q.product_type } : {}),
        ...(q.machine_number !== undefined ? { machine_number: q.machine_number } : {}),
        ...(fromMs !== undefined ? { fromMs } : {}),
        ...(toMs !== undefined ? { toMs } : {}),
        ...(q.inspection_result !== undefined ? { inspection_result: q.inspection_result } : {}),
      },
      { limit: q.limit ?? 50, ...(q.cursor !== undefined ? { cursor: q.cursor } : {}) },
    );
    // A grant scoped to some streams sees only their hits (the page may then hold fewer than `limit`; `total` counts all).
    return { ...found, items: found.items.filter((h) => callerMay(req, "recording:view", h.stream)) };
  });
}
