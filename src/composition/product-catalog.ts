import type { Config } from "../config.js";
import type { CloseStack } from "./close-stack.js";
import type { ModuleDeps, ModuleParts } from "./products.js";

/** Builds the product master (products, specs, inspection rules, quality standards): REST /api/v1/products…, import, QR lookup, search, batch get; gRPC ProductService. */
export function buildProductCatalog(config: Config, deps: ModuleDeps, stack: CloseStack): ModuleParts {
  // Until the module lands, its settings are read (and checked) here.
  const settings = { productQrFormat: config.productQrFormat, productQrCustomPattern: config.productQrCustomPattern, productsBatchMax: config.productsBatchMax, productsImportMaxBytes: config.productsImportMaxBytes, productsImportMaxRows: config.productsImportMaxRows };
  void settings;
  void deps;
  void stack;
  return { routes: [], grpc: [], metrics: [] };
}
