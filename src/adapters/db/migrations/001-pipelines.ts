import type { Migration } from "../migrate.js";

/** Pipelines (with every version kept), uploaded and produced files, executions and their steps. */
export const pipelinesMigration: Migration = {
  version: 1,
  name: "pipelines",
  statements: [
    `CREATE TABLE pipelines (
      pipeline_id TEXT PRIMARY KEY,
      name TEXT NOT NULL,
      description TEXT NOT NULL DEFAULT '',
      current_version TEXT NOT NULL,
      execution_mode TEXT NOT NULL,
      definition JSONB NOT NULL,
      revision INTEGER NOT NULL DEFAULT 1,
      created_by TEXT,
      created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
      updated_at TIMESTAMPTZ NOT NULL DEFAULT now(),
      deleted_at TIMESTAMPTZ
    )`,
    `CREATE TABLE pipeline_versions (
      pipeline_id TEXT NOT NULL REFERENCES pipelines(pipeline_id),
      version TEXT NOT NULL,
      definition JSONB NOT NULL,
      created_by TEXT,
      created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
      PRIMARY KEY (pipeline_id, version)
    )`,
    `CREATE TABLE files (
      file_id TEXT PRIMARY KEY,
      filename TEXT NOT NULL,
      content_type TEXT NOT NULL,
      size_bytes BIGINT NOT NULL,
      format TEXT,
      width INTEGER,
      height INTEGER,
      object_key TEXT NOT NULL,
      role TEXT NOT NULL DEFAULT 'upload',
      execution_id TEXT,
      created_by TEXT,
      created_at TIMESTAMPTZ NOT NULL DEFAULT now()
    )`,
    "CREATE INDEX files_execution_idx ON files (execution_id)",
    `CREATE TABLE executions (
      execution_id TEXT PRIMARY KEY,
      pipeline_id TEXT NOT NULL,
      pipeline_version TEXT NOT NULL,
      status TEXT NOT NULL,
      execution_mode TEXT NOT NULL,
      priority SMALLINT NOT NULL,
      parameters JSONB NOT NULL DEFAULT '{}'::jsonb,
      input_file_ids JSONB NOT NULL DEFAULT '[]'::jsonb,
      output_file_ids JSONB NOT NULL DEFAULT '[]'::jsonb,
      progress REAL NOT NULL DEFAULT 0,
      error JSONB,
      attempts INTEGER NOT NULL DEFAULT 0,
      node_id TEXT,
      submitted_by TEXT,
      created_at TIMESTAMPTZ NOT NULL DEFAULT now(),
      started_at TIMESTAMPTZ,
      finished_at TIMESTAMPTZ,
      processing_time_ms DOUBLE PRECISION
    )`,
    "CREATE INDEX executions_queue_idx ON executions (status, priority DESC, created_at)",
    "CREATE INDEX executions_pipeline_idx ON executions (pipeline_id, created_at DESC)",
    `CREATE TABLE execution_steps (
      execution_id TEXT NOT NULL REFERENCES executions(execution_id) ON DELETE CASCADE,
      input_index INTEGER NOT NULL,
      step_id TEXT NOT NULL,
      service TEXT NOT NULL,
      method TEXT NOT NULL,
      status TEXT NOT NULL,
      attempts INTEGER NOT NULL DEFAULT 0,
      instance TEXT,
      started_at TIMESTAMPTZ,
      finished_at TIMESTAMPTZ,
      duration_ms DOUBLE PRECISION,
      result JSONB,
      error JSONB,
      PRIMARY KEY (execution_id, input_index, step_id)
    )`,
  ],
};
