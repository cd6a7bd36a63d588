import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { describe, expect, it } from "vitest";
import { PgDatabase } from "../../src/adapters/db/pg-database.js";
import { PgliteDatabase } from "../../src/adapters/db/pglite-database.js";
import { DatabaseUnavailableError } from "../../src/ports/database.js";
import { databaseContract } from "../contract/database.contract.js";
import { freePort } from "../support/free-port.js";
import { openTestPglite } from "../support/pglite.js";
import { sharedPostgresDatabase } from "../support/postgres-server.js";

databaseContract("PGlite (embedded, on disk)", async () => {
  const dir = await mkdtemp(path.join(tmpdir(), "ifc-pglite-"));
  let db = await openTestPglite(dir);
  return {
    db,
    reopen: async () => {
      await db.close();
      db = await PgliteDatabase.open({ dataDir: dir });
      return db;
    },
    cleanup: async () => {
      await db.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
});

databaseContract("PostgreSQL (Debian's server)", async () => {
  const shared = await sharedPostgresDatabase();
  let db = new PgDatabase({ url: shared.url });
  const peer = new PgDatabase({ url: shared.url });
  return {
    db,
    peer,
    reopen: async () => {
      await db.close();
      db = new PgDatabase({ url: shared.url });
      return db;
    },
    cleanup: async () => {
      await Promise.all([db.close(), peer.close()]);
      await shared.drop();
    },
  };
});

describe("PostgreSQL unreachable", () => {
  it("fails a query with DatabaseUnavailableError within the connect timeout", async () => {
    const port = await freePort();
    const db = new PgDatabase({ url: `postgres://ifc@127.0.0.1:${port}/none`, connectTimeoutMs: 1000 });
    try {
      await expect(db.query("SELECT 1")).rejects.toBeInstanceOf(DatabaseUnavailableError);
      await expect(db.transaction(async () => 1)).rejects.toBeInstanceOf(DatabaseUnavailableError);
      await expect(db.ping()).rejects.toBeInstanceOf(DatabaseUnavailableError);
    } finally {
      await db.close();
    }
  });
});
