import { readdir } from "node:fs/promises";
import path from "node:path";

/**
 * Part objects (`.m4s`) of a stream's recordings in an fs store, as sorted keys. The fs store
 * renames a complete file into place, so each one listed is a complete part.
 */
export async function storedParts(dataDir: string, stream: string): Promise<string[]> {
  const out: string[] = [];
  let recs: string[];
  try {
    recs = await readdir(path.join(dataDir, stream));
  } catch {
    return out;
  }
  for (const rec of recs) {
    for (const f of await readdir(path.join(dataDir, stream, rec)).catch(() => [] as string[])) if (f.endsWith(".m4s")) out.push(`${stream}/${rec}/${f}`);
  }
  return out.sort();
}
