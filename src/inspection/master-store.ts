import { randomUUID } from "node:crypto";
import { Conflict, NotFound } from "../core/errors.js";
import type { Queryable } from "../ports/database.js";
import { checkLimit, decodeCursor, encodeCursor, type Page } from "./paging.js";

export interface InspectionTarget {
  target_id: string;
  name: string;
  product_type: string | null;
  description: string;
  metadata: Record<string, unknown>;
  revision: number;
  created_at: string;
  updated_at: string;
}

export interface InspectionItem {
  item_id: string;
  target_id: string;
  name: string;
  category: string | null;
  description: string;
  order_index: number;
  pipeline_id: string | null;
  pipeline_version: string | null;
  /** e.g. {confidence_threshold, defect_classes}: what makes this item NG. */
  criteria: Record<string, unknown>;
  revision: number;
  created_at: string;
  updated_at: string;
}

export type TargetInput = Pick<InspectionTarget, "name"> & Partial<Pick<InspectionTarget, "product_type" | "description" | "metadata">> & { target_id?: string };
export type ItemInput = Pick<InspectionItem, "name"> &
  Partial<Pick<InspectionItem, "category" | "description" | "order_index" | "pipeline_id" | "pipeline_version" | "criteria">> & { item_id?: string };

type Dated<T> = Omit<T, "created_at" | "updated_at"> & { created_at: Date; updated_at: Date };
const dated = <T>(r: Dated<T> & { deleted_at?: unknown }): T => {
  const { deleted_at: _d, ...rest } = r;
  return { ...rest, created_at: r.created_at.toISOString(), updated_at: r.updated_at.toISOString() } as T;
};

/**
 * The inspection master (API design §6.1.1): targets and their items. Every write bumps
 * `revision` and `updated_at`, and deletes are soft, so offline devices can sync on them.
 */
export class MasterStore {
  constructor(private readonly db: Queryable) {}

  async createTarget(t: TargetInput): Promise<InspectionTarget> {
    const id = t.target_id ?? `target-${randomUUID()}`;
    const r = await this.db.query<Dated<InspectionTarget>>(
      `INSERT INTO inspection_targets (target_id, name, product_type, description, metadata) VALUES ($1, $2, $3, $4, $5)
       ON CONFLICT (target_id) DO NOTHING RETURNING *`,
      [id, t.name, t.product_type ?? null, t.description ?? "", JSON.stringify(t.metadata ?? {})],
    );
    if (!r.rows[0]) throw new Conflict("target-exists", `target ${id} exists`, { target_id: id });
    return dated(r.rows[0]);
  }

  async getTarget(id: string): Promise<InspectionTarget> {
    const r = await this.db.query<Dated<InspectionTarget>>("SELECT * FROM inspection_targets WHERE target_id = $1 AND deleted_at IS NULL", [id]);
    if (!r.rows[0]) throw new NotFound("target-not-found", `no inspection target ${id}`, { target_id: id });
    return dated(r.rows[0]);
  }

  async updateTarget(id: string, t: Omit<TargetInput, "target_id">): Promise<InspectionTarget> {
    const r = await this.db.query<Dated<InspectionTarget>>(
      `UPDATE inspection_targets SET name = $2, product_type = $3, description = $4, metadata = $5, revision = revision + 1, updated_at = now()
       WHERE target_id = $1 AND deleted_at IS NULL RETURNING *`,
      [id, t.name, t.product_type ?? null, t.description ?? "", JSON.stringify(t.metadata ?? {})],
    );
    if (!r.rows[0]) throw new NotFound("target-not-found", `no inspection target ${id}`, { target_id: id });
    return dated(r.rows[0]);
  }

  /** Soft: the row stays (revision + 1) so a device learns of the delete; its items go with it. */
  async deleteTarget(id: string): Promise<void> {
    const r = await this.db.query("UPDATE inspection_targets SET deleted_at = now(), revision = revision + 1, updated_at = now() WHERE target_id = $1 AND deleted_at IS NULL", [id]);
    if (r.rowCount === 0) throw new NotFound("target-not-found", `no inspection target ${id}`, { target_id: id });
    await this.db.query("UPDATE inspection_items SET deleted_at = now(), revision = revision + 1, updated_at = now() WHERE target_id = $1 AND deleted_at IS NULL", [id]);
  }

