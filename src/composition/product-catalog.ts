import { ConfigError, type Config } from "../config.js";
import { productRoutes } from "../control/product-routes.js";
import { ProductService } from "../products/product-service.js";
import { ProductStore } from "../products/product-store.js";
import { qrDecoder, QrFormatConfigError, type QrDecoder } from "../products/qr-formats.js";
import type { CloseStack } from "./close-stack.js";
import type { ModuleDeps, ModuleParts } from "./products.js";

/** IFC_PRODUCT_QR_FORMAT / IFC_PRODUCT_QR_CUSTOM_PATTERN: a pattern that cannot work stops the start, naming its key. */
function decoderOf(config: Config): QrDecoder {
  try {
    return qrDecoder(config.productQrFormat, config.productQrCustomPattern);
  } catch (err) {
    if (err instanceof QrFormatConfigError) throw new ConfigError(err.message);
    throw err;
  }
}

/** Builds the product master (products, specs, inspection rules, quality standards): REST /api/v1/products…, import, QR lookup, search, batch get; gRPC ProductService. */
export function buildProductCatalog(config: Config, deps: ModuleDeps, _stack: CloseStack): ModuleParts {
  // The store opens the shared metadata database at its first query (deps.db is lazy).
  const service = new ProductService(new ProductStore(deps.db), deps.cache, decoderOf(config), { batchMax: config.productsBatchMax });
  return {
    routes: [(app) => productRoutes(app, { service, importMaxBytes: config.productsImportMaxBytes, importMaxRows: config.productsImportMaxRows })],
    grpc: [async () => (await import("../control/grpc/product-service.js")).productGrpcService(service)],
    metrics: [],
  };
}
