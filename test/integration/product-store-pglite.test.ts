import { productStoreContract } from "../contract/product-store.contract.js";
import { openTestPglite } from "../support/pglite.js";

productStoreContract("PGlite (embedded)", async () => {
  const db = await openTestPglite();
  return { db, cleanup: () => db.close() };
});
