import { readFile, writeFile } from "node:fs/promises";
import { PgliteDatabase } from "../../src/adapters/db/pglite-database.js";

let template: Promise<Blob> | undefined;

/**
 * A pristine PGlite data directory (no migrations), made once per test run by the global setup
 * (IFC_TEST_PGLITE_TEMPLATE, a file) or once per worker: PGlite's initdb takes seconds under
 * load, loading this dump a fraction of that.
 */
export function pgliteTemplate(): Promise<Blob> {
  template ??= (async () => {
    const file = process.env.IFC_TEST_PGLITE_TEMPLATE;
    if (file) return new Blob([await readFile(file)]);
    const db = await PgliteDatabase.open();
    try {
      return await db.dump();
    } finally {
      await db.close();
    }
  })();
  return template;
}

/** A fresh PGlite database, in memory or in `dataDir`, started from the run's template. */
export async function openTestPglite(dataDir?: string): Promise<PgliteDatabase> {
  return PgliteDatabase.open({ ...(dataDir ? { dataDir } : {}), initialData: await pgliteTemplate() });
}

/** For the global setup: writes the template to `file` and points the workers at it. */
export async function writePgliteTemplate(file: string): Promise<void> {
  const blob = await pgliteTemplate();
  await writeFile(file, Buffer.from(await blob.arrayBuffer()));
  process.env.IFC_TEST_PGLITE_TEMPLATE = file;
}
