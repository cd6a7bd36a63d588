import { randomBytes } from "node:crypto";
import { copyFile, mkdir, open, type FileHandle, readFile, readdir, rename, rm, rmdir, stat, unlink } from "node:fs/promises";
import path from "node:path";
import type { Readable } from "node:stream";
import { assertValidKey, ObjectNotFoundError, type ObjectInfo, type ObjectStore } from "../../ports/object-store.js";

/** Staging area inside the root; its leading ".ifc-" can never be part of a valid key. */
const TMP_DIR = ".ifc-tmp";

/**
 * The embedded object store: plain files under a root directory. Each write goes to a
 * temporary file in the same file system, is fsynced, then renamed into place, so a reader
 * or a listing sees either nothing or the whole object — even after a crash. A write that fails
 * (ENOSPC) leaves the previous object under its key as it was, and no partial file behind.
 */
/** The one file-system call a write makes that can fail for lack of space; tests inject a failing one. */
export type OpenForWrite = (file: string, flags: "w") => Promise<Pick<FileHandle, "writeFile" | "sync" | "close">>;

export class FsObjectStore implements ObjectStore {
  private readonly root: string;
  private readonly tmp: string;

  constructor(root: string, private readonly openForWrite: OpenForWrite = open) {
    this.root = path.resolve(root);
    this.tmp = path.join(this.root, TMP_DIR);
  }

  async init(): Promise<void> {
    await mkdir(this.tmp, { recursive: true });
    // Left-overs of writes interrupted by a crash: never visible, safe to remove.
    for (const name of await readdir(this.tmp)) await rm(path.join(this.tmp, name), { force: true });
  }

  private pathOf(key: string): string {
    assertValidKey(key);
    return path.join(this.root, ...key.split("/"));
  }

  async put(key: string, data: Uint8Array): Promise<void> {
    const target = this.pathOf(key);
    const tmpFile = path.join(this.tmp, `${randomBytes(8).toString("hex")}.part`);
    try {
      const fh = await this.openForWrite(tmpFile, "w");
      try {
        await fh.writeFile(data);
        await fh.sync();
      } finally {
        await fh.close();
      }
    } catch (err) {
      // ENOSPC (or any failure) mid-write: the object under `key` is still the previous one, and
      // the partial copy goes now rather than holding the space until the next start.
      await rm(tmpFile, { force: true });
      throw err;
    }
    try {
      await mkdir(path.dirname(target), { recursive: true });
      await rename(tmpFile, target);
    } catch (err) {
      await rm(tmpFile, { force: true });
      throw err;
    }
  }

  async get(key: string): Promise<Buffer> {
    try {
      return await readFile(this.pathOf(key));
    } catch (err) {
      throw mapNotFound(err, key);
    }
  }

  async getStream(key: string): Promise<Readable> {
    const file = this.pathOf(key);
    // Open first so a missing object fails here, not later inside the stream.
    const fh = await open(file, "r").catch((err: unknown) => {
      throw mapNotFound(err, key);
    });
    return fh.createReadStream();
  }

  async stat(key: string): Promise<ObjectInfo | undefined> {
    try {
      const s = await stat(this.pathOf(key));
      return s.isFile() ? { key, size: s.size, modifiedMs: s.mtimeMs } : undefined;
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async list(prefix: string): Promise<ObjectInfo[]> {
    // Walk only the deepest directory the prefix names, not the whole store.
    const slash = prefix.lastIndexOf("/");
    const dirKey = slash >= 0 ? prefix.slice(0, slash) : "";
    if (dirKey) assertValidKey(dirKey);
    const out: ObjectInfo[] = [];
    await this.walk(dirKey, prefix, out);
    out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return out;
  }

  private async walk(dirKey: string, prefix: string, out: ObjectInfo[]): Promise<void> {
    const dir = dirKey ? path.join(this.root, ...dirKey.split("/")) : this.root;
    let entries;
    try {
      entries = await readdir(dir, { withFileTypes: true });
    } catch (err) {
      if (isNotFound(err)) return;
      throw err;
    }
    for (const e of entries) {
      if (e.name.startsWith(".ifc-")) continue;
      const key = dirKey ? `${dirKey}/${e.name}` : e.name;
      if (e.isDirectory()) {
        if (key.startsWith(prefix) || prefix.startsWith(`${key}/`)) await this.walk(key, prefix, out);
      } else if (e.isFile() && key.startsWith(prefix)) {
        try {
          const s = await stat(path.join(dir, e.name));
          out.push({ key, size: s.size, modifiedMs: s.mtimeMs });
        } catch (err) {
          if (!isNotFound(err)) throw err; // deleted while listing: simply not listed
        }
      }
    }
  }

  async delete(key: string): Promise<void> {
    const file = this.pathOf(key);
    try {
      await unlink(file);
    } catch (err) {
      if (!isNotFound(err)) throw err;
      return;
    }
    await this.pruneEmptyDirs(path.dirname(file));
  }

  /** Removes directories emptied by deletes, up to the root, so listings stay cheap. */
  private async pruneEmptyDirs(dir: string): Promise<void> {
    while (dir.startsWith(this.root + path.sep)) {
      try {
        await rmdir(dir);
      } catch {
        return; // not empty (or already gone)
      }
      dir = path.dirname(dir);
    }
  }

  async copy(fromKey: string, toKey: string): Promise<void> {
    const from = this.pathOf(fromKey);
    const to = this.pathOf(toKey);
    const tmpFile = path.join(this.tmp, `${randomBytes(8).toString("hex")}.part`);
    try {
      await copyFile(from, tmpFile);
    } catch (err) {
      await rm(tmpFile, { force: true });
      throw mapNotFound(err, fromKey);
    }
    try {
      await mkdir(path.dirname(to), { recursive: true });
      await rename(tmpFile, to);
    } catch (err) {
      await rm(tmpFile, { force: true });
      throw err;
    }
  }

  async checkWritable(): Promise<void> {
    const probe = path.join(this.tmp, `ready-${randomBytes(4).toString("hex")}`);
    await mkdir(this.tmp, { recursive: true });
    const fh = await open(probe, "w");
    await fh.close();
    await unlink(probe);
  }
}

function isNotFound(err: unknown): boolean {
  return typeof err === "object" && err !== null && (err as NodeJS.ErrnoException).code === "ENOENT";
}

function mapNotFound(err: unknown, key: string): unknown {
  return isNotFound(err) ? new ObjectNotFoundError(key) : err;
}
