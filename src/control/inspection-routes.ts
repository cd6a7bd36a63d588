import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { Type } from "typebox";
import { ProblemError } from "../errors.js";
import type { AiInspectionRunner } from "../inspection/ai-runner.js";
import { InspectionFailed } from "../inspection/errors.js";
import type { InspectionService } from "../inspection/inspection-service.js";
import type { MasterStore } from "../inspection/master-store.js";
import { MAX_PAGE_LIMIT } from "../inspection/paging.js";
import type { QualityMonitor } from "../inspection/quality-monitor.js";
import type { SessionStore } from "../inspection/session-store.js";
import { statisticsRange, trendRange, type InspectionStatistics } from "../inspection/statistics.js";
import { validationProblem } from "./http-errors.js";
import { empty, problems } from "./schemas.js";

const tags = ["inspection"];
const ID = Type.String({ pattern: "^[A-Za-z0-9_.-]{1,128}$" });
const UUID = "^[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}$";
const IdParams = Type.Object({ id: ID });
const Paging = Type.Object({
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: MAX_PAGE_LIMIT, default: 50 })),
  cursor: Type.Optional(Type.String({ maxLength: 2048 })),
});
const AnyObject = Type.Object({}, { additionalProperties: true });
const Metadata = Type.Record(Type.String(), Type.Unknown(), { description: "Free-form JSON object" });
const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);
const page = <T extends Parameters<typeof Type.Array>[0]>(item: T) => Type.Object({ items: Type.Array(item), next_cursor: Nullable(Type.String()), total: Type.Integer() });

const Target = Type.Object({
  target_id: Type.String(), name: Type.String(), product_type: Nullable(Type.String()), description: Type.String(), metadata: AnyObject,
  revision: Type.Integer(), created_at: Type.String(), updated_at: Type.String(),
});
const TargetFields = {
  name: Type.String({ minLength: 1, maxLength: 200 }),
  product_type: Type.Optional(Nullable(Type.String({ maxLength: 100 }))),
  description: Type.Optional(Type.String({ maxLength: 4000 })),
  metadata: Type.Optional(Metadata),
};
const TargetBody = Type.Object(TargetFields, { additionalProperties: false });
const Criteria = Type.Object({
  confidence_threshold: Type.Optional(Type.Number({ minimum: 0, maximum: 1, description: "Default threshold of this item's AI judgement" })),
  defect_classes: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 128 }), { maxItems: 64, description: "Defect classes besides dark_spot and scratch" })),
}, { additionalProperties: true });
const Item = Type.Object({
  item_id: Type.String(), target_id: Type.String(), name: Type.String(), category: Nullable(Type.String()), description: Type.String(), order_index: Type.Integer(),
  pipeline_id: Nullable(Type.String()), pipeline_version: Nullable(Type.String()), criteria: AnyObject, revision: Type.Integer(), created_at: Type.String(), updated_at: Type.String(),
});
const ItemFields = {
  name: Type.String({ minLength: 1, maxLength: 200 }),
  category: Type.Optional(Nullable(Type.String({ maxLength: 100 }))),
  description: Type.Optional(Type.String({ maxLength: 4000 })),
  order_index: Type.Optional(Type.Integer({ minimum: 0, maximum: 1_000_000 })),
  pipeline_id: Type.Optional(Nullable(Type.String({ pattern: "^[A-Za-z0-9_.-]{1,64}$" }))),
  pipeline_version: Type.Optional(Nullable(Type.String({ minLength: 1, maxLength: 64 }))),
  criteria: Type.Optional(Criteria),
};
const ItemBody = Type.Object(ItemFields, { additionalProperties: false });
const Session = Type.Object({
  session_id: Type.String(), target_id: Type.String(), product_id: Nullable(Type.String()), status: Type.String({ description: "in_progress or completed" }),
  overall_result: Nullable(Type.String()), inspector: Nullable(Type.String()), device_id: Nullable(Type.String()), notes: Type.String(), metadata: AnyObject,
  revision: Type.Integer(), started_at: Type.String(), completed_at: Nullable(Type.String()), updated_at: Type.String(),
  results: Type.Optional(Type.Array(AnyObject)),
});
const Detection = Type.Object({ class_name: Type.String(), confidence: Type.Number(), bbox: Type.Object({ x: Type.Number(), y: Type.Number(), width: Type.Number(), height: Type.Number() }) });
const AiAnswer = Type.Object({
  ai_result: Type.Object({ overall_result: Type.String(), confidence: Type.Number(), detections: Type.Array(Detection) }),
  processing_time_ms: Type.Number(), pipeline_version: Type.String(), created_at: Type.String(),
  result_id: Nullable(Type.String()), session_id: Nullable(Type.String()), item_id: Nullable(Type.String()), pipeline_id: Type.String(), execution_id: Nullable(Type.String()),
});
const Threshold = Type.Number({ minimum: 0, maximum: 1 });
const QualityUpdateFigures = Type.Object({
  hourly_ok_rate: Nullable(Type.Number()), current_ng_count: Type.Integer(), active_inspectors: Type.Integer(), ng_rate: Nullable(Type.Number()), total: Type.Integer(), window_ms: Type.Integer(),
  threshold: Type.Number(),
});
const Alert = Type.Object({
  alert_id: Type.String(), type: Type.String(), severity: Type.String(), message: Type.String(), raised_at: Type.String(),
  data: Type.Object({ current_ng_rate: Type.Number(), threshold: Type.Number(), time_window: Type.String() }),
});

