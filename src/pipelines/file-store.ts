import { NotFound } from "../core/errors.js";
import type { Database } from "../ports/database.js";

export interface FileRecord {
  file_id: string;
  filename: string;
  content_type: string;
  size_bytes: number;
  /** Image metadata when the file is an image sharp could read. */
  format: string | null;
  width: number | null;
  height: number | null;
  object_key: string;
  role: "upload" | "output";
  execution_id: string | null;
  created_by: string | null;
  created_at: string;
}

/** File metadata; the bytes are in the object store under `object_key`. */
export class FileStore {
  constructor(private readonly db: Database) {}

  async insert(f: Omit<FileRecord, "created_at">): Promise<FileRecord> {
    const r = await this.db.query<FileRecord & { created_at: Date }>(
      `INSERT INTO files (file_id, filename, content_type, size_bytes, format, width, height, object_key, role, execution_id, created_by)
       VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11) RETURNING *`,
      [f.file_id, f.filename, f.content_type, f.size_bytes, f.format, f.width, f.height, f.object_key, f.role, f.execution_id, f.created_by],
    );
    const row = r.rows[0]!;
    return { ...row, created_at: row.created_at.toISOString() };
  }

  async get(id: string): Promise<FileRecord> {
    const r = await this.db.query<FileRecord & { created_at: Date }>("SELECT * FROM files WHERE file_id = $1", [id]);
    const row = r.rows[0];
    if (!row) throw new NotFound("file-not-found", `no file ${id}`, { file_id: id });
    return { ...row, created_at: row.created_at.toISOString() };
  }

  async many(ids: readonly string[]): Promise<FileRecord[]> {
    if (ids.length === 0) return [];
    const r = await this.db.query<FileRecord & { created_at: Date }>("SELECT * FROM files WHERE file_id = ANY($1::text[])", [[...ids]]);
    const byId = new Map(r.rows.map((row) => [row.file_id, { ...row, created_at: row.created_at.toISOString() }]));
    return ids.flatMap((id) => byId.get(id) ?? []);
  }

  async delete(id: string): Promise<void> {
    await this.db.query("DELETE FROM files WHERE file_id = $1", [id]);
  }
}
