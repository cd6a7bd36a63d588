import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import type { FastifyInstance, FastifyRequest } from "fastify";
import type { Readable } from "node:stream";
import { Type } from "typebox";
import { InvalidInput } from "../core/errors.js";
import { PayloadTooLargeError, ProblemError } from "../errors.js";
import { csvRows, jsonArrayRows } from "../products/import-parsers.js";
import { checkProduct } from "../products/product-fields.js";
import { ImportInterrupted, importProducts } from "../products/product-import.js";
import type { ProductService } from "../products/product-service.js";
import { SEARCH_MAX_LIMIT } from "../products/product-store.js";
import { MAX_PAYLOAD_LENGTH } from "../products/qr-formats.js";
import { empty, problems } from "./schemas.js";

const tags = ["products"];
const Nullable = <T extends Parameters<typeof Type.Union>[0][number]>(t: T) => Type.Union([t, Type.Null()]);
const PRODUCT_ID = { pattern: "^[A-Za-z0-9_.:-]{1,128}$", description: "1–128 of A–Z a–z 0–9 _ . : -" };
const DATE = { pattern: "^\\d{4}-\\d{2}-\\d{2}$", description: "YYYY-MM-DD" };
const Text = Type.String({ maxLength: 128 });
const Specs = Type.Record(Type.String({ maxLength: 64 }), Type.String({ maxLength: 1024 }), { description: "Specifications, key: value (at most 100 keys)" });
const AnyObject = Type.Record(Type.String(), Type.Unknown());

const ProductJson = Type.Object({
  product_id: Type.String(),
  work_order_id: Type.String({ description: "指図番号 (work order)" }),
  instruction_id: Nullable(Type.String({ description: "指示番号 (instruction)" })),
  product_type: Nullable(Type.String({ description: "型式 (product type)" })),
  machine_number: Nullable(Type.String({ description: "機番 (machine number)" })),
  production_date: Nullable(Type.String({ description: "生産年月日, YYYY-MM-DD" })),
  monthly_sequence: Nullable(Type.Integer({ description: "月連番 (monthly sequence)" })),
  model: Nullable(Type.String()),
  version: Nullable(Type.String()),
  batch: Nullable(Type.String()),
  status: Type.String(),
  revision: Type.Integer({ description: "Bumped by every write; send it back with PUT/DELETE to refuse a lost update (409)" }),
  created_at: Type.String({ format: "date-time" }),
  updated_at: Type.String({ format: "date-time" }),
  specifications: Specs,
});
const HitJson = Type.Intersect([ProductJson, Type.Object({
  quality_score: Nullable(Type.Number({ description: "OK share of its judgements, 0–100 (a person's verification overrides the AI's); null without any" })),
  inspection_count: Type.Integer({ description: "Judgements (AI and pipeline results) of its inspection sessions" }),
})]);
const fields = {
  work_order_id: Text,
  instruction_id: Type.Optional(Nullable(Text)),
  product_type: Type.Optional(Nullable(Text)),
  machine_number: Type.Optional(Nullable(Text)),
  production_date: Type.Optional(Nullable(Type.String(DATE))),
  monthly_sequence: Type.Optional(Nullable(Type.Integer({ minimum: 0, maximum: 999_999_999 }))),
  model: Type.Optional(Nullable(Text)),
  version: Type.Optional(Nullable(Text)),
  batch: Type.Optional(Nullable(Text)),
  status: Type.Optional(Type.String({ pattern: "^[a-z][a-z0-9_]{0,31}$", description: "Default `active`" })),
  specifications: Type.Optional(Specs),
};
const ProductBody = Type.Object({ product_id: Type.String(PRODUCT_ID), ...fields }, { additionalProperties: false });
const PatchBody = Type.Object({ ...fields, work_order_id: Type.Optional(Text), revision: Type.Optional(Type.Integer({ minimum: 1, description: "The revision read: the update is refused (409) if the product moved past it" })) }, { additionalProperties: false });
const IdParams = Type.Object({ id: Type.String(PRODUCT_ID) });
const TypeParams = Type.Object({ product_type: Type.String({ minLength: 1, maxLength: 128 }) });
const RuleJson = Type.Object({ rule_id: Type.String(), product_type: Type.String(), category: Type.String(), threshold: Type.Number(), enabled: Type.Boolean(), parameters: AnyObject, revision: Type.Integer(), updated_at: Type.String({ format: "date-time" }) });
const RuleBody = Type.Object({ category: Type.String({ minLength: 1, maxLength: 64 }), threshold: Type.Number(), enabled: Type.Optional(Type.Boolean()), parameters: Type.Optional(AnyObject) }, { additionalProperties: false });
const StandardJson = Type.Object({ standard_id: Type.String(), product_type: Type.String(), name: Type.String(), metric: Type.String(), min_value: Nullable(Type.Number()), max_value: Nullable(Type.Number()), unit: Nullable(Type.String()), parameters: AnyObject, revision: Type.Integer(), updated_at: Type.String({ format: "date-time" }) });
const StandardBody = Type.Object({
  standard_id: Type.Optional(Type.String(PRODUCT_ID)), name: Type.String({ minLength: 1, maxLength: 128 }), metric: Type.String({ minLength: 1, maxLength: 128 }),
  min_value: Type.Optional(Nullable(Type.Number())), max_value: Type.Optional(Nullable(Type.Number())), unit: Type.Optional(Nullable(Type.String({ maxLength: 32 }))), parameters: Type.Optional(AnyObject),
}, { additionalProperties: false });
const DecodedJson = Type.Object({
  work_order_id: Type.String(), instruction_id: Type.Optional(Type.String()), product_type: Type.Optional(Type.String()), machine_number: Type.Optional(Type.String()),
  production_date: Type.Optional(Type.String()), monthly_sequence: Type.Optional(Type.Integer()),
}, { description: "The fields read from the code" });
const ImportReportJson = Type.Object({
  imported: Type.Integer(),
  failed: Type.Array(Type.Object({ line: Type.Integer(), errors: Type.Array(Type.String()) }), { description: "The first 1000 bad rows, by line" }),
  failed_count: Type.Integer(),
  refused: Type.Object({ count: Type.Integer(), first_line: Nullable(Type.Integer()) }, { description: "Rows past IFC_PRODUCTS_IMPORT_MAX_ROWS" }),
});

