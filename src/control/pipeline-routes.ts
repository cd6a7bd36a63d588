import multipart from "@fastify/multipart";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import type { FastifyInstance, FastifyRequest } from "fastify";
import { randomUUID } from "node:crypto";
import type sharp from "sharp";
import { loadSharp } from "../pipelines/load-sharp.js";
import { Type } from "typebox";
import type { PipelineParts, PipelinesRuntime } from "../pipelines/runtime.js";
import { ProblemError } from "../errors.js";
import { aggregatePipelineMetrics } from "../pipelines/pipeline-metrics.js";
import type { ExecutionRecord, ExecutionStatus, Priority, StepRecord } from "../pipelines/execution-store.js";
import type { FileRecord } from "../pipelines/file-store.js";
import type { ProgressEvent } from "../pipelines/execution-service.js";
import { parsePipeline, PipelineValidationError, validateExecutionParameters } from "../pipelines/validate-pipeline.js";
import { empty, problems } from "./schemas.js";

const tags = ["pipelines"];
const IdParams = Type.Object({ id: Type.String({ pattern: "^[A-Za-z0-9_.-]{1,80}$" }) });
const Paging = {
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 50 })),
  cursor: Type.Optional(Type.String({ maxLength: 512 })),
};
const AnyObject = Type.Object({}, { additionalProperties: true });
const FileJson = Type.Object({
  file_id: Type.String(),
  filename: Type.String(),
  content_type: Type.String(),
  size_bytes: Type.Integer(),
  format: Type.Union([Type.String(), Type.Null()]),
  width: Type.Union([Type.Integer(), Type.Null()]),
  height: Type.Union([Type.Integer(), Type.Null()]),
  role: Type.String({ description: "`upload` or `output` (made by an execution)" }),
  execution_id: Type.Union([Type.String(), Type.Null()]),
  created_at: Type.String({ format: "date-time" }),
  download_url: Type.String(),
});
const ExecutionJson = Type.Object({
  execution_id: Type.String(),
  pipeline_id: Type.String(),
  pipeline_version: Type.String(),
  status: Type.String({ description: "pending, running, completed, failed or cancelled" }),
  execution_mode: Type.String({ description: "direct_grpc, or kafka_fallback when it waited on the fallback queue" }),
  priority: Type.String(),
  parameters: AnyObject,
  progress: Type.Number({ description: "Percent of the steps finished" }),
  processing_time_ms: Type.Union([Type.Number(), Type.Null()]),
  attempts: Type.Integer(),
  error: Type.Union([AnyObject, Type.Null()]),
  created_at: Type.String({ format: "date-time" }),
  started_at: Type.Union([Type.String(), Type.Null()]),
  finished_at: Type.Union([Type.String(), Type.Null()]),
  input_files: Type.Array(Type.String()),
  steps: Type.Optional(Type.Array(AnyObject)),
  output_files: Type.Optional(Type.Array(Type.Object({ file_id: Type.String(), filename: Type.String(), download_url: Type.String() }))),
});

export const downloadUrl = (fileId: string): string => `/api/v1/files/${fileId}/download`;

function fileJson(f: FileRecord) {
  return { ...f, download_url: downloadUrl(f.file_id) };
}

function stepJson(s: StepRecord) {
  return { ...s, ...(s.result?.detections ? { detections: s.result.detections } : {}) };
}

async function executionJson(parts: PipelineParts, e: ExecutionRecord, full: boolean) {
  const { input_file_ids, output_file_ids, node_id: _node, submitted_by: _by, ...rest } = e;
  const base = { ...rest, input_files: input_file_ids };
  if (!full) return base;
  const [steps, outputs] = await Promise.all([parts.executions.steps(e.execution_id), parts.files.many(output_file_ids)]);
  return { ...base, steps: steps.map(stepJson), output_files: outputs.map((f) => ({ file_id: f.file_id, filename: f.filename, download_url: downloadUrl(f.file_id) })) };
}

/** An upload refused before it is read: the client learns why without sending megabytes for nothing. */
function requireMultipart(req: FastifyRequest): void {
  if (!req.isMultipart()) throw new ProblemError(415, "unsupported-media-type", "Unsupported media type", "this endpoint takes multipart/form-data");
}

interface StoredUpload {
  record: FileRecord;
}

