import type { Migration } from "../migrate.js";
import { pipelinesMigration } from "./001-pipelines.js";
import { productsInspectionMigration } from "./002-products-inspection.js";

/** Every migration of the metadata database, in version order; both engines run the same list. */
export const ALL_MIGRATIONS: readonly Migration[] = [pipelinesMigration, productsInspectionMigration];
