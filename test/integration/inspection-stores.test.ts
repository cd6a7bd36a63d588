import { PgDatabase } from "../../src/adapters/db/pg-database.js";
import { inspectionStoresContract } from "../contract/inspection-stores.contract.js";
import { openTestPglite } from "../support/pglite.js";
import { sharedPostgresDatabase } from "../support/postgres-server.js";

inspectionStoresContract("PGlite", async () => {
  const db = await openTestPglite();
  return { db, cleanup: () => db.close() };
});

inspectionStoresContract("PostgreSQL", async () => {
  const shared = await sharedPostgresDatabase();
  const db = new PgDatabase({ url: shared.url });
  return {
    db,
    cleanup: async () => {
      await db.close();
      await shared.drop();
    },
  };
});