/**
 * The batch API of the design documents: pipeline definitions (admin), components, gRPC service
 * instances, files and executions (pipeline:execute to run, pipeline:view to read).
 */
export async function pipelineRoutes(fastify: FastifyInstance, opts: { runtime: PipelinesRuntime }): Promise<void> {
  const { runtime } = opts;
  const { limits } = runtime;
  // Registered in this plugin's scope only: a multipart body sent to any other route stays a 415.
  await fastify.register(multipart, { limits: { fileSize: limits.filesMaxBytes, files: limits.filesMaxCount, fields: 16, fieldSize: 1024 * 1024, parts: limits.filesMaxCount + 16 } });
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();

  /** Reads each file part into the store (its bytes are checked to be the image type claimed). */
  const storeUpload = async (part: { filename: string; mimetype: string; toBuffer(): Promise<Buffer> }, by: string | null, parts: PipelineParts): Promise<StoredUpload> => {
    if (!limits.filesAllowedTypes.includes(part.mimetype)) {
      throw new ProblemError(415, "unsupported-file-type", "Unsupported media type", `file "${part.filename}" is ${part.mimetype}; allowed: ${limits.filesAllowedTypes.join(", ")}`, { allowed: limits.filesAllowedTypes });
    }
    const data = await part.toBuffer();
    let meta: Awaited<ReturnType<ReturnType<typeof sharp>["metadata"]>>;
    try {
      meta = await (await loadSharp())(data).metadata();
    } catch {
      throw new ProblemError(400, "invalid-image", "Bad request", `file "${part.filename}" is not a readable image`);
    }
    const id = `file-${randomUUID()}`;
    const ext = meta.format === "jpeg" ? "jpg" : (meta.format ?? "bin");
    const key = `files/${id}.${ext}`;
    await runtime.store.put(key, data, part.mimetype);
    const record = await parts.files.insert({
      file_id: id,
      filename: part.filename.slice(0, 255) || `${id}.${ext}`,
      content_type: part.mimetype,
      size_bytes: data.length,
      format: meta.format ?? null,
      width: meta.width ?? null,
      height: meta.height ?? null,
      object_key: key,
      role: "upload",
      execution_id: null,
      created_by: by,
    });
    return { record };
  };
  const discard = async (uploads: StoredUpload[], parts: PipelineParts): Promise<void> => {
    for (const u of uploads) {
      await runtime.store.delete(u.record.object_key).catch(() => undefined);
      await parts.files.delete(u.record.file_id).catch(() => undefined);
    }
  };
  const who = (req: FastifyRequest): string | null => req.principal?.subject ?? null;

  // --- pipelines ---------------------------------------------------------------------------
  app.get("/api/v1/pipelines", {
    config: { auth: { permission: "pipeline:view" } },
    schema: { tags, summary: "Pipeline definitions (current versions), paged", querystring: Type.Object(Paging), response: { 200: Type.Object({ items: Type.Array(AnyObject), next_cursor: Type.Union([Type.String(), Type.Null()]), total: Type.Integer() }), ...problems(400) } },
  }, async (req) => {
    const { pipelines } = await runtime.get();
    const page = await pipelines.list({ limit: req.query.limit ?? 50, ...(req.query.cursor ? { cursor: req.query.cursor } : {}) });
    return { ...page, items: page.items.map((r) => ({ ...r.definition, revision: r.revision, created_at: r.created_at, updated_at: r.updated_at })) };
  });

  app.post("/api/v1/pipelines", {
    config: { auth: { permission: "system:admin" } },
    schema: {
      tags, summary: "Define a pipeline (validated as a DAG of known services, methods and parameters)",
      description: "400 lists every failing field in `validation_errors`; 409: the id exists (PUT saves a new version).",
      body: AnyObject,
      response: { 201: AnyObject, ...problems(400, 403, 409) },
    },
  }, async (req, reply) => {
    const def = parsePipeline(req.body, runtime.catalog);
    const { pipelines } = await runtime.get();
    const rec = await pipelines.create(def, who(req));
    return reply.code(201).header("location", `/api/v1/pipelines/${def.pipeline_id}`).send({ ...rec.definition, revision: rec.revision, created_at: rec.created_at, updated_at: rec.updated_at });
  });

  app.get("/api/v1/pipelines/:id", {
    config: { auth: { permission: "pipeline:view" } },
    schema: { tags, summary: "A pipeline's current definition, or `?version=` an older one", params: IdParams, querystring: Type.Object({ version: Type.Optional(Type.String({ maxLength: 64 })) }), response: { 200: AnyObject, ...problems(404) } },
  }, async (req) => {
    const { pipelines } = await runtime.get();
    if (req.query.version) return pipelines.get(req.params.id, req.query.version);
    const rec = await pipelines.record(req.params.id);
    return { ...rec.definition, revision: rec.revision, created_at: rec.created_at, updated_at: rec.updated_at };
  });

  app.put("/api/v1/pipelines/:id", {
    config: { auth: { permission: "system:admin" } },
    schema: { tags, summary: "Save a new version of a pipeline (versions are immutable; the same body again is a no-op)", params: IdParams, body: AnyObject, response: { 200: AnyObject, ...problems(400, 403, 404, 409) } },
  }, async (req) => {
    const def = parsePipeline(req.body, runtime.catalog);
    if (def.pipeline_id !== req.params.id) {
      throw new PipelineValidationError([{ field: "pipeline_id", message: `must be "${req.params.id}", the id in the path`, value: def.pipeline_id }]);
    }
    const { pipelines } = await runtime.get();
    const rec = await pipelines.update(def, who(req));
    return { ...rec.definition, revision: rec.revision, created_at: rec.created_at, updated_at: rec.updated_at };
  });

  app.delete("/api/v1/pipelines/:id", {
    config: { auth: { permission: "system:admin" } },
    schema: { tags, summary: "Delete a pipeline (its versions stay readable for past executions)", params: IdParams, response: { 204: empty("Deleted"), ...problems(403, 404) } },
  }, async (req, reply) => {
    const { pipelines } = await runtime.get();
    await pipelines.delete(req.params.id);
    return reply.code(204).send();
  });

  app.get("/api/v1/pipelines/:id/versions", {
    config: { auth: { permission: "pipeline:view" } },
    schema: { tags, summary: "Every saved version of a pipeline, oldest first", params: IdParams, response: { 200: Type.Object({ versions: Type.Array(AnyObject) }), ...problems(404) } },
  }, async (req) => ({ versions: await (await runtime.get()).pipelines.versions(req.params.id) }));

  app.get("/api/v1/pipelines/:id/metrics", {
    config: { auth: { permission: "pipeline:view" } },
    schema: { tags, summary: "Performance insights: counts, average and p95 duration, per step and per service", params: IdParams, querystring: Type.Object({ last: Type.Optional(Type.Integer({ minimum: 1, maximum: 10_000, default: 1000 })) }), response: { 200: AnyObject, ...problems(404) } },
  }, async (req) => {
    const parts = await runtime.get();
    await parts.pipelines.record(req.params.id);
    const history = await parts.executions.history(req.params.id, req.query.last ?? 1000);
    const metrics = aggregatePipelineMetrics(
      history.map((h) => ({ status: h.execution.status, processing_time_ms: h.execution.processing_time_ms, steps: h.steps.map((s) => ({ step_id: s.step_id, service: s.service, status: s.status, duration_ms: s.duration_ms })) })),
    );
    return { pipeline_id: req.params.id, ...metrics };
  });

  // --- components and services --------------------------------------------------------------
  app.get("/api/v1/components", {
    config: { auth: { permission: "pipeline:view" } },
    schema: { tags, summary: "Processing components a step may use (service, method, parameter schema)", response: { 200: Type.Object({ components: Type.Array(AnyObject) }), ...problems() } },
  }, async () => ({ components: runtime.catalog.list() }));

  app.get("/api/v1/components/:id", {
    config: { auth: { permission: "pipeline:view" } },
    schema: { tags, summary: "One component", params: IdParams, response: { 200: AnyObject, ...problems(404) } },
  }, async (req) => {
    const c = runtime.catalog.get(req.params.id);
    if (!c) throw new ProblemError(404, "component-not-found", "Not found", `no component "${req.params.id}"`);
    return c;
  });

  app.get("/api/v1/grpc-services", {
    config: { auth: { permission: "pipeline:view" } },
    schema: { tags, summary: "Every registered service instance: health, breaker, connections, response time", response: { 200: Type.Object({ services: Type.Array(AnyObject) }), ...problems(503) } },
  }, async () => {
    // The embedded services register when the pipelines start: start them, so the list is true.
    await runtime.get();
    return { services: runtime.registry.list() };
  });

  app.post("/api/v1/grpc-services", {
    config: { auth: { permission: "system:admin" } },
    schema: { tags, summary: "Register a service instance (idempotent); it is health-checked and expires when unreachable", body: Type.Object({ service: Type.String({ maxLength: 200 }), address: Type.String({ maxLength: 300 }) }, { additionalProperties: false }), response: { 201: AnyObject, ...problems(400, 403, 503) } },
  }, async (req, reply) => {
    await runtime.get();
    let ref;
    try {
      ref = runtime.registry.register(req.body.service, req.body.address);
    } catch (err) {
      if (err instanceof Error && err.name === "InvalidInstanceError") throw new ProblemError(400, "invalid-service-instance", "Bad request", err.message);
      if (err instanceof Error && err.name === "RegistryFullError") throw new ProblemError(503, "service-registry-full", "Service unavailable", err.message, {}, { "retry-after": "60" });
      throw err;
    }
    return reply.code(201).send(runtime.registry.list().find((r) => r.instance_id === ref.instance_id) ?? ref);
  });

  // --- files ---------------------------------------------------------------------------------
  app.post("/api/v1/files", {
    config: { auth: { permission: "pipeline:execute" } },
    schema: {
      tags, summary: "Upload images (multipart/form-data, any field name); each gets a file_id",
      description: "Limits: IFC_FILES_MAX_BYTES per file and IFC_FILES_MAX_COUNT files (413), IFC_FILES_ALLOWED_TYPES (415); a part that is not a readable image: 400. Nothing is kept from a refused request.",
      consumes: ["multipart/form-data"],
      response: { 201: Type.Object({ files: Type.Array(FileJson) }), ...problems(400, 413, 415) },
    },
  }, async (req, reply) => {
    requireMultipart(req);
    const parts = await runtime.get();
    const uploads: StoredUpload[] = [];
    try {
      for await (const part of req.parts()) if (part.type === "file") uploads.push(await storeUpload(part, who(req), parts));
    } catch (err) {
      await discard(uploads, parts);
      throw err;
    }
    if (uploads.length === 0) throw new ProblemError(400, "no-files", "Bad request", "the request holds no file part");
    return reply.code(201).send({ files: uploads.map((u) => fileJson(u.record)) });
  });

  app.get("/api/v1/files/:id", {
    config: { auth: { permission: "pipeline:view" } },
    schema: { tags, summary: "A file's metadata (size, format, dimensions)", params: IdParams, response: { 200: FileJson, ...problems(404) } },
  }, async (req) => fileJson(await (await runtime.get()).files.get(req.params.id)));

  app.get("/api/v1/files/:id/download", {
    config: { auth: { permission: "pipeline:view" } },
    schema: { tags, summary: "A file's bytes", params: IdParams, response: { 200: { description: "The file", content: { "application/octet-stream": { schema: {} } } }, ...problems(404) } },
  }, async (req, reply) => {
    const f = await (await runtime.get()).files.get(req.params.id);
    const body = await runtime.store.getStream(f.object_key);
    return reply.type(f.content_type).header("content-length", String(f.size_bytes)).header("content-disposition", `attachment; filename="${f.filename.replace(/[^A-Za-z0-9._-]/g, "_")}"`).send(body);
  });

  // --- executions ----------------------------------------------------------------------------
  app.post("/api/v1/executions", {
    config: { auth: { permission: "pipeline:execute" } },
    schema: {
      tags, summary: "Run a pipeline on uploaded images: 202 with execution_id at once",
      description: "multipart/form-data: `pipeline_id` (required), `input_files` (one or more file parts under that name), `parameters` (JSON object, optional), `priority` (low/normal/high). 503 with Retry-After when the queue is full (IFC_PIPELINE_QUEUE_MAX).",
      consumes: ["multipart/form-data"],
      response: { 202: ExecutionJson, ...problems(400, 404, 413, 415, 503) },
    },
  }, async (req, reply) => {
    requireMultipart(req);
    const parts = await runtime.get();
    if (parts.executor.saturated) throw new ProblemError(503, "execution-queue-full", "Service unavailable", "the execution queue is full (IFC_PIPELINE_QUEUE_MAX); try again later", {}, { "retry-after": "1" });
    const uploads: StoredUpload[] = [];
    const fields: Record<string, string> = {};
    try {
      for await (const part of req.parts()) {
        if (part.type === "file") {
          if (part.fieldname !== "input_files") throw new ProblemError(400, "unexpected-file-field", "Bad request", `file parts go under "input_files", got "${part.fieldname}"`);
          uploads.push(await storeUpload(part, who(req), parts));
        } else if (typeof part.value === "string") fields[part.fieldname] = part.value;
      }
      const pipelineId = fields.pipeline_id;
      if (!pipelineId) throw new PipelineValidationError([{ field: "pipeline_id", message: "is required" }]);
      if (uploads.length === 0) throw new PipelineValidationError([{ field: "input_files", message: "at least one image is required" }]);
      let parameters: Record<string, unknown> = {};
      if (fields.parameters) {
        try {
          const v: unknown = JSON.parse(fields.parameters);
          if (!v || typeof v !== "object" || Array.isArray(v)) throw new Error("not an object");
          parameters = v as Record<string, unknown>;
        } catch {
          throw new PipelineValidationError([{ field: "parameters", message: "must be a JSON object", value: fields.parameters.slice(0, 200) }]);
        }
      }
      const priority = (fields.priority ?? "normal") as Priority;
      if (!["low", "normal", "high"].includes(priority)) throw new PipelineValidationError([{ field: "priority", message: "must be low, normal or high", value: fields.priority }]);
      const def = await parts.pipelines.get(pipelineId);
      const paramErrors = validateExecutionParameters(def, parameters, runtime.catalog);
      if (paramErrors.length > 0) throw new PipelineValidationError(paramErrors);
      const execution = await parts.executor.submit({ pipeline_id: pipelineId, input_file_ids: uploads.map((u) => u.record.file_id), parameters, priority, submitted_by: who(req) });
      return reply.code(202).header("location", `/api/v1/executions/${execution.execution_id}`).send(await executionJson(parts, execution, false));
    } catch (err) {
      await discard(uploads, parts);
      throw err;
    }
  });

  app.get("/api/v1/executions", {
    config: { auth: { permission: "pipeline:view" } },
    schema: {
      tags, summary: "Executions, newest first, filtered and paged",
      querystring: Type.Object({
        pipeline_id: Type.Optional(Type.String({ maxLength: 80 })),
        status: Type.Optional(Type.Union(["pending", "running", "completed", "failed", "cancelled"].map((s) => Type.Literal(s)))),
        from: Type.Optional(Type.String({ format: "date-time" })),
        to: Type.Optional(Type.String({ format: "date-time" })),
        ...Paging,
      }),
      response: { 200: Type.Object({ items: Type.Array(ExecutionJson), next_cursor: Type.Union([Type.String(), Type.Null()]), total: Type.Integer() }), ...problems(400) },
    },
  }, async (req) => {
    const parts = await runtime.get();
    const q = req.query;
    const page = await parts.executions.list(
      { ...(q.pipeline_id ? { pipeline_id: q.pipeline_id } : {}), ...(q.status ? { status: q.status as ExecutionStatus } : {}), ...(q.from ? { fromMs: Date.parse(q.from) } : {}), ...(q.to ? { toMs: Date.parse(q.to) } : {}) },
      { limit: q.limit ?? 50, ...(q.cursor ? { cursor: q.cursor } : {}) },
    );
    return { ...page, items: await Promise.all(page.items.map((e) => executionJson(parts, e, false))) };
  });

  app.get("/api/v1/executions/:id", {
    config: { auth: { permission: "pipeline:view" } },
    schema: { tags, summary: "An execution with its steps (status, timing, attempts, detections) and output files", params: IdParams, response: { 200: ExecutionJson, ...problems(404) } },
  }, async (req) => {
    const parts = await runtime.get();
    return executionJson(parts, await parts.executions.get(req.params.id), true);
  });

  app.post("/api/v1/executions/:id/cancel", {
    config: { auth: { permission: "pipeline:execute" } },
    schema: { tags, summary: "Stop an execution's running steps; it ends `cancelled` (409 when already finished)", params: IdParams, response: { 200: ExecutionJson, ...problems(404, 409) } },
  }, async (req) => {
    const parts = await runtime.get();
    return executionJson(parts, await parts.executor.cancel(req.params.id), true);
  });
}