  /** By name then id. */
  async listTargets(page: { limit?: number; cursor?: string }): Promise<Page<InspectionTarget>> {
    const limit = checkLimit(page.limit);
    const total = Number((await this.db.query<{ n: number }>("SELECT count(*)::int AS n FROM inspection_targets WHERE deleted_at IS NULL")).rows[0]?.n ?? 0);
    const params: unknown[] = [limit + 1];
    let after = "";
    if (page.cursor) {
      const [name, id] = decodeCursor(page.cursor, ["string", "string"]);
      params.push(name, id);
      after = "AND (name, target_id) > ($2, $3)";
    }
    const rows = (await this.db.query<Dated<InspectionTarget>>(`SELECT * FROM inspection_targets WHERE deleted_at IS NULL ${after} ORDER BY name, target_id LIMIT $1`, params)).rows;
    const items = rows.slice(0, limit).map((r) => dated<InspectionTarget>(r));
    const last = items.at(-1);
    return { items, next_cursor: rows.length > limit && last ? encodeCursor([last.name, last.target_id]) : null, total };
  }

  async createItem(targetId: string, i: ItemInput): Promise<InspectionItem> {
    await this.getTarget(targetId);
    const id = i.item_id ?? `item-${randomUUID()}`;
    const r = await this.db.query<Dated<InspectionItem>>(
      `INSERT INTO inspection_items (item_id, target_id, name, category, description, order_index, pipeline_id, pipeline_version, criteria)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9) ON CONFLICT (item_id) DO NOTHING RETURNING *`,
      [id, targetId, i.name, i.category ?? null, i.description ?? "", i.order_index ?? 0, i.pipeline_id ?? null, i.pipeline_version ?? null, JSON.stringify(i.criteria ?? {})],
    );
    if (!r.rows[0]) throw new Conflict("item-exists", `item ${id} exists`, { item_id: id });
    return dated(r.rows[0]);
  }

  async getItem(id: string): Promise<InspectionItem> {
    const r = await this.db.query<Dated<InspectionItem>>("SELECT * FROM inspection_items WHERE item_id = $1 AND deleted_at IS NULL", [id]);
    if (!r.rows[0]) throw new NotFound("item-not-found", `no inspection item ${id}`, { item_id: id });
    return dated(r.rows[0]);
  }

  async updateItem(id: string, i: Omit<ItemInput, "item_id">): Promise<InspectionItem> {
    const r = await this.db.query<Dated<InspectionItem>>(
      `UPDATE inspection_items SET name = $2, category = $3, description = $4, order_index = $5, pipeline_id = $6, pipeline_version = $7, criteria = $8,
         revision = revision + 1, updated_at = now() WHERE item_id = $1 AND deleted_at IS NULL RETURNING *`,
      [id, i.name, i.category ?? null, i.description ?? "", i.order_index ?? 0, i.pipeline_id ?? null, i.pipeline_version ?? null, JSON.stringify(i.criteria ?? {})],
    );
    if (!r.rows[0]) throw new NotFound("item-not-found", `no inspection item ${id}`, { item_id: id });
    return dated(r.rows[0]);
  }

  /** Binds the item to a pipeline (GET/PUT /items/{id}/pipeline). */
  async setItemPipeline(id: string, pipelineId: string | null, version: string | null): Promise<InspectionItem> {
    const r = await this.db.query<Dated<InspectionItem>>(
      "UPDATE inspection_items SET pipeline_id = $2, pipeline_version = $3, revision = revision + 1, updated_at = now() WHERE item_id = $1 AND deleted_at IS NULL RETURNING *",
      [id, pipelineId, version],
    );
    if (!r.rows[0]) throw new NotFound("item-not-found", `no inspection item ${id}`, { item_id: id });
    return dated(r.rows[0]);
  }

  async deleteItem(id: string): Promise<void> {
    const r = await this.db.query("UPDATE inspection_items SET deleted_at = now(), revision = revision + 1, updated_at = now() WHERE item_id = $1 AND deleted_at IS NULL", [id]);
    if (r.rowCount === 0) throw new NotFound("item-not-found", `no inspection item ${id}`, { item_id: id });
  }

  /** A target's items by order_index then id. */
  async listItems(targetId: string, page: { limit?: number; cursor?: string }): Promise<Page<InspectionItem>> {
    const limit = checkLimit(page.limit);
    await this.getTarget(targetId);
    const total = Number((await this.db.query<{ n: number }>("SELECT count(*)::int AS n FROM inspection_items WHERE target_id = $1 AND deleted_at IS NULL", [targetId])).rows[0]?.n ?? 0);
    const params: unknown[] = [targetId, limit + 1];
    let after = "";
    if (page.cursor) {
      const [order, id] = decodeCursor(page.cursor, ["number", "string"]);
      params.push(order, id);
      after = "AND (order_index, item_id) > ($3, $4)";
    }
    const rows = (await this.db.query<Dated<InspectionItem>>(`SELECT * FROM inspection_items WHERE target_id = $1 AND deleted_at IS NULL ${after} ORDER BY order_index, item_id LIMIT $2`, params)).rows;
    const items = rows.slice(0, limit).map((r) => dated<InspectionItem>(r));
    const last = items.at(-1);
    return { items, next_cursor: rows.length > limit && last ? encodeCursor([last.order_index, last.item_id]) : null, total };
  }
}
