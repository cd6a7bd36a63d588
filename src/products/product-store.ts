import { randomUUID } from "node:crypto";
import { InvalidInput } from "../core/errors.js";
import type { Database, OpenDatabase, Queryable } from "../ports/database.js";
import { InvalidCursor, ProductNotFound, RevisionConflict } from "./product-errors.js";
import { isValidDate, OPTIONAL_TEXT, type Product, type ProductInput, type ProductPatch } from "./product-fields.js";

/** The fields a QR code may carry, normalised (design documents' `product_info` names). */
export interface QrFields {
  work_order_id: string;
  instruction_id?: string;
  product_type?: string;
  machine_number?: string;
  production_date?: string;
  monthly_sequence?: number;
}

export interface ProductSearch {
  product_type?: string;
  machine_number?: string;
  /** production_date ≥ from (YYYY-MM-DD, inclusive). */
  from?: string;
  /** production_date ≤ to (inclusive). */
  to?: string;
  work_order_prefix?: string;
  status?: string;
  /** 1–500. */
  limit: number;
  cursor?: string;
}

/** A search hit: the product and its aggregates over its inspections. */
export interface ProductHit extends Product {
  /** Share of its judgements that are OK, 0–100 (a person's verification overrides the AI's); null when none. */
  quality_score: number | null;
  /** Judgements (AI and converted pipeline results) of its inspection sessions. */
  inspection_count: number;
}

export interface Page<T> {
  items: T[];
  next_cursor: string | null;
  total: number;
}

/** A write's outcome: the product now, and (for cache invalidation) what it was before, if it existed. */
export interface ProductWrite {
  product: Product;
  previous: Product | undefined;
}

export interface InspectionRule {
  rule_id: string;
  product_type: string;
  category: string;
  threshold: number;
  enabled: boolean;
  parameters: Record<string, unknown>;
  revision: number;
  updated_at: string;
}
export type InspectionRuleInput = Pick<InspectionRule, "category" | "threshold"> & Partial<Pick<InspectionRule, "enabled" | "parameters">>;

export interface QualityStandard {
  standard_id: string;
  product_type: string;
  name: string;
  metric: string;
  min_value: number | null;
  max_value: number | null;
  unit: string | null;
  parameters: Record<string, unknown>;
  revision: number;
  updated_at: string;
}
export type QualityStandardInput = Pick<QualityStandard, "name" | "metric"> & Partial<Pick<QualityStandard, "standard_id" | "min_value" | "max_value" | "unit" | "parameters">>;

export const SEARCH_MAX_LIMIT = 500;

const COLUMNS = `p.product_id, p.work_order_id, p.instruction_id, p.product_type, p.machine_number,
  to_char(p.production_date, 'YYYY-MM-DD') AS production_date, p.monthly_sequence, p.model, p.version, p.batch,
  p.status, p.revision, p.created_at, p.updated_at`;

type Row = Omit<Product, "created_at" | "updated_at" | "specifications"> & { created_at: Date; updated_at: Date };

const iso = (d: Date | string): string => (d instanceof Date ? d.toISOString() : new Date(d).toISOString());

function encodeCursor(date: string | null, id: string): string {
  return Buffer.from(JSON.stringify([date, id]), "utf8").toString("base64url");
}

function decodeCursor(cursor: string): [string | null, string] {
  let v: unknown;
  try {
    v = JSON.parse(Buffer.from(cursor, "base64url").toString("utf8"));
  } catch {
    throw new InvalidCursor();
  }
  if (!Array.isArray(v) || v.length !== 2) throw new InvalidCursor();
  const [date, id] = v as unknown[];
  if (!(date === null || (typeof date === "string" && isValidDate(date))) || typeof id !== "string" || id.length === 0 || id.length > 128) throw new InvalidCursor();
  return [date, id];
}

/** `LIKE` pattern matching values that start with `prefix` literally. */
const likePrefix = (prefix: string): string => `${prefix.replace(/[\\%_]/g, (c) => `\\${c}`)}%`;

/**
 * The product master over the metadata database (migration 002): products with their key/value
 * specifications, inspection rules per product type, quality standards. Deletes are soft
 * (`deleted_at`), so offline devices learn what disappeared; a deleted product is invisible to
 * every read here and an upsert of its id brings it back.
 */
export class ProductStore {
  /** `db`: the database, or its opener (the shared metadata database opens at its first use). */
  constructor(private readonly db: Database | OpenDatabase) {}

  private conn(): Promise<Database> {
    return typeof this.db === "function" ? this.db() : Promise.resolve(this.db);
  }

