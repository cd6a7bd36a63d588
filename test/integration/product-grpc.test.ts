import { readFile } from "node:fs/promises";
import path from "node:path";
import { credentials, status } from "@grpc/grpc-js";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { TokenResponse } from "../../src/generated/imageflow/v1/ingest_control.js";
import { AuthServiceClient } from "../../src/generated/imageflow/v1/ingest_control.js";
import { ProductServiceClient, SearchProductsRequest, UpsertProductRequest, type BatchGetProductsResponse, type ProductInfo, type ProductLookup, type SearchProductsResponse } from "../../src/generated/imageflow/v1/product.js";
import { grpcError, unary } from "../support/grpc-client.js";
import { startTestServer, type TestServer } from "../support/server-harness.js";

/** ProductService on the real server's gRPC control port, with a real grpc-js client and the real authenticator. */
let ts: TestServer;
let products: ProductServiceClient;
let auth: AuthServiceClient;
let admin: string;
let viewer: string;

const product = (over: Partial<ProductInfo> = {}): ProductInfo => ({
  productId: "G-1", workOrderId: "WG1", instructionId: "I1", productType: "TG", productionDate: "2026-04-01", monthlySequence: 3, status: "", revision: 0, createdAt: "", updatedAt: "", specifications: { w: "1" }, ...over,
});

beforeAll(async () => {
  ts = await startTestServer({ grpcEnabled: true, authAnonymousNetworks: [], productsBatchMax: 2 });
  const port = ts.server.grpc!.port;
  products = new ProductServiceClient(`127.0.0.1:${port}`, credentials.createInsecure());
  auth = new AuthServiceClient(`127.0.0.1:${port}`, credentials.createInsecure());
  const password = (await readFile(path.join(ts.dataDir, "initial-admin-password"), "utf8")).trim();
  admin = (await unary<TokenResponse>(auth, "authenticate", { username: "admin", password })).accessToken;
  await ts.server.auth.userStore.add("vera", "viewer", "vera-password-1");
  viewer = (await unary<TokenResponse>(auth, "authenticate", { username: "vera", password: "vera-password-1" })).accessToken;
});

afterAll(async () => {
  products?.close();
  auth?.close();
  await ts?.stop();
});

describe("gRPC ProductService", () => {
  it("upserts (admin), gets, looks up by QR, searches and batch-gets (viewer), with the REST errors as gRPC codes", async () => {
    const created = await unary<ProductInfo>(products, "upsertProduct", UpsertProductRequest.fromPartial({ product: product() }), admin);
    expect(created).toMatchObject({ productId: "G-1", revision: 1, status: "active", monthlySequence: 3, specifications: { w: "1" } });
    expect(created.model).toBeUndefined();
    expect((await grpcError(unary(products, "upsertProduct", UpsertProductRequest.fromPartial({ product: product() }), viewer))).code).toBe(status.PERMISSION_DENIED);
    expect((await grpcError(unary(products, "getProduct", { productId: "G-1" }))).code).toBe(status.UNAUTHENTICATED);

    expect(await unary<ProductInfo>(products, "getProduct", { productId: "G-1" }, viewer)).toMatchObject({ workOrderId: "WG1", productionDate: "2026-04-01" });
    expect((await grpcError(unary(products, "getProduct", { productId: "nope" }, viewer))).code).toBe(status.NOT_FOUND);

    const lookup = await unary<ProductLookup>(products, "getProductByQr", { payload: "IFC1;wo=WG1;inst=I1;seq=3" }, viewer);
    expect(lookup.product?.productId).toBe("G-1");
    expect(lookup.inspectionRules).toEqual([]);
    expect((await grpcError(unary(products, "getProductByQr", { payload: "garbage" }, viewer))).code).toBe(status.INVALID_ARGUMENT);
    expect((await grpcError(unary(products, "getProductByQr", { payload: "IFC1;wo=NONE" }, viewer))).code).toBe(status.NOT_FOUND);

    await unary(products, "upsertProduct", UpsertProductRequest.fromPartial({ product: product({ productId: "G-2", workOrderId: "WG2", productionDate: "2026-04-02" }) }), admin);
    const page = await unary<SearchProductsResponse>(products, "searchProducts", SearchProductsRequest.fromPartial({ productType: "TG", limit: 1 }), viewer);
    expect(page.total).toBe(2);
    expect(page.items.map((h) => h.product?.productId)).toEqual(["G-1"]);
    expect(page.items[0]!.qualityScore).toBeUndefined();
    const next = await unary<SearchProductsResponse>(products, "searchProducts", SearchProductsRequest.fromPartial({ productType: "TG", limit: 1, cursor: page.nextCursor }), viewer);
    expect(next.items.map((h) => h.product?.productId)).toEqual(["G-2"]);
    expect(next.nextCursor).toBe("");
    expect((await grpcError(unary(products, "searchProducts", SearchProductsRequest.fromPartial({ cursor: "bad" }), viewer))).code).toBe(status.INVALID_ARGUMENT);
    expect((await grpcError(unary(products, "searchProducts", SearchProductsRequest.fromPartial({ limit: 501 }), viewer))).code).toBe(status.INVALID_ARGUMENT);

    const batch = await unary<BatchGetProductsResponse>(products, "batchGetProducts", { productIds: ["G-2", "G-404"] }, viewer);
    expect(batch.products.map((p) => p.productId)).toEqual(["G-2"]);
    expect(batch.missing).toEqual(["G-404"]);
    expect((await grpcError(unary(products, "batchGetProducts", { productIds: ["a", "b", "c"] }, viewer))).code).toBe(status.INVALID_ARGUMENT);
  });

  it("refuses a bad product with INVALID_ARGUMENT and a stale expected_revision with ABORTED", async () => {
    expect((await grpcError(unary(products, "upsertProduct", UpsertProductRequest.fromPartial({ product: product({ productId: "G-3", productionDate: "2026-02-30" }) }), admin))).code).toBe(status.INVALID_ARGUMENT);
    expect((await grpcError(unary(products, "upsertProduct", UpsertProductRequest.fromPartial({}), admin))).code).toBe(status.INVALID_ARGUMENT);
    await unary(products, "upsertProduct", UpsertProductRequest.fromPartial({ product: product({ productId: "G-3" }) }), admin);
    const err = await grpcError(unary(products, "upsertProduct", UpsertProductRequest.fromPartial({ product: product({ productId: "G-3", model: "X" }), expectedRevision: 7 }), admin));
    expect(err.code).toBe(status.ABORTED);
    expect(err.metadata.get("problem-type")).toEqual(["urn:imageflowcanvas:problem:revision-conflict"]);
    const ok = await unary<ProductInfo>(products, "upsertProduct", UpsertProductRequest.fromPartial({ product: product({ productId: "G-3", model: "X", instructionId: undefined }), expectedRevision: 1 }), admin);
    expect(ok).toMatchObject({ revision: 2, model: "X" });
    expect(ok.instructionId).toBeUndefined();
  });
});
