import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { MemoryCache } from "../../../src/adapters/cache/memory-cache.js";
import { CloseStack } from "../../../src/composition/close-stack.js";
import { buildProductCatalog } from "../../../src/composition/product-catalog.js";
import type { ModuleDeps } from "../../../src/composition/products.js";
import { ConfigError, loadConfig } from "../../../src/config.js";
import { CachePolicy } from "../../../src/products/cache-policy.js";

const log = pino({ level: "silent" });
const deps = {
  db: () => Promise.reject(new Error("not opened at build time")),
  cache: new CachePolicy(new MemoryCache({ maxEntries: 10 }), { hit: () => undefined, miss: () => undefined, error: () => undefined }, log),
  log,
} as unknown as ModuleDeps;

function build(over: Record<string, string>) {
  return () => buildProductCatalog(loadConfig({}, over as never), deps, new CloseStack());
}

describe("product catalog composition", () => {
  it("stops the start on a QR pattern that cannot work, naming the key", () => {
    for (const over of [{ productQrFormat: "custom", productQrCustomPattern: "" }, { productQrFormat: "auto", productQrCustomPattern: "(unclosed" }, { productQrFormat: "custom", productQrCustomPattern: "^(?<wo>\\w+)$" }]) {
      expect(build(over), JSON.stringify(over)).toThrow(ConfigError);
      expect(build(over)).toThrow(/IFC_PRODUCT_QR_/);
    }
  });

  it("builds the routes and the gRPC service without opening the database", async () => {
    const parts = build({ productQrFormat: "custom", productQrCustomPattern: "^P(?<work_order_id>\\w+)$" })();
    expect(parts.routes).toHaveLength(1);
    // The service is made when the gRPC server starts (its modules load only then).
    const services = await Promise.all(parts.grpc.map((load) => load()));
    expect(services.map((g) => Object.keys(g.definition))).toEqual([["getProductByQr", "searchProducts", "getProduct", "batchGetProducts", "upsertProduct"]]);
  });
});
