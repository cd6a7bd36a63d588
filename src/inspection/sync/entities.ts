import { InvalidInput } from "../../core/errors.js";

/** How a column's JSON value is written (its SQL cast). */
export type ColumnType = "text" | "int" | "float" | "bool" | "json" | "date" | "timestamptz";

/**
 * One kind of row a device may download or change: its table, key, writable columns, and whether
 * it is revisioned master data (the conflict rule applies) or append-only (sessions, results).
 */
export interface EntityDef {
  entity: string;
  table: string;
  idColumn: string;
  columns: Readonly<Record<string, ColumnType>>;
  kind: "master" | "append-only";
  /** Append-only rows that a device may amend (its own session: completed, notes); results may not. */
  amendable?: boolean;
}

export const ENTITIES: readonly EntityDef[] = [
  {
    entity: "inspection_target", table: "inspection_targets", idColumn: "target_id", kind: "master",
    columns: { name: "text", product_type: "text", description: "text", metadata: "json" },
  },
  {
    entity: "inspection_item", table: "inspection_items", idColumn: "item_id", kind: "master",
    columns: { target_id: "text", name: "text", category: "text", description: "text", order_index: "int", pipeline_id: "text", pipeline_version: "text", criteria: "json" },
  },
  {
    entity: "inspection_rule", table: "inspection_rules", idColumn: "rule_id", kind: "master",
    columns: { product_type: "text", category: "text", threshold: "float", enabled: "bool", parameters: "json" },
  },
  {
    entity: "quality_standard", table: "quality_standards", idColumn: "standard_id", kind: "master",
    columns: { product_type: "text", name: "text", metric: "text", min_value: "float", max_value: "float", unit: "text", parameters: "json" },
  },
  {
    entity: "product", table: "products", idColumn: "product_id", kind: "master",
    columns: {
      work_order_id: "text", instruction_id: "text", product_type: "text", machine_number: "text", production_date: "date",
      monthly_sequence: "int", model: "text", version: "text", batch: "text", status: "text",
    },
  },
  {
    entity: "inspection_session", table: "inspection_sessions", idColumn: "session_id", kind: "append-only", amendable: true,
    columns: { target_id: "text", product_id: "text", status: "text", overall_result: "text", inspector: "text", notes: "text", metadata: "json", started_at: "timestamptz", completed_at: "timestamptz" },
  },
  {
    entity: "inspection_result", table: "inspection_results", idColumn: "result_id", kind: "append-only",
    columns: {
      session_id: "text", item_id: "text", source: "text", result: "text", confidence: "float", detections: "json", defect_types: "json",
      processing_time_ms: "float", pipeline_id: "text", pipeline_version: "text", image_file_id: "text", verifies_result_id: "text", comment: "text", created_at: "timestamptz",
    },
  },
];

export const ENTITY_NAMES = ENTITIES.map((e) => e.entity);
/** The master data a device downloads whole (products come in pages). */
export const WHOLE_MASTER = ENTITIES.filter((e) => e.kind === "master" && e.entity !== "product");
export const MASTER = ENTITIES.filter((e) => e.kind === "master");

export function entityDef(entity: string): EntityDef {
  const def = ENTITIES.find((e) => e.entity === entity);
  if (!def) throw new InvalidInput("unknown-sync-entity", `entity "${entity}" cannot be synchronised; one of: ${ENTITY_NAMES.join(", ")}`, { entity });
  return def;
}

/** The SQL placeholder of a column's value, cast so both engines take JSON text for it. */
export function placeholder(type: ColumnType, n: number): string {
  switch (type) {
    case "json": return `$${n}::jsonb`;
    case "date": return `$${n}::date`;
    case "timestamptz": return `$${n}::timestamptz`;
    case "int": return `$${n}::integer`;
    case "float": return `$${n}::double precision`;
    case "bool": return `$${n}::boolean`;
    default: return `$${n}::text`;
  }
}

/** A change's data as column → parameter, refusing columns the entity does not have. */
export function columnValues(def: EntityDef, data: Record<string, unknown>): { columns: string[]; values: unknown[] } {
  const columns: string[] = [];
  const values: unknown[] = [];
  for (const [k, v] of Object.entries(data)) {
    if (k === def.idColumn) continue;
    const type = def.columns[k];
    if (!type) throw new InvalidInput("unknown-sync-field", `${def.entity} has no writable field "${k}"`, { entity: def.entity, field: k });
    columns.push(k);
    values.push(v === null || v === undefined ? null : type === "json" ? JSON.stringify(v) : v);
  }
  return { columns, values };
}