  private async specsOf(q: Queryable, ids: readonly string[]): Promise<Map<string, Record<string, string>>> {
    const out = new Map<string, Record<string, string>>(ids.map((id) => [id, {}]));
    if (ids.length === 0) return out;
    const r = await q.query<{ product_id: string; key: string; value: string }>("SELECT product_id, key, value FROM product_specs WHERE product_id = ANY($1::text[]) ORDER BY product_id, key", [[...ids]]);
    for (const s of r.rows) out.get(s.product_id)![s.key] = s.value;
    return out;
  }

  private async withSpecs(q: Queryable, rows: Row[]): Promise<Product[]> {
    const specs = await this.specsOf(q, rows.map((r) => r.product_id));
    return rows.map((r) => ({ ...r, created_at: iso(r.created_at), updated_at: iso(r.updated_at), specifications: specs.get(r.product_id) ?? {} }));
  }

  private async rows(q: Queryable, ids: readonly string[], opts: { forUpdate?: boolean; withDeleted?: boolean } = {}): Promise<Product[]> {
    if (ids.length === 0) return [];
    const r = await q.query<Row>(`SELECT ${COLUMNS} FROM products p WHERE p.product_id = ANY($1::text[])${opts.withDeleted ? "" : " AND p.deleted_at IS NULL"}${opts.forUpdate ? " FOR UPDATE" : ""}`, [[...ids]]);
    return this.withSpecs(q, r.rows);
  }

  /** The product, or undefined when it does not exist or was deleted. */
  async get(productId: string): Promise<Product | undefined> {
    return (await this.rows(await this.conn(), [productId]))[0];
  }

  /** The live products among `ids`, in the order of `ids` (missing ones left out). */
  async getMany(ids: readonly string[]): Promise<Product[]> {
    const found = new Map((await this.rows(await this.conn(), [...new Set(ids)])).map((p) => [p.product_id, p]));
    return ids.flatMap((id) => (found.has(id) ? [found.get(id)!] : []));
  }

  /** Creates or replaces one product (revision + 1 on replace); specifications are replaced when given. */
  async upsert(input: ProductInput): Promise<ProductWrite> {
    const [w] = await this.upsertMany([input]);
    return w!;
  }

  /**
   * Creates or replaces many products in one transaction: one INSERT … ON CONFLICT for all
   * (unnest of column arrays, so the statement's size does not grow with the row count). The
   * ids must be distinct (one statement cannot touch a row twice).
   */
  async upsertMany(inputs: readonly ProductInput[]): Promise<ProductWrite[]> {
    if (inputs.length === 0) return [];
    const ids = inputs.map((p) => p.product_id);
    if (new Set(ids).size !== ids.length) throw new InvalidInput("duplicate-product-id", "a batch of products names one id twice");
    return (await this.conn()).transaction(async (tx) => {
      const before = new Map((await this.rows(tx, ids, { forUpdate: true, withDeleted: true })).map((p) => [p.product_id, p]));
      const col = <K extends keyof ProductInput>(k: K) => inputs.map((p) => p[k] ?? null);
      await tx.query(
        `INSERT INTO products (product_id, work_order_id, instruction_id, product_type, machine_number, model, version, batch, production_date, monthly_sequence, status)
         SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::text[], $6::text[], $7::text[], $8::text[], $9::date[], $10::int[], $11::text[])
         ON CONFLICT (product_id) DO UPDATE SET work_order_id = EXCLUDED.work_order_id, instruction_id = EXCLUDED.instruction_id,
           product_type = EXCLUDED.product_type, machine_number = EXCLUDED.machine_number, model = EXCLUDED.model, version = EXCLUDED.version,
           batch = EXCLUDED.batch, production_date = EXCLUDED.production_date, monthly_sequence = EXCLUDED.monthly_sequence, status = EXCLUDED.status,
           revision = products.revision + 1, updated_at = now(), deleted_at = NULL`,
        [ids, col("work_order_id"), ...OPTIONAL_TEXT.map((f) => col(f)), col("production_date"), col("monthly_sequence"), inputs.map((p) => p.status ?? "active")],
      );
      await this.replaceSpecs(tx, inputs.filter((p) => p.specifications !== undefined).map((p) => [p.product_id, p.specifications!]));
      const after = await this.rows(tx, ids);
      return after.map((product) => {
        const prev = before.get(product.product_id);
        return { product, previous: prev };
      });
    });
  }

