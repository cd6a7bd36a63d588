import type { Migration } from "../migrate.js";

/**
 * The product master (design documents §2.3.3: products, key/value specifications, inspection
 * rules per product type, quality standards), traceability links, the inspection API's targets,
 * items, sessions and results (API design §6), and offline devices with their sync bookkeeping.
 * Every row a device may download carries `revision` and `updated_at`; deletes of master data are
 * soft (`deleted_at`) so "changes since" can tell a device what disappeared.
 */
export const productsInspectionMigration: Migration = {
  version: 2,
  name: "products-inspection",
  statements: [
    `CREATE TABLE products (
      product_id TEXT PRIMARY KEY,
      work_order_id TEXT NOT NULL,
      instruction_id TEXT,
      product_type TEXT,
      machine_number TEXT,
      production_date DATE,
      monthly_sequence INTEGER,
      model TEXT,
      version TEXT,
      batch TEXT,
      status TEXT NOT NULL DEFAULT 'active',
      revision INTEGER NOT NULL DEFAULT 1,
      created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
      updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
      deleted_at TIMESTAMPTZ
    )`,
    // Single-field lookups (QR, instruction, type), prefix search on work orders, the documents'
    // multi-condition searches, and production-date time series.
    "CREATE INDEX products_work_order ON products (work_order_id text_pattern_ops)",
    "CREATE INDEX products_instruction ON products (instruction_id)",
    "CREATE INDEX products_type_machine_date ON products (product_type, machine_number, production_date)",
    "CREATE INDEX products_type_date ON products (product_type, production_date)",
    "CREATE INDEX products_date ON products (production_date, product_id)",
    "CREATE INDEX products_status_date ON products (status, production_date)",
    "CREATE INDEX products_updated ON products (updated_at, product_id)",
    `CREATE TABLE product_specs (
      product_id TEXT NOT NULL REFERENCES products(product_id) ON DELETE CASCADE,
      key TEXT NOT NULL,
      value TEXT NOT NULL,
      PRIMARY KEY (product_id, key)
    )`,
    `CREATE TABLE inspection_rules (
      rule_id TEXT PRIMARY KEY,
      product_type TEXT NOT NULL,
      category TEXT NOT NULL,
      threshold DOUBLE PRECISION NOT NULL,
      enabled BOOLEAN NOT NULL DEFAULT true,
      parameters JSONB NOT NULL DEFAULT '{}',
      revision INTEGER NOT NULL DEFAULT 1,
      updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
      deleted_at TIMESTAMPTZ,
      UNIQUE (product_type, category)
    )`,
    "CREATE INDEX inspection_rules_updated ON inspection_rules (updated_at, rule_id)",
    `CREATE TABLE quality_standards (
      standard_id TEXT PRIMARY KEY,
      product_type TEXT NOT NULL,
      name TEXT NOT NULL,
      metric TEXT NOT NULL,
      min_value DOUBLE PRECISION,
      max_value DOUBLE PRECISION,
      unit TEXT,
      parameters JSONB NOT NULL DEFAULT '{}',
      revision INTEGER NOT NULL DEFAULT 1,
      updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
      deleted_at TIMESTAMPTZ
    )`,
    "CREATE INDEX quality_standards_type ON quality_standards (product_type)",
    // Devices page "changes since" per table in (updated_at, id) order.
    "CREATE INDEX quality_standards_updated ON quality_standards (updated_at, standard_id)",
    // A product's links to what was made of it: recordings (with the span its code was seen),
    // clips, pipeline executions, files. Inspections link through inspection_sessions.product_id.
    `CREATE TABLE product_links (
      product_id TEXT NOT NULL,
      kind TEXT NOT NULL,
      ref_id TEXT NOT NULL,
      stream TEXT,
      first_seen_at TIMESTAMPTZ NOT NULL,
      last_seen_at TIMESTAMPTZ NOT NULL,
      detail JSONB NOT NULL DEFAULT '{}',
      PRIMARY KEY (product_id, kind, ref_id)
    )`,
    "CREATE INDEX product_links_ref ON product_links (kind, ref_id)",
    "CREATE INDEX product_links_seen ON product_links (kind, first_seen_at)",
    `CREATE TABLE inspection_targets (
      target_id TEXT PRIMARY KEY,
      name TEXT NOT NULL,
      product_type TEXT,
      description TEXT NOT NULL DEFAULT '',
      metadata JSONB NOT NULL DEFAULT '{}',
      revision INTEGER NOT NULL DEFAULT 1,
      created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
      updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
      deleted_at TIMESTAMPTZ
    )`,
    "CREATE INDEX inspection_targets_updated ON inspection_targets (updated_at, target_id)",
    `CREATE TABLE inspection_items (
      item_id TEXT PRIMARY KEY,
      target_id TEXT NOT NULL REFERENCES inspection_targets(target_id),
      name TEXT NOT NULL,
      category TEXT,
      description TEXT NOT NULL DEFAULT '',
      order_index INTEGER NOT NULL DEFAULT 0,
      pipeline_id TEXT,
      pipeline_version TEXT,
      criteria JSONB NOT NULL DEFAULT '{}',
      revision INTEGER NOT NULL DEFAULT 1,
      created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
      updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
      deleted_at TIMESTAMPTZ
    )`,
    "CREATE INDEX inspection_items_target ON inspection_items (target_id, order_index)",
    "CREATE INDEX inspection_items_updated ON inspection_items (updated_at, item_id)",
    `CREATE TABLE inspection_sessions (
      session_id TEXT PRIMARY KEY,
      target_id TEXT NOT NULL REFERENCES inspection_targets(target_id),
      product_id TEXT,
      status TEXT NOT NULL DEFAULT 'in_progress',
      overall_result TEXT,
      inspector TEXT,
      device_id TEXT,
      notes TEXT NOT NULL DEFAULT '',
      metadata JSONB NOT NULL DEFAULT '{}',
      revision INTEGER NOT NULL DEFAULT 1,
      started_at TIMESTAMPTZ NOT NULL DEFAULT now(),
      completed_at TIMESTAMPTZ,
      updated_at TIMESTAMPTZ NOT NULL DEFAULT now()
    )`,
    "CREATE INDEX inspection_sessions_product ON inspection_sessions (product_id)",
    "CREATE INDEX inspection_sessions_started ON inspection_sessions (started_at)",
    "CREATE INDEX inspection_sessions_updated ON inspection_sessions (updated_at)",
    // One row per judgement: the AI's (source 'ai'), a person's ('human', pointing at the AI result
    // it verifies), or a converted pipeline result ('pipeline').
    `CREATE TABLE inspection_results (
      result_id TEXT PRIMARY KEY,
      session_id TEXT NOT NULL REFERENCES inspection_sessions(session_id),
      item_id TEXT,
      source TEXT NOT NULL,
      result TEXT NOT NULL,
      confidence DOUBLE PRECISION,
      detections JSONB NOT NULL DEFAULT '[]',
      defect_types JSONB NOT NULL DEFAULT '[]',
      processing_time_ms DOUBLE PRECISION,
      pipeline_id TEXT,
      pipeline_version TEXT,
      execution_id TEXT,
      image_file_id TEXT,
      verifies_result_id TEXT,
      comment TEXT NOT NULL DEFAULT '',
      created_by TEXT,
      created_at TIMESTAMPTZ NOT NULL DEFAULT now()
    )`,
    "CREATE INDEX inspection_results_session ON inspection_results (session_id, created_at)",
    "CREATE INDEX inspection_results_created ON inspection_results (created_at, source)",
    `CREATE TABLE devices (
      device_id TEXT PRIMARY KEY,
      name TEXT NOT NULL,
      platform TEXT NOT NULL DEFAULT '',
      secret_hash TEXT NOT NULL,
      config JSONB NOT NULL DEFAULT '{}',
      config_revision INTEGER NOT NULL DEFAULT 1,
      registered_by TEXT,
      registered_at TIMESTAMPTZ NOT NULL DEFAULT now(),
      last_seen_at TIMESTAMPTZ,
      revoked_at TIMESTAMPTZ
    )`,
    // Offline changes already applied (an upload retried after a lost answer applies nothing twice).
    `CREATE TABLE sync_applied (
      device_id TEXT NOT NULL,
      change_id TEXT NOT NULL,
      outcome TEXT NOT NULL,
      applied_at TIMESTAMPTZ NOT NULL DEFAULT now(),
      PRIMARY KEY (device_id, change_id)
    )`,
    // A change that lost to a newer revision: kept whole for a person to look at, never dropped.
    `CREATE TABLE sync_conflicts (
      conflict_id TEXT PRIMARY KEY,
      device_id TEXT NOT NULL,
      entity TEXT NOT NULL,
      entity_id TEXT NOT NULL,
      base_revision INTEGER,
      server_revision INTEGER,
      payload JSONB NOT NULL,
      created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
      resolved_at TIMESTAMPTZ
    )`,
    "CREATE INDEX sync_conflicts_entity ON sync_conflicts (entity, entity_id)",
  ],
};