/** Most rules or standards in one product type's set. */
export const MAX_SET_ITEMS = 100;

export interface ProductRoutesOptions {
  service: ProductService;
  /** IFC_PRODUCTS_IMPORT_MAX_BYTES. */
  importMaxBytes: number;
  /** IFC_PRODUCTS_IMPORT_MAX_ROWS. */
  importMaxRows: number;
}

/** The request body's chunks, refused (PayloadTooLargeError) once they pass `max` bytes. */
async function* capped(body: Readable, max: number): AsyncGenerator<Buffer> {
  let n = 0;
  for await (const chunk of body as AsyncIterable<Buffer>) {
    n += chunk.length;
    if (n > max) throw new PayloadTooLargeError(max);
    yield chunk;
  }
}

const nonEmpty = <T extends Record<string, unknown>>(o: T): T => Object.fromEntries(Object.entries(o).filter(([, v]) => v !== undefined)) as T;

/**
 * The product master over REST (design documents §2.3, ProductService): search, QR lookup,
 * get, batch get (product:search); upsert, update, delete, import and the per-type inspection
 * rules and quality standards (system:admin to write).
 */
export async function productRoutes(fastify: FastifyInstance, opts: ProductRoutesOptions): Promise<void> {
  const { service } = opts;
  const app = fastify.withTypeProvider<TypeBoxTypeProvider>();

  app.get("/api/v1/products", {
    config: { auth: { permission: "product:search" } },
    schema: {
      tags, summary: "Search products by type, machine, production date range, work order prefix and status",
      description: `Every condition given must hold. Ordered by production date (undated last), then id; \`limit\` (default 50, at most ${SEARCH_MAX_LIMIT}) per page, the next page from \`next_cursor\` (an invalid cursor: 400). Each hit carries its quality score and inspection count. Cached 5 min; any product write retires every cached page.`,
      querystring: Type.Object({
        product_type: Type.Optional(Text),
        machine_number: Type.Optional(Text),
        from: Type.Optional(Type.String({ ...DATE, description: "production_date ≥ from (inclusive), YYYY-MM-DD" })),
        to: Type.Optional(Type.String({ ...DATE, description: "production_date ≤ to (inclusive), YYYY-MM-DD" })),
        work_order_prefix: Type.Optional(Type.String({ minLength: 1, maxLength: 128 })),
        status: Type.Optional(Type.String({ maxLength: 32 })),
        limit: Type.Optional(Type.Integer({ minimum: 1, maximum: SEARCH_MAX_LIMIT, default: 50 })),
        cursor: Type.Optional(Type.String({ maxLength: 512 })),
      }, { additionalProperties: false }),
      response: { 200: Type.Object({ items: Type.Array(HitJson), next_cursor: Nullable(Type.String()), total: Type.Integer() }), ...problems(400) },
    },
  }, async (req) => service.search({ ...nonEmpty({ ...req.query, limit: undefined }), limit: req.query.limit ?? 50 }));

  app.get("/api/v1/products/by-qr", {
    config: { auth: { permission: "product:search" } },
    schema: {
      tags, summary: "The product a QR payload names, with its type's inspection rules and quality standards, in one call",
      description: "The payload is read per IFC_PRODUCT_QR_FORMAT (`IFC1;wo=…`, the custom pattern, or both). The product matches the code's work order plus whichever of instruction, machine number and monthly sequence it carries; several: the newest production date. 400: not a product code; 404: no such product.",
      querystring: Type.Object({ payload: Type.String({ minLength: 1, maxLength: MAX_PAYLOAD_LENGTH }) }, { additionalProperties: false }),
      response: {
        200: Type.Object({ product: ProductJson, inspection_rules: Type.Array(RuleJson), quality_standards: Type.Array(StandardJson), specifications: Specs, decoded: DecodedJson }),
        ...problems(400, 404),
      },
    },
  }, async (req) => service.getByQr(req.query.payload));

  app.post("/api/v1/products/batch-get", {
    config: { auth: { permission: "product:search" } },
    schema: {
      tags, summary: "Several products by id in one call",
      description: `At most IFC_PRODUCTS_BATCH_MAX ids (${service.batchMax} here; more: 400). Unknown ids are listed in \`missing\`.`,
      body: Type.Object({ ids: Type.Array(Type.String(PRODUCT_ID), { maxItems: 10_000 }) }, { additionalProperties: false }),
      response: { 200: Type.Object({ items: Type.Array(ProductJson), missing: Type.Array(Type.String()) }), ...problems(400) },
    },
  }, async (req) => service.batchGet(req.body.ids));

  app.get("/api/v1/products/:id", {
    config: { auth: { permission: "product:search" } },
    schema: { tags, summary: "A product with its specifications", params: IdParams, response: { 200: ProductJson, ...problems(404) } },
  }, async (req) => service.get(req.params.id));

  app.post("/api/v1/products", {
    config: { auth: { permission: "system:admin" } },
    schema: {
      tags, summary: "Create or replace a product (upsert): revision + 1 on replace",
      description: "Fields left out become null (status: `active`); `specifications`, when given, replace the product's.",
      body: ProductBody,
      response: { 200: ProductJson, 201: ProductJson, ...problems(400, 403) },
    },
  }, async (req, reply) => {
    const w = await service.upsert(checkProduct(req.body, false));
    return reply.code(w.previous ? 200 : 201).header("location", `/api/v1/products/${w.product.product_id}`).send(w.product);
  });

  app.put("/api/v1/products/:id", {
    config: { auth: { permission: "system:admin" } },
    schema: {
      tags, summary: "Update the fields given; with `revision`, only if nobody wrote in between (409)",
      params: IdParams, body: PatchBody,
      response: { 200: ProductJson, ...problems(400, 403, 404, 409) },
    },
  }, async (req) => {
    const { revision, ...patch } = req.body;
    return (await service.update(req.params.id, checkProduct(patch, true), revision)).product;
  });

  app.delete("/api/v1/products/:id", {
    config: { auth: { permission: "system:admin" } },
    schema: {
      tags, summary: "Delete a product (soft: offline devices learn of it); `?revision=` refuses a lost update (409)",
      params: IdParams, querystring: Type.Object({ revision: Type.Optional(Type.Integer({ minimum: 1 })) }, { additionalProperties: false }),
      response: { 204: empty("Deleted"), ...problems(403, 404, 409) },
    },
  }, async (req, reply) => {
    await service.delete(req.params.id, req.query.revision);
    return reply.code(204).send();
  });

  app.get("/api/v1/products/rules/:product_type", {
    config: { auth: { permission: "product:search" } },
    schema: { tags, summary: "A product type's inspection rules (category thresholds, enabled, custom parameters)", params: TypeParams, response: { 200: Type.Object({ product_type: Type.String(), rules: Type.Array(RuleJson) }), ...problems(400) } },
  }, async (req) => ({ product_type: req.params.product_type, rules: await service.rules(req.params.product_type) }));

  app.put("/api/v1/products/rules/:product_type", {
    config: { auth: { permission: "system:admin" } },
    schema: {
      tags, summary: "Set a product type's inspection rules: the categories given are upserted, the others removed",
      params: TypeParams,
      body: Type.Object({ rules: Type.Array(RuleBody, { maxItems: MAX_SET_ITEMS }) }, { additionalProperties: false }),
      response: { 200: Type.Object({ product_type: Type.String(), rules: Type.Array(RuleJson) }), ...problems(400, 403) },
    },
  }, async (req) => ({ product_type: req.params.product_type, rules: await service.putRules(req.params.product_type, req.body.rules) }));

  app.get("/api/v1/products/quality-standards/:product_type", {
    config: { auth: { permission: "product:search" } },
    schema: { tags, summary: "A product type's quality standards", params: TypeParams, response: { 200: Type.Object({ product_type: Type.String(), standards: Type.Array(StandardJson) }), ...problems(400) } },
  }, async (req) => ({ product_type: req.params.product_type, standards: await service.standards(req.params.product_type) }));

  app.put("/api/v1/products/quality-standards/:product_type", {
    config: { auth: { permission: "system:admin" } },
    schema: {
      tags, summary: "Set a product type's quality standards: upserted by standard_id (new ones get an id), the others removed",
      params: TypeParams,
      body: Type.Object({ standards: Type.Array(StandardBody, { maxItems: MAX_SET_ITEMS }) }, { additionalProperties: false }),
      response: { 200: Type.Object({ product_type: Type.String(), standards: Type.Array(StandardJson) }), ...problems(400, 403) },
    },
  }, async (req) => ({ product_type: req.params.product_type, standards: await service.putStandards(req.params.product_type, req.body.standards) }));

  // The import reads its body as a stream: its own scope, where JSON and CSV are not parsed up front.
  await fastify.register(async (scope) => {
    scope.removeAllContentTypeParsers();
    scope.addContentTypeParser(["application/json", "text/csv"], (_req: FastifyRequest, payload: Readable, done: (err: Error | null, body?: unknown) => void) => done(null, payload));
    scope.post("/api/v1/products/import", {
      config: { auth: { permission: "system:admin" } },
      schema: {
        tags, summary: "Bulk import: a JSON array of products, or CSV with a header row of the field names",
        description: "Streamed: rows are checked like POST /api/v1/products bodies and written 500 per statement; bad rows are reported by line and the good ones kept. CSV columns: the product fields, and `spec.<key>` for specifications. Limits: IFC_PRODUCTS_IMPORT_MAX_BYTES (413; a body without Content-Length found too large mid-way keeps the rows written before the cut, counted in `imported`), IFC_PRODUCTS_IMPORT_MAX_ROWS (the rows past it are refused, counted in `refused`).",
        consumes: ["application/json", "text/csv"],
        response: { 200: ImportReportJson, ...problems(400, 403, 413, 415) },
      },
    }, async (req) => {
      const length = Number(req.headers["content-length"] ?? 0);
      if (length > opts.importMaxBytes) throw new PayloadTooLargeError(opts.importMaxBytes);
      const body = req.body as Readable | undefined;
      if (!body) throw new ProblemError(400, "invalid-import", "Bad request", "the import body is empty");
      const chunks = capped(body, opts.importMaxBytes);
      const csv = /^text\/csv\b/i.test(req.headers["content-type"] ?? "");
      try {
        return await importProducts(service, csv ? csvRows(chunks) : jsonArrayRows(chunks), { maxRows: opts.importMaxRows });
      } catch (err) {
        if (!(err instanceof ImportInterrupted)) throw err;
        const { cause, report } = err;
        if (cause instanceof PayloadTooLargeError) throw new ProblemError(413, "payload-too-large", "Payload too large", cause.message, { limit: opts.importMaxBytes, imported: report.imported }, { connection: "close" });
        if (cause instanceof InvalidInput) throw new ProblemError(400, cause.slug, "Bad request", cause.message, { ...cause.details, imported: report.imported });
        throw cause;
      }
    });
  });
}
