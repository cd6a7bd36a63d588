import { Conflict, NotFound } from "../core/errors.js";
import { UniqueViolationError, type Database, type Queryable } from "../ports/database.js";

/** What the store needs of a definition; the full shape is validated before it gets here. */
export interface StoredDefinition {
  pipeline_id: string;
  name: string;
  version: string;
  description?: string;
  execution_mode: string;
}

export interface PipelineRecord<D extends StoredDefinition = StoredDefinition> {
  definition: D;
  /** How many versions were saved, the first included. */
  revision: number;
  created_by: string | null;
  created_at: string;
  updated_at: string;
}

export interface PipelineVersionRecord<D extends StoredDefinition = StoredDefinition> {
  version: string;
  definition: D;
  created_by: string | null;
  created_at: string;
}

export interface PipelinePage<D extends StoredDefinition> {
  items: PipelineRecord<D>[];
  next_cursor: string | null;
  total: number;
}

interface PipelineRow {
  definition: unknown;
  revision: number;
  created_by: string | null;
  created_at: Date;
  updated_at: Date;
}

/**
 * Pipeline definitions with every version kept: a version, once saved, never changes (an
 * execution records the version it ran, and must be able to read that definition later).
 * Deleting hides a pipeline from lists and new executions; its versions stay for history.
 */
export class PipelineStore<D extends StoredDefinition = StoredDefinition> {
  constructor(private readonly db: Database) {}

  async create(def: D, by: string | null): Promise<PipelineRecord<D>> {
    return this.db.transaction(async (tx) => {
      const existing = await tx.query<{ deleted_at: Date | null }>("SELECT deleted_at FROM pipelines WHERE pipeline_id = $1 FOR UPDATE", [def.pipeline_id]);
      if (existing.rows[0] && existing.rows[0].deleted_at === null) {
        throw new Conflict("pipeline-exists", `pipeline ${def.pipeline_id} already exists; PUT /api/v1/pipelines/${def.pipeline_id} saves a new version`, { pipeline_id: def.pipeline_id });
      }
      if (existing.rows[0]) {
        // Re-created after a delete: its old versions remain, so the new one must not reuse a version string.
        await this.insertVersion(tx, def, by);
        await tx.query(
          `UPDATE pipelines SET name = $2, description = $3, current_version = $4, execution_mode = $5, definition = $6, revision = revision + 1,
             created_by = $7, created_at = now(), updated_at = now(), deleted_at = NULL WHERE pipeline_id = $1`,
          [def.pipeline_id, def.name, def.description ?? "", def.version, def.execution_mode, JSON.stringify(def), by],
        );
      } else {
        await tx.query(
          `INSERT INTO pipelines (pipeline_id, name, description, current_version, execution_mode, definition, created_by) VALUES ($1, $2, $3, $4, $5, $6, $7)`,
          [def.pipeline_id, def.name, def.description ?? "", def.version, def.execution_mode, JSON.stringify(def), by],
        );
        await this.insertVersion(tx, def, by);
      }
      return this.read(tx, def.pipeline_id);
    });
  }

  /**
   * Saves `def` as the pipeline's new current version. Saving the very same definition again is
   * a no-op (a retried PUT); a different definition under a version already saved is a conflict.
   */
  async update(def: D, by: string | null): Promise<PipelineRecord<D>> {
    return this.db.transaction(async (tx) => {
      const existing = await tx.query("SELECT 1 FROM pipelines WHERE pipeline_id = $1 AND deleted_at IS NULL FOR UPDATE", [def.pipeline_id]);
      if (existing.rowCount === 0) throw new NotFound("pipeline-not-found", `no pipeline ${def.pipeline_id}`, { pipeline_id: def.pipeline_id });
      const same = await tx.query<{ definition: unknown }>("SELECT definition FROM pipeline_versions WHERE pipeline_id = $1 AND version = $2", [def.pipeline_id, def.version]);
      if (same.rows[0]) {
        if (JSON.stringify(canonical(same.rows[0].definition)) === JSON.stringify(canonical(def))) return this.read(tx, def.pipeline_id);
        throw new Conflict("pipeline-version-exists", `version ${def.version} of pipeline ${def.pipeline_id} is already saved with another definition; give the change a new version`, {
          pipeline_id: def.pipeline_id,
          version: def.version,
        });
      }
      await this.insertVersion(tx, def, by);
      await tx.query(
        `UPDATE pipelines SET name = $2, description = $3, current_version = $4, execution_mode = $5, definition = $6, revision = revision + 1, updated_at = now() WHERE pipeline_id = $1`,
        [def.pipeline_id, def.name, def.description ?? "", def.version, def.execution_mode, JSON.stringify(def)],
      );
      return this.read(tx, def.pipeline_id);
    });
  }

