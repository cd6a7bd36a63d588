import { mkdir, open, readFile, rename, rm } from "node:fs/promises";
import path from "node:path";
import type { SourceStore, StoredSource } from "../../ingest/source-manager.js";
import { parseSourceDeclaration } from "../../ingest/source-spec.js";

/**
 * REST-added pull sources as one JSON file (`<IFC_DATA_DIR>/sources.json`). Written through a
 * temporary file, fsynced and renamed, so a crash leaves the old list or the new one, never half.
 * The file holds camera passwords: it is created readable by the server's user only.
 */
export class SourceFileStore implements SourceStore {
  constructor(private readonly file: string) {}

  async load(): Promise<StoredSource[]> {
    let text: string;
    try {
      text = await readFile(this.file, "utf8");
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === "ENOENT") return [];
      throw err;
    }
    const doc = JSON.parse(text) as { sources?: unknown };
    if (!Array.isArray(doc.sources)) throw new Error(`${this.file}: expected {"sources": [...]}`);
    return doc.sources.map((raw: unknown, i) => {
      const o = raw as Partial<StoredSource>;
      if (typeof o.id !== "string" || typeof o.createdAt !== "number") throw new Error(`${this.file}: source ${i} lacks id or createdAt`);
      const decl = parseSourceDeclaration({ name: o.name, url: o.url, transport: o.transport, mode: o.mode }, `${this.file}: source ${i}: `);
      return { ...decl, id: o.id, createdAt: o.createdAt };
    });
  }

  async save(sources: readonly StoredSource[]): Promise<void> {
    await mkdir(path.dirname(this.file), { recursive: true });
    const tmp = `${this.file}.tmp`;
    const body = JSON.stringify({ sources: sources.map(({ id, name, url, transport, mode, createdAt }) => ({ id, name, url, transport, mode, createdAt })) }, null, 2);
    try {
      const fh = await open(tmp, "w", 0o600);
      try {
        await fh.writeFile(body);
        await fh.sync();
      } finally {
        await fh.close();
      }
      await rename(tmp, this.file);
    } catch (err) {
      await rm(tmp, { force: true });
      throw err;
    }
  }
}