  private async replaceSpecs(tx: Queryable, items: [string, Record<string, string>][]): Promise<void> {
    if (items.length === 0) return;
    await tx.query("DELETE FROM product_specs WHERE product_id = ANY($1::text[])", [items.map(([id]) => id)]);
    const flat = items.flatMap(([id, specs]) => Object.entries(specs).map(([k, v]) => [id, k, v] as const));
    if (flat.length === 0) return;
    await tx.query("INSERT INTO product_specs (product_id, key, value) SELECT * FROM unnest($1::text[], $2::text[], $3::text[])", [flat.map((f) => f[0]), flat.map((f) => f[1]), flat.map((f) => f[2])]);
  }

  /** Locks the live product and checks `expectedRevision` (when given) against it. */
  private async current(tx: Queryable, productId: string, expectedRevision: number | undefined): Promise<Product> {
    const [p] = await this.rows(tx, [productId], { forUpdate: true });
    if (!p) throw new ProductNotFound(productId);
    if (expectedRevision !== undefined && p.revision !== expectedRevision) throw new RevisionConflict(productId, expectedRevision, p.revision);
    return p;
  }

  /** Changes the fields present in `patch`; with `expectedRevision`, only if the product is still at it (RevisionConflict otherwise). */
  async update(productId: string, patch: ProductPatch, expectedRevision?: number): Promise<ProductWrite> {
    return (await this.conn()).transaction(async (tx) => {
      const previous = await this.current(tx, productId, expectedRevision);
      const sets: string[] = [];
      const params: unknown[] = [productId];
      const fields = ["work_order_id", ...OPTIONAL_TEXT, "production_date", "monthly_sequence", "status"] as const;
      for (const f of fields) {
        if (patch[f] === undefined) continue;
        params.push(f === "status" ? (patch.status ?? "active") : patch[f]);
        sets.push(`${f} = $${params.length}${f === "production_date" ? "::date" : ""}`);
      }
      await tx.query(`UPDATE products SET ${[...sets, "revision = revision + 1", "updated_at = now()"].join(", ")} WHERE product_id = $1`, params);
      if (patch.specifications !== undefined) await this.replaceSpecs(tx, [[productId, patch.specifications]]);
      const [product] = await this.rows(tx, [productId]);
      return { product: product!, previous };
    });
  }

  /** Soft delete (revision + 1): gone from every read; offline devices see it in "changes since". */
  async delete(productId: string, expectedRevision?: number): Promise<Product> {
    return (await this.conn()).transaction(async (tx) => {
      const previous = await this.current(tx, productId, expectedRevision);
      await tx.query("UPDATE products SET deleted_at = now(), updated_at = now(), revision = revision + 1 WHERE product_id = $1", [productId]);
      return previous;
    });
  }

  /**
   * The product a QR code names: its work order plus whichever of instruction, machine number
   * and monthly sequence the code carries (type and date are printed for people, not matched).
   * Several matches: the newest production date, then the latest written.
   */
  async findByQr(fields: QrFields): Promise<Product | undefined> {
    const where = ["p.deleted_at IS NULL", "p.work_order_id = $1"];
    const params: unknown[] = [fields.work_order_id];
    const add = (sql: string, v: unknown) => {
      params.push(v);
      where.push(`${sql} = $${params.length}`);
    };
    if (fields.instruction_id !== undefined) add("p.instruction_id", fields.instruction_id);
    if (fields.machine_number !== undefined) add("p.machine_number", fields.machine_number);
    if (fields.monthly_sequence !== undefined) add("p.monthly_sequence", fields.monthly_sequence);
    const db = await this.conn();
    const r = await db.query<Row>(`SELECT ${COLUMNS} FROM products p WHERE ${where.join(" AND ")} ORDER BY p.production_date DESC NULLS LAST, p.updated_at DESC, p.product_id LIMIT 1`, params);
    return (await this.withSpecs(db, r.rows))[0];
  }