export interface InspectionRoutesOptions {
  master(): Promise<MasterStore>;
  sessions(): Promise<SessionStore>;
  statistics(): Promise<InspectionStatistics>;
  service: InspectionService;
  runner: AiInspectionRunner;
  monitor(): Promise<QualityMonitor>;
  /** Each judgement stored (metrics). */
  onResult(source: string, result: string): void;
  now?: () => number;
}

/** The documents' inspection error (API design §6.5.2), 422 with `inspection_context`. */
export function inspectionProblem(err: InspectionFailed): ProblemError {
  return new ProblemError(422, "inspection-error", "Inspection error", err.message, { reason: err.reason, inspection_context: err.context });
}

/** A 400 naming fields the way §6.5.1 does (`validation_errors`), beside the server's usual `errors`. */
function validationErrors(list: { field: string; message: string; value?: unknown }[]): ProblemError {
  return new ProblemError(400, "validation", "Invalid request", list.map((e) => `${e.field} ${e.message}`).join("; "), { errors: list.map(({ field, message }) => ({ field, message })), validation_errors: list });
}

/**
 * The inspection API of the design documents (§6.1–6.3): master data (admin writes,
 * inspection:view reads), sessions and judgements (inspection:create), statistics and quality.
 */
export async function inspectionRoutes(fastify: FastifyInstance, opts: InspectionRoutesOptions): Promise<void> {
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();
  const now = opts.now ?? Date.now;
  // Schema failures in §6.5.1's shape; InspectionFailed as §6.5.2's 422. Anything else goes on to the server's handler.
  app.setSchemaErrorFormatter((errors, dataVar) => {
    const p = validationProblem(dataVar, errors);
    const list = (p.extra.errors as { field: string; message: string }[]) ?? [];
    return new ProblemError(400, p.type.endsWith("validation") ? "validation" : "bad-request", p.title, p.message, { errors: list, validation_errors: list });
  });
  app.setErrorHandler((err) => {
    throw err instanceof InspectionFailed ? inspectionProblem(err) : err;
  });
  const who = (req: FastifyRequest): string | null => req.principal?.subject ?? null;
  const view = { auth: { permission: "inspection:view" } } as const;
  const create = { auth: { permission: "inspection:create" } } as const;
  const admin = { auth: { permission: "system:admin" } } as const;

  // --- targets -------------------------------------------------------------------------------
  app.get("/api/v1/inspection/targets", {
    config: view,
    schema: { tags, summary: "Inspection targets, by name, paged", querystring: Paging, response: { 200: page(Target), ...problems(400) } },
  }, async (req) => (await opts.master()).listTargets(req.query));

  app.post("/api/v1/inspection/targets", {
    config: admin,
    schema: { tags, summary: "Create an inspection target (master data)", body: Type.Object({ target_id: Type.Optional(ID), ...TargetFields }, { additionalProperties: false }), response: { 201: Target, ...problems(400, 403, 409) } },
  }, async (req, reply) => {
    const t = await (await opts.master()).createTarget(req.body);
    return reply.code(201).header("location", `/api/v1/inspection/targets/${t.target_id}`).send(t);
  });

  app.get("/api/v1/inspection/targets/:id", {
    config: view,
    schema: { tags, summary: "An inspection target", params: IdParams, response: { 200: Target, ...problems(404) } },
  }, async (req) => (await opts.master()).getTarget(req.params.id));

  app.put("/api/v1/inspection/targets/:id", {
    config: admin,
    schema: { tags, summary: "Replace an inspection target's fields (revision + 1)", params: IdParams, body: TargetBody, response: { 200: Target, ...problems(400, 403, 404) } },
  }, async (req) => (await opts.master()).updateTarget(req.params.id, req.body));

  app.delete("/api/v1/inspection/targets/:id", {
    config: admin,
    schema: { tags, summary: "Delete a target and its items (soft: offline devices learn of it through revision)", params: IdParams, response: { 204: empty("Deleted"), ...problems(403, 404) } },
  }, async (req, reply) => {
    await (await opts.master()).deleteTarget(req.params.id);
    return reply.code(204).send();
  });

  // --- items ---------------------------------------------------------------------------------
  app.get("/api/v1/inspection/targets/:id/items", {
    config: view,
    schema: { tags, summary: "A target's inspection items, by order_index, paged", params: IdParams, querystring: Paging, response: { 200: page(Item), ...problems(400, 404) } },
  }, async (req) => (await opts.master()).listItems(req.params.id, req.query));

  app.post("/api/v1/inspection/targets/:id/items", {
    config: admin,
    schema: { tags, summary: "Add an inspection item to a target", params: IdParams, body: Type.Object({ item_id: Type.Optional(ID), ...ItemFields }, { additionalProperties: false }), response: { 201: Item, ...problems(400, 403, 404, 409) } },
  }, async (req, reply) => {
    const i = await (await opts.master()).createItem(req.params.id, req.body);
    return reply.code(201).header("location", `/api/v1/inspection/items/${i.item_id}`).send(i);
  });

  app.get("/api/v1/inspection/items/:id", {
    config: view,
    schema: { tags, summary: "An inspection item", params: IdParams, response: { 200: Item, ...problems(404) } },
  }, async (req) => (await opts.master()).getItem(req.params.id));

  app.put("/api/v1/inspection/items/:id", {
    config: admin,
    schema: { tags, summary: "Replace an inspection item's fields (revision + 1)", params: IdParams, body: ItemBody, response: { 200: Item, ...problems(400, 403, 404) } },
  }, async (req) => (await opts.master()).updateItem(req.params.id, req.body));

  app.delete("/api/v1/inspection/items/:id", {
    config: admin,
    schema: { tags, summary: "Delete an inspection item (soft)", params: IdParams, response: { 204: empty("Deleted"), ...problems(403, 404) } },
  }, async (req, reply) => {
    await (await opts.master()).deleteItem(req.params.id);
    return reply.code(204).send();
  });

  const PipelineBinding = Type.Object({ item_id: Type.String(), pipeline_id: Nullable(Type.String()), pipeline_version: Nullable(Type.String()) });
  app.get("/api/v1/inspection/items/:id/pipeline", {
    config: view,
    schema: { tags, summary: "The pipeline an item's AI inspection runs", params: IdParams, response: { 200: PipelineBinding, ...problems(404) } },
  }, async (req) => {
    const i = await (await opts.master()).getItem(req.params.id);
    return { item_id: i.item_id, pipeline_id: i.pipeline_id, pipeline_version: i.pipeline_version };
  });

  app.put("/api/v1/inspection/items/:id/pipeline", {
    config: admin,
    schema: {
      tags, summary: "Bind an item to a pipeline (null unbinds)",
      description: "422 inspection-error when the pipeline (or the version given) does not exist or has no detection step: the item exists, the binding cannot work.",
      params: IdParams,
      body: Type.Object({ pipeline_id: Nullable(Type.String({ pattern: "^[A-Za-z0-9_.-]{1,64}$" })), pipeline_version: Type.Optional(Nullable(Type.String({ minLength: 1, maxLength: 64 }))) }, { additionalProperties: false }),
      response: { 200: PipelineBinding, ...problems(400, 403, 404, 422) },
    },
  }, async (req) => {
    const master = await opts.master();
    await master.getItem(req.params.id);
    const { pipeline_id: pipelineId, pipeline_version: version = null } = req.body;
    if (pipelineId) {
      const context = { session_id: null, item_id: req.params.id, pipeline_id: pipelineId };
      const info = await opts.runner.describe(pipelineId, version ?? undefined);
      if (!info) throw new InspectionFailed("pipeline-not-found", `pipeline ${pipelineId} does not exist`, context);
      if (!info.has_version) throw new InspectionFailed("pipeline-version-not-found", `pipeline ${pipelineId} has no version ${version ?? ""}`, context);
      if (!info.detection_step) throw new InspectionFailed("no-detection-step", `pipeline ${pipelineId} has no detection step (AIDetectionService.Detect)`, context);
    }
    const i = await master.setItemPipeline(req.params.id, pipelineId, pipelineId ? version : null);
    return { item_id: i.item_id, pipeline_id: i.pipeline_id, pipeline_version: i.pipeline_version };
  });

  // --- sessions ------------------------------------------------------------------------------
  app.post("/api/v1/inspection/sessions", {
    config: create,
    schema: {
      tags, summary: "Start an inspection session (a device may give its own session_id, a UUID, for a session made offline)",
      body: Type.Object({
        session_id: Type.Optional(Type.String({ pattern: UUID })), target_id: ID, product_id: Type.Optional(Nullable(Type.String({ maxLength: 128 }))),
        inspector: Type.Optional(Nullable(Type.String({ maxLength: 128 }))), device_id: Type.Optional(Nullable(Type.String({ maxLength: 128 }))), metadata: Type.Optional(Metadata),
      }, { additionalProperties: false }),
      response: { 201: Session, ...problems(400, 403, 404, 409) },
    },
  }, async (req, reply) => {
    const s = await (await opts.sessions()).create({ ...req.body, inspector: req.body.inspector ?? who(req) });
    return reply.code(201).header("location", `/api/v1/inspection/sessions/${s.session_id}`).send(s);
  });

  app.get("/api/v1/inspection/sessions/:id", {
    config: view,
    schema: { tags, summary: "A session with its judgements (AI and human, oldest first)", params: IdParams, response: { 200: Session, ...problems(404) } },
  }, async (req) => {
    const sessions = await opts.sessions();
    const s = await sessions.get(req.params.id);
    return { ...s, results: await sessions.results(s.session_id) };
  });

  app.put("/api/v1/inspection/sessions/:id", {
    config: create,
    schema: {
      tags, summary: "Update a session's notes, metadata or product",
      params: IdParams,
      body: Type.Object({ notes: Type.Optional(Type.String({ maxLength: 4000 })), metadata: Type.Optional(Metadata), product_id: Type.Optional(Nullable(Type.String({ maxLength: 128 }))) }, { additionalProperties: false }),
      response: { 200: Session, ...problems(400, 403, 404) },
    },
  }, async (req) => (await opts.sessions()).update(req.params.id, req.body));

  app.post("/api/v1/inspection/sessions/:id/complete", {
    config: create,
    schema: { tags, summary: "Complete a session: overall_result NG if any item's final result (a person's over the AI's) is NG; 409 when already completed", params: IdParams, response: { 200: Session, ...problems(403, 404, 409) } },
  }, async (req) => (await opts.sessions()).complete(req.params.id));

  app.post("/api/v1/inspection/sessions/:id/ai-inspection", {
    config: create,
    schema: {
      tags, summary: "Run the item's pipeline on a captured image and judge it (the documents' ai_result)",
      description: "The image is an uploaded file (POST /api/v1/files): `file_id`, or `image_file_path` naming it (`/api/v1/files/{id}/download`). NG when a detection of a defect class (dark_spot, scratch, the item's criteria.defect_classes) reaches the threshold (parameters.confidence_threshold, else the item's criteria, else 0.5). 422 inspection-error: no pipeline, no detection step, or the execution failed; 409: the session is completed.",
      params: IdParams,
      body: Type.Object({
        session_id: Type.Optional(ID), item_id: ID, image_file_path: Type.Optional(Type.String({ minLength: 1, maxLength: 512 })), file_id: Type.Optional(ID),
        pipeline_id: Type.Optional(Type.String({ pattern: "^[A-Za-z0-9_.-]{1,64}$" })),
        parameters: Type.Optional(Type.Object({ confidence_threshold: Type.Optional(Threshold), model_name: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })) }, { additionalProperties: false })),
      }, { additionalProperties: false }),
      response: { 200: AiAnswer, ...problems(400, 403, 404, 409, 422, 503) },
    },
  }, async (req) => {
    const b = req.body;
    const errors: { field: string; message: string; value?: unknown }[] = [];
    if (b.session_id !== undefined && b.session_id !== req.params.id) errors.push({ field: "session_id", message: "must be the session of the path", value: b.session_id });
    if (!b.file_id === !b.image_file_path) errors.push({ field: "file_id", message: "give exactly one of file_id and image_file_path" });
    if (errors.length > 0) throw validationErrors(errors);
    const answer = await opts.service.aiInspection(req.params.id, b, who(req));
    opts.onResult("ai", answer.ai_result.overall_result);
    return answer;
  });

  app.post("/api/v1/inspection/sessions/:id/human-verification", {
    config: create,
    schema: {
      tags, summary: "Record a person's decision on an item, next to the AI's; it is the item's final result",
      params: IdParams,
      body: Type.Object({
        item_id: ID, result: Type.Union([Type.Literal("OK"), Type.Literal("NG")]), verifies_result_id: Type.Optional(ID),
        defect_types: Type.Optional(Type.Array(Type.String({ minLength: 1, maxLength: 128 }), { maxItems: 32 })), comment: Type.Optional(Type.String({ maxLength: 2000 })),
      }, { additionalProperties: false }),
      response: { 201: AnyObject, ...problems(400, 403, 404, 409) },
    },
  }, async (req, reply) => {
    const r = await opts.service.humanVerification(req.params.id, req.body, who(req));
    opts.onResult("human", r.result);
    return reply.code(201).send(r);
  });

  app.post("/api/v1/inspection/pipeline-results/convert", {
    config: create,
    schema: {
      tags, summary: "Convert a pipeline execution's detections (or a raw result) into ai_result, stored on a session when session_id is given",
      body: Type.Object({
        execution_id: Type.Optional(Type.String({ pattern: "^[A-Za-z0-9_.-]{1,80}$" })),
        result: Type.Optional(Type.Object({
          detections: Type.Array(Detection, { maxItems: 1000 }), processing_time_ms: Type.Optional(Type.Number({ minimum: 0 })),
          pipeline_id: Type.Optional(Type.String({ maxLength: 64 })), pipeline_version: Type.Optional(Type.String({ maxLength: 64 })),
        }, { additionalProperties: false })),
        session_id: Type.Optional(ID), item_id: Type.Optional(ID), confidence_threshold: Type.Optional(Threshold),
      }, { additionalProperties: false }),
      response: { 200: AiAnswer, ...problems(400, 403, 404, 409, 422) },
    },
  }, async (req) => {
    if (!req.body.execution_id === !req.body.result) throw validationErrors([{ field: "execution_id", message: "give exactly one of execution_id and result" }]);
    const answer = await opts.service.convert(req.body, who(req));
    if (answer.result_id) opts.onResult("pipeline", answer.ai_result.overall_result);
    return answer;
  });

  // --- statistics and quality ----------------------------------------------------------------
  const DATE = Type.String({ pattern: "^\\d{4}-\\d{2}-\\d{2}$" });
  app.get("/api/v1/inspection/statistics", {
    config: view,
    schema: {
      tags, summary: "Summary, daily trends and defect analysis of the final results (a person's over the AI's) for a date range",
      description: "start_date..end_date (UTC days, both included; default the 30 days to today), at most 366 days (400 past it).",
      querystring: Type.Object({ start_date: Type.Optional(DATE), end_date: Type.Optional(DATE) }),
      response: {
        200: Type.Object({
          summary: Type.Object({ total_inspections: Type.Integer(), ok_count: Type.Integer(), ng_count: Type.Integer(), ok_rate: Nullable(Type.Number()) }),
          daily_trends: Type.Array(Type.Object({ date: Type.String(), total: Type.Integer(), ok: Type.Integer(), ng: Type.Integer() })),
          defect_analysis: Type.Record(Type.String(), Type.Integer()),
        }),
        ...problems(400),
      },
    },
  }, async (req) => (await opts.statistics()).statistics(statisticsRange(req.query.start_date, req.query.end_date, now())));

  app.get("/api/v1/inspection/quality/realtime", {
    config: view,
    schema: { tags, summary: "The quality window's figures now (what /ws/quality-metrics pushes)", response: { 200: QualityUpdateFigures, ...problems() } },
  }, async () => {
    const m = await opts.monitor();
    return { ...m.figures(), threshold: m.threshold };
  });

  app.get("/api/v1/inspection/quality/trends", {
    config: view,
    schema: {
      tags, summary: "Hourly OK/NG buckets over a range (default the last 24 h; at most 31 days)",
      querystring: Type.Object({ from: Type.Optional(Type.String({ format: "date-time" })), to: Type.Optional(Type.String({ format: "date-time" })) }),
      response: { 200: Type.Object({ from: Type.String(), to: Type.String(), buckets: Type.Array(Type.Object({ hour: Type.String(), total: Type.Integer(), ok: Type.Integer(), ng: Type.Integer(), ok_rate: Nullable(Type.Number()) })) }), ...problems(400) },
    },
  }, async (req) => {
    const range = trendRange(req.query.from ? Date.parse(req.query.from) : undefined, req.query.to ? Date.parse(req.query.to) : undefined, now());
    return { from: new Date(range.from).toISOString(), to: new Date(range.to).toISOString(), buckets: await (await opts.statistics()).hourly(range) };
  });

  app.get("/api/v1/inspection/quality/alerts", {
    config: view,
    schema: { tags, summary: "Quality alerts raised, newest first, paged (the last 1000 are kept)", querystring: Paging, response: { 200: page(Alert), ...problems(400) } },
  }, async (req) => (await opts.monitor()).alerts(req.query));
}
