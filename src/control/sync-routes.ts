import type { FastifyInstance } from "fastify";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { Type } from "typebox";
import { ProblemError } from "../errors.js";
import type { DeviceStore } from "../inspection/sync/device-store.js";
import { ENTITY_NAMES } from "../inspection/sync/entities.js";
import type { DeviceChange, SyncStore } from "../inspection/sync/sync-store.js";
import { refuseRevokedDevices } from "./device-routes.js";
import { problems } from "./schemas.js";

export interface SyncRoutesOptions {
  sync: SyncStore;
  devices: DeviceStore;
  /** IFC_SYNC_MAX_CHANGES: changes per upload (more → 413) and rows per download/changes page. */
  maxChanges: number;
}

const tags = ["offline sync"];
const Row = Type.Record(Type.String(), Type.Unknown());
const NextCursor = Type.Union([Type.String(), Type.Null()]);
/** The engine's hard ceiling (the config key's own maximum); the configured limit answers 413 below it. */
const SCHEMA_MAX_CHANGES = 100_000;

const Change = Type.Object({
  change_id: Type.String({ format: "uuid", description: "the device's id for this change: a retry with the same id applies nothing twice" }),
  entity: Type.Union(ENTITY_NAMES.map((e) => Type.Literal(e))),
  op: Type.Union([Type.Literal("upsert"), Type.Literal("delete")]),
  id: Type.String({ minLength: 1, maxLength: 128 }),
  base_revision: Type.Optional(Type.Union([Type.Integer({ minimum: 1 }), Type.Null()], { description: "the server revision the change was made against; null or absent for a row the device created" })),
  data: Type.Optional(Row),
  changed_at: Type.String({ format: "date-time" }),
}, { additionalProperties: false });

const ConflictView = Type.Object({
  conflict_id: Type.String(),
  change_id: Type.String(),
  entity: Type.String(),
  id: Type.String(),
  base_revision: Type.Union([Type.Integer(), Type.Null()]),
  server_revision: Type.Union([Type.Integer(), Type.Null()]),
  server_data: Type.Union([Row, Type.Null()]),
});
const ApplyResult = Type.Object({
  results: Type.Array(Type.Object({
    change_id: Type.String(),
    outcome: Type.Union([Type.Literal("applied"), Type.Literal("conflict"), Type.Literal("rejected")]),
    duplicate: Type.Boolean(),
    revision: Type.Union([Type.Integer(), Type.Null()]),
    reason: Type.Optional(Type.String()),
  })),
  applied: Type.Array(Type.String()),
  duplicates: Type.Array(Type.String()),
  conflicts: Type.Array(ConflictView),
  rejected: Type.Array(Type.Object({ change_id: Type.String(), reason: Type.String() })),
});

/**
 * The inspection data sync of API design §6.1.3. `upload` and `apply-changes` are one flow under
 * the documents' two names: each stores and applies a batch in the same call (there is no
 * staged, not-yet-applied state to lose), idempotent by (device, change_id).
 */