  /**
   * Products matching every given condition, in production-date order (undated last), then id;
   * `limit` at a time after the opaque `cursor` (keyset, so a page costs the same however deep).
   * `total` counts every match. Each hit carries its inspection aggregates.
   */
  async search(q: ProductSearch): Promise<Page<ProductHit>> {
    if (!Number.isInteger(q.limit) || q.limit < 1 || q.limit > SEARCH_MAX_LIMIT) throw new InvalidInput("invalid-limit", `limit must be an integer 1–${SEARCH_MAX_LIMIT}`);
    for (const [k, v] of [["from", q.from], ["to", q.to]] as const) if (v !== undefined && !isValidDate(v)) throw new InvalidInput("invalid-date", `${k} must be a date YYYY-MM-DD`);
    const where = ["p.deleted_at IS NULL"];
    const params: unknown[] = [];
    const add = (sql: (n: string) => string, v: unknown) => {
      params.push(v);
      where.push(sql(`$${params.length}`));
    };
    if (q.product_type !== undefined) add((n) => `p.product_type = ${n}`, q.product_type);
    if (q.machine_number !== undefined) add((n) => `p.machine_number = ${n}`, q.machine_number);
    if (q.status !== undefined) add((n) => `p.status = ${n}`, q.status);
    if (q.from !== undefined) add((n) => `p.production_date >= ${n}::date`, q.from);
    if (q.to !== undefined) add((n) => `p.production_date <= ${n}::date`, q.to);
    if (q.work_order_prefix !== undefined) add((n) => `p.work_order_id LIKE ${n}`, likePrefix(q.work_order_prefix));
    const filter = where.join(" AND ");
    const countParams = [...params];
    const page = [...where];
    if (q.cursor !== undefined) {
      const [date, id] = decodeCursor(q.cursor);
      params.push(id);
      const idN = `$${params.length}`;
      if (date === null) page.push(`(p.production_date IS NULL AND p.product_id > ${idN})`);
      else {
        params.push(date);
        const d = `$${params.length}::date`;
        page.push(`(p.production_date > ${d} OR (p.production_date = ${d} AND p.product_id > ${idN}) OR p.production_date IS NULL)`);
      }
    }
    params.push(q.limit + 1);
    const db = await this.conn();
    const [rows, count] = await Promise.all([
      db.query<Row>(`SELECT ${COLUMNS} FROM products p WHERE ${page.join(" AND ")} ORDER BY p.production_date ASC NULLS LAST, p.product_id ASC LIMIT $${params.length}`, params),
      db.query<{ n: number }>(`SELECT count(*)::int AS n FROM products p WHERE ${filter}`, countParams),
    ]);
    const more = rows.rows.length > q.limit;
    const products = await this.withSpecs(db, rows.rows.slice(0, q.limit));
    const aggregates = await this.aggregates(db, products.map((p) => p.product_id));
    const last = products[products.length - 1];
    return {
      items: products.map((p) => ({ ...p, ...(aggregates.get(p.product_id) ?? { quality_score: null, inspection_count: 0 }) })),
      next_cursor: more && last ? encodeCursor(last.production_date, last.product_id) : null,
      total: count.rows[0]?.n ?? 0,
    };
  }

  /**
   * Per product: its judgements (AI and pipeline results; a person's verification is not one
   * more, it overrides the result it verifies) and the OK share of them.
   */
  private async aggregates(db: Queryable, ids: readonly string[]): Promise<Map<string, { quality_score: number | null; inspection_count: number }>> {
    const out = new Map<string, { quality_score: number | null; inspection_count: number }>();
    if (ids.length === 0) return out;
    const r = await db.query<{ product_id: string; n: number; ok: number }>(
      `SELECT s.product_id, count(*)::int AS n, (count(*) FILTER (WHERE upper(coalesce(h.result, r.result)) = 'OK'))::int AS ok
       FROM inspection_sessions s
       JOIN inspection_results r ON r.session_id = s.session_id AND r.source <> 'human'
       LEFT JOIN LATERAL (SELECT v.result FROM inspection_results v WHERE v.session_id = r.session_id AND v.verifies_result_id = r.result_id ORDER BY v.created_at DESC LIMIT 1) h ON true
       WHERE s.product_id = ANY($1::text[])
       GROUP BY s.product_id`,
      [[...ids]],
    );
    for (const a of r.rows) out.set(a.product_id, { inspection_count: a.n, quality_score: a.n === 0 ? null : Math.round((a.ok / a.n) * 1000) / 10 });
    return out;
  }

  // --- inspection rules (per product type) ------------------------------------------------

  private static ruleRow(r: Omit<InspectionRule, "updated_at"> & { updated_at: Date }): InspectionRule {
    return { ...r, updated_at: iso(r.updated_at) };
  }

  /** The live rules of a product type, by category. */
  async rules(productType: string, q?: Queryable): Promise<InspectionRule[]> {
    const r = await (q ?? (await this.conn())).query<Omit<InspectionRule, "updated_at"> & { updated_at: Date }>(
      "SELECT rule_id, product_type, category, threshold, enabled, parameters, revision, updated_at FROM inspection_rules WHERE product_type = $1 AND deleted_at IS NULL ORDER BY category",
      [productType],
    );
    return r.rows.map(ProductStore.ruleRow);
  }

