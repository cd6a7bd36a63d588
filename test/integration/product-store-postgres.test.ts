import { PgDatabase } from "../../src/adapters/db/pg-database.js";
import { productStoreContract } from "../contract/product-store.contract.js";
import { sharedPostgresDatabase } from "../support/postgres-server.js";

productStoreContract("PostgreSQL (Debian's server)", async () => {
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