  /** The current definition, or a given version (deleted pipelines' versions stay readable). */
  async get(id: string, version?: string): Promise<D> {
    if (version !== undefined) {
      const r = await this.db.query<{ definition: unknown }>("SELECT definition FROM pipeline_versions WHERE pipeline_id = $1 AND version = $2", [id, version]);
      if (!r.rows[0]) throw new NotFound("pipeline-version-not-found", `pipeline ${id} has no version ${version}`, { pipeline_id: id, version });
      return r.rows[0].definition as D;
    }
    return (await this.read(this.db, id)).definition;
  }

  async record(id: string): Promise<PipelineRecord<D>> {
    return this.read(this.db, id);
  }

  async versions(id: string): Promise<PipelineVersionRecord<D>[]> {
    await this.read(this.db, id);
    const r = await this.db.query<{ version: string; definition: unknown; created_by: string | null; created_at: Date }>(
      "SELECT version, definition, created_by, created_at FROM pipeline_versions WHERE pipeline_id = $1 ORDER BY created_at, version",
      [id],
    );
    return r.rows.map((v) => ({ version: v.version, definition: v.definition as D, created_by: v.created_by, created_at: v.created_at.toISOString() }));
  }

  /** Pipelines by id, `limit` at a time after the opaque `cursor` (the last id of the previous page). */
  async list(opts: { limit: number; cursor?: string }): Promise<PipelinePage<D>> {
    const after = opts.cursor ? decodeCursor(opts.cursor) : "";
    const r = await this.db.query<PipelineRow & { pipeline_id: string }>(
      `SELECT pipeline_id, definition, revision, created_by, created_at, updated_at FROM pipelines
        WHERE deleted_at IS NULL AND pipeline_id > $1 ORDER BY pipeline_id LIMIT $2`,
      [after, opts.limit + 1],
    );
    const total = (await this.db.query<{ n: number }>("SELECT count(*) AS n FROM pipelines WHERE deleted_at IS NULL")).rows[0]?.n ?? 0;
    const page = r.rows.slice(0, opts.limit);
    return {
      items: page.map(toRecord<D>),
      next_cursor: r.rows.length > opts.limit ? encodeCursor(page[page.length - 1]!.pipeline_id) : null,
      total,
    };
  }

  async delete(id: string): Promise<void> {
    const r = await this.db.query("UPDATE pipelines SET deleted_at = now() WHERE pipeline_id = $1 AND deleted_at IS NULL", [id]);
    if (r.rowCount === 0) throw new NotFound("pipeline-not-found", `no pipeline ${id}`, { pipeline_id: id });
  }

  private async insertVersion(tx: Queryable, def: D, by: string | null): Promise<void> {
    try {
      await tx.query("INSERT INTO pipeline_versions (pipeline_id, version, definition, created_by) VALUES ($1, $2, $3, $4)", [def.pipeline_id, def.version, JSON.stringify(def), by]);
    } catch (err) {
      if (err instanceof UniqueViolationError) {
        throw new Conflict("pipeline-version-exists", `version ${def.version} of pipeline ${def.pipeline_id} is already saved; give the change a new version`, {
          pipeline_id: def.pipeline_id,
          version: def.version,
        });
      }
      throw err;
    }
  }

  private async read(q: Queryable, id: string): Promise<PipelineRecord<D>> {
    const r = await q.query<PipelineRow>("SELECT definition, revision, created_by, created_at, updated_at FROM pipelines WHERE pipeline_id = $1 AND deleted_at IS NULL", [id]);
    if (!r.rows[0]) throw new NotFound("pipeline-not-found", `no pipeline ${id}`, { pipeline_id: id });
    return toRecord<D>(r.rows[0]);
  }
}

function toRecord<D>(row: PipelineRow): PipelineRecord<D & StoredDefinition> {
  return {
    definition: row.definition as D & StoredDefinition,
    revision: row.revision,
    created_by: row.created_by,
    created_at: row.created_at.toISOString(),
    updated_at: row.updated_at.toISOString(),
  };
}

/** JSONB reorders object keys: compare definitions with keys sorted. */
function canonical(v: unknown): unknown {
  if (Array.isArray(v)) return v.map(canonical);
  if (v && typeof v === "object") return Object.fromEntries(Object.keys(v).sort().map((k) => [k, canonical((v as Record<string, unknown>)[k])]));
  return v;
}

function encodeCursor(id: string): string {
  return Buffer.from(id, "utf8").toString("base64url");
}

function decodeCursor(cursor: string): string {
  return Buffer.from(cursor, "base64url").toString("utf8");
}