  /**
   * Makes `rules` the product type's rule set: each category upserted (revision + 1 when it
   * changes), categories not named soft-deleted. Returns the set as stored.
   */
  async putRules(productType: string, rules: readonly InspectionRuleInput[]): Promise<InspectionRule[]> {
    const categories = rules.map((r) => r.category);
    if (new Set(categories).size !== categories.length) throw new InvalidInput("duplicate-category", "a rule set names one category twice");
    return (await this.conn()).transaction(async (tx) => {
      for (const r of rules) {
        await tx.query(
          `INSERT INTO inspection_rules (rule_id, product_type, category, threshold, enabled, parameters) VALUES ($1, $2, $3, $4, $5, $6)
           ON CONFLICT (product_type, category) DO UPDATE SET threshold = EXCLUDED.threshold, enabled = EXCLUDED.enabled, parameters = EXCLUDED.parameters,
             revision = inspection_rules.revision + 1, updated_at = now(), deleted_at = NULL
           WHERE inspection_rules.deleted_at IS NOT NULL OR inspection_rules.threshold IS DISTINCT FROM EXCLUDED.threshold
             OR inspection_rules.enabled IS DISTINCT FROM EXCLUDED.enabled OR inspection_rules.parameters IS DISTINCT FROM EXCLUDED.parameters`,
          [`rule-${randomUUID()}`, productType, r.category, r.threshold, r.enabled ?? true, JSON.stringify(r.parameters ?? {})],
        );
      }
      await tx.query(
        "UPDATE inspection_rules SET deleted_at = now(), updated_at = now(), revision = revision + 1 WHERE product_type = $1 AND deleted_at IS NULL AND NOT (category = ANY($2::text[]))",
        [productType, categories],
      );
      return this.rules(productType, tx);
    });
  }

  // --- quality standards (per product type) -----------------------------------------------

  async standards(productType: string, q?: Queryable): Promise<QualityStandard[]> {
    const r = await (q ?? (await this.conn())).query<Omit<QualityStandard, "updated_at"> & { updated_at: Date }>(
      "SELECT standard_id, product_type, name, metric, min_value, max_value, unit, parameters, revision, updated_at FROM quality_standards WHERE product_type = $1 AND deleted_at IS NULL ORDER BY name, standard_id",
      [productType],
    );
    return r.rows.map((s) => ({ ...s, updated_at: iso(s.updated_at) }));
  }

  /**
   * Makes `standards` the product type's set: each upserted by its `standard_id` (a new id when
   * none is given), the type's other standards soft-deleted. An id of another type's standard is refused.
   */
  async putStandards(productType: string, standards: readonly QualityStandardInput[], newId: () => string): Promise<QualityStandard[]> {
    const withIds = standards.map((s) => ({ ...s, standard_id: s.standard_id ?? newId() }));
    const ids = withIds.map((s) => s.standard_id);
    if (new Set(ids).size !== ids.length) throw new InvalidInput("duplicate-standard-id", "a standard set names one standard_id twice");
    return (await this.conn()).transaction(async (tx) => {
      const other = await tx.query<{ standard_id: string }>("SELECT standard_id FROM quality_standards WHERE standard_id = ANY($1::text[]) AND product_type <> $2", [ids, productType]);
      if (other.rows.length > 0) throw new InvalidInput("standard-of-another-type", `standard "${other.rows[0]!.standard_id}" belongs to another product type`);
      for (const s of withIds) {
        await tx.query(
          `INSERT INTO quality_standards (standard_id, product_type, name, metric, min_value, max_value, unit, parameters) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)
           ON CONFLICT (standard_id) DO UPDATE SET name = EXCLUDED.name, metric = EXCLUDED.metric, min_value = EXCLUDED.min_value, max_value = EXCLUDED.max_value,
             unit = EXCLUDED.unit, parameters = EXCLUDED.parameters, revision = quality_standards.revision + 1, updated_at = now(), deleted_at = NULL`,
          [s.standard_id, productType, s.name, s.metric, s.min_value ?? null, s.max_value ?? null, s.unit ?? null, JSON.stringify(s.parameters ?? {})],
        );
      }
      await tx.query(
        "UPDATE quality_standards SET deleted_at = now(), updated_at = now(), revision = revision + 1 WHERE product_type = $1 AND deleted_at IS NULL AND NOT (standard_id = ANY($2::text[]))",
        [productType, ids],
      );
      return this.standards(productType, tx);
    });
  }
}