/** What /ws/execution/{id} needs: the execution's state now, its events as they come, in the documents' messages. */
export function executionFeed(runtime: PipelinesRuntime) {
  const finalMessage = async (parts: PipelineParts, e: ExecutionRecord): Promise<Record<string, unknown> | undefined> => {
    if (e.status === "completed") {
      const outputs = await parts.files.many(e.output_file_ids);
      return { type: "completed", execution_id: e.execution_id, total_time_ms: e.processing_time_ms, output_files: outputs.map((f) => ({ file_id: f.file_id, filename: f.filename, download_url: downloadUrl(f.file_id) })) };
    }
    if (e.status === "failed" || e.status === "cancelled") {
      return { type: "error", execution_id: e.execution_id, error: { code: e.status === "cancelled" ? "CANCELLED" : (e.error?.code ?? "FAILED"), message: e.error?.message ?? `execution ${e.status}`, retry_after: e.error?.retry_after ?? null } };
    }
    return undefined;
  };
  return {
    /** 404 for an unknown execution (before the upgrade). */
    exists: async (id: string): Promise<boolean> => {
      const parts = await runtime.get();
      return parts.executions.get(id).then(() => true, () => false);
    },
    /**
     * Subscribes first, then replays what happened before the client came (the step rows), so a
     * late client still sees every step in order; live events already replayed are not sent twice.
     */
    attach: (id: string, send: (msg: Record<string, unknown>) => void): (() => void) => {
      let finished = false;
      let replaying = true;
      const sent = new Set<string>();
      const held: ProgressEvent[] = [];
      const progressMessage = (step: string | null, status: string, progress: number, timestamp: string, data: Record<string, unknown>) =>
        ({ type: "progress", execution_id: id, step, progress, status, timestamp, data: { current_component: step, ...data } });
      const deliver = (msg: Record<string, unknown> | undefined): void => {
        if (!msg || finished) return;
        if (msg.type !== "progress") finished = true;
        send(msg);
      };
      const live = async (ev: ProgressEvent): Promise<void> => {
        if (ev.type === "queued") return;
        const parts = await runtime.get();
        if (ev.type === "progress") {
          // A step waiting for its dependencies is not news; its start is.
          if (ev.status === "pending") return;
          const key = `${ev.metadata.input_index ?? 0}/${ev.step_name}/${ev.status}`;
          if (sent.has(key)) return;
          sent.add(key);
          deliver(progressMessage(ev.step_name, ev.status, ev.progress_percentage, ev.timestamp, { ...ev.metadata }));
        } else deliver(await finalMessage(parts, await parts.executions.get(id)));
      };
      let chain = Promise.resolve();
      const off = runtime.progress.listen(id, (ev) => {
        if (replaying) held.push(ev);
        else chain = chain.then(() => live(ev)).catch(() => undefined);
      });
      chain = runtime.get().then(async (parts) => {
        const [e, steps] = await Promise.all([parts.executions.get(id), parts.executions.steps(id)]);
        const ordered = [...steps].sort((a, b) => (a.started_at ?? "~").localeCompare(b.started_at ?? "~"));
        for (const st of ordered) {
          if (st.status === "pending") continue;
          for (const status of st.status === "running" ? ["running"] : st.started_at ? ["running", st.status] : [st.status]) {
            const key = `${st.input_index}/${st.step_id}/${status}`;
            if (sent.has(key)) continue;
            sent.add(key);
            deliver(progressMessage(st.step_id, status, e.progress, st.finished_at ?? st.started_at ?? e.created_at, { input_index: st.input_index, attempts: st.attempts, replayed: true }));
          }
        }
        replaying = false;
        for (const ev of held.splice(0)) await live(ev);
        const done = await finalMessage(parts, await parts.executions.get(id));
        if (done) deliver(done);
        else if (ordered.length === 0) send(progressMessage(null, e.status, e.progress, new Date().toISOString(), { execution_mode: e.execution_mode }));
      }).catch(() => undefined);
      return off;
    },
  };
}