export async function syncRoutes(app: FastifyInstance, opts: SyncRoutesOptions): Promise<void> {
  const { sync, devices, maxChanges } = opts;
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  refuseRevokedDevices(app, devices);

  r.get("/api/v1/inspection/sync/download", {
    config: { auth: { permission: "inspection:view" } },
    schema: {
      tags,
      summary: "Master data for an offline device: targets, items, rules and standards whole on the first page; products IFC_SYNC_MAX_CHANGES a page",
      querystring: Type.Object({ cursor: Type.Optional(Type.String({ maxLength: 512 })) }),
      response: {
        200: Type.Object({
          server_time: Type.String({ description: "pass it as `since` to /changes once every page is read" }),
          inspection_targets: Type.Optional(Type.Array(Row)),
          inspection_items: Type.Optional(Type.Array(Row)),
          inspection_rules: Type.Optional(Type.Array(Row)),
          quality_standards: Type.Optional(Type.Array(Row)),
          products: Type.Array(Row),
          next_cursor: NextCursor,
          total_products: Type.Integer(),
        }),
        ...problems(400, 401, 403),
      },
    },
  }, async (req) => {
    const page = await sync.download({ pageSize: maxChanges, ...(req.query.cursor ? { cursor: req.query.cursor } : {}) });
    const m = page.masters;
    return {
      server_time: page.server_time,
      ...(m ? { inspection_targets: m.inspection_target ?? [], inspection_items: m.inspection_item ?? [], inspection_rules: m.inspection_rule ?? [], quality_standards: m.quality_standard ?? [] } : {}),
      products: page.products,
      next_cursor: page.next_cursor,
      total_products: page.total_products,
    };
  });

  r.get("/api/v1/inspection/sync/changes", {
    config: { auth: { permission: "inspection:view" } },
    schema: {
      tags,
      summary: "Master rows changed after `since` (deleted ones as tombstones), by (updated_at, entity, id), paged",
      querystring: Type.Object({
        since: Type.Optional(Type.String({ maxLength: 64, description: "ISO 8601: a previous answer's server_time" })),
        cursor: Type.Optional(Type.String({ maxLength: 512 })),
        limit: Type.Optional(Type.Integer({ minimum: 1, maximum: SCHEMA_MAX_CHANGES })),
      }),
      response: {
        200: Type.Object({
          items: Type.Array(Type.Object({ entity: Type.String(), id: Type.String(), revision: Type.Integer(), updated_at: Type.String(), deleted: Type.Boolean(), data: Type.Optional(Row) })),
          next_cursor: NextCursor,
          server_time: Type.String(),
        }),
        ...problems(400, 401, 403),
      },
    },
  }, async (req) => {
    const q = req.query;
    if (q.since === undefined && q.cursor === undefined) throw new ProblemError(400, "invalid-since", "Bad request", "pass since (an ISO 8601 time) or the cursor of a previous page");
    return sync.changes({ limit: Math.min(q.limit ?? maxChanges, maxChanges), ...(q.since !== undefined ? { since: q.since } : {}), ...(q.cursor !== undefined ? { cursor: q.cursor } : {}) });
  });

  const applySchema = (summary: string) => ({
    tags,
    summary,
    body: Type.Object({ changes: Type.Array(Change, { maxItems: SCHEMA_MAX_CHANGES }) }, { additionalProperties: false }),
    response: { 200: ApplyResult, ...problems(400, 401, 403, 413) },
  });
  for (const path of ["/api/v1/inspection/sync/upload", "/api/v1/inspection/sync/apply-changes"]) {
    r.post(path, {
      config: { auth: { permission: "inspection:create" } },
      schema: applySchema(path.endsWith("upload")
        ? "Upload changes made offline: stored and applied in this call by the conflict rule; retries apply nothing twice"
        : "Apply changes (differential sync): the same flow as upload, under the documents' other name"),
    }, async (req) => {
      const changes = req.body.changes;
      if (changes.length > maxChanges) {
        throw new ProblemError(413, "too-many-changes", "Payload too large", `${changes.length} changes in one batch; at most ${maxChanges} (IFC_SYNC_MAX_CHANGES): split it`, { limit: maxChanges, count: changes.length });
      }
      const origin = req.principal?.subject ?? "anonymous";
      return sync.apply(origin, changes.map((c): DeviceChange => ({ ...c, base_revision: c.base_revision ?? null, data: c.data ?? {} })));
    });
  }

  r.get("/api/v1/inspection/sync/conflicts", {
    config: { auth: { permission: "system:admin" } },
    schema: {
      tags,
      summary: "Offline changes kept as conflicts (the device's change whole), oldest first, paged",
      querystring: Type.Object({
        status: Type.Optional(Type.Union([Type.Literal("open"), Type.Literal("resolved"), Type.Literal("all")], { default: "open" })),
        limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 50 })),
        cursor: Type.Optional(Type.String({ maxLength: 512 })),
      }),
      response: {
        200: Type.Object({
          items: Type.Array(Type.Object({
            conflict_id: Type.String(), device_id: Type.String(), entity: Type.String(), entity_id: Type.String(),
            base_revision: Type.Union([Type.Integer(), Type.Null()]), server_revision: Type.Union([Type.Integer(), Type.Null()]),
            payload: Row, created_at: Type.String(), resolved_at: Type.Union([Type.String(), Type.Null()]),
          })),
          next_cursor: NextCursor,
          total: Type.Integer(),
        }),
        ...problems(400, 401, 403),
      },
    },
  }, async (req) => sync.listConflicts({ status: req.query.status ?? "open", limit: req.query.limit ?? 50, ...(req.query.cursor ? { cursor: req.query.cursor } : {}) }));

  r.post("/api/v1/inspection/sync/conflicts/:id/resolve", {
    config: { auth: { permission: "system:admin" } },
    schema: {
      tags,
      summary: "Decide a conflict: keep_server closes it; take_device applies the device's change over the current row (revision + 1)",
      params: Type.Object({ id: Type.String({ format: "uuid" }) }),
      body: Type.Object({ resolution: Type.Union([Type.Literal("keep_server"), Type.Literal("take_device")]) }, { additionalProperties: false }),
      response: {
        200: Type.Object({ conflict_id: Type.String(), resolution: Type.String(), entity: Type.String(), id: Type.String(), revision: Type.Union([Type.Integer(), Type.Null()]), server_data: Type.Union([Row, Type.Null()]) }),
        ...problems(400, 401, 403, 404, 409),
      },
    },
  }, async (req) => sync.resolve(req.params.id, req.body.resolution, req.principal?.subject ?? "anonymous"));
}
