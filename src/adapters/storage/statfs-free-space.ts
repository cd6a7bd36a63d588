import { mkdir, statfs } from "node:fs/promises";
import path from "node:path";
import type { FreeSpaceProbe } from "../../ports/free-space.js";

/** Free space from statfs(2): blocks available to unprivileged users, as `df` shows them. */
export class StatfsFreeSpace implements FreeSpaceProbe {
  readonly path: string;

  constructor(dir: string) {
    this.path = path.resolve(dir);
  }

  async freeBytes(): Promise<number> {
    // The directory may not exist yet (a spool made on first outage): measure where it will be.
    await mkdir(this.path, { recursive: true });
    const s = await statfs(this.path);
    return s.bavail * s.bsize;
  }
}
