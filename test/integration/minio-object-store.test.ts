import { randomBytes } from "node:crypto";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MinioObjectStore } from "../../src/adapters/storage/minio-object-store.js";
import { objectStoreContract } from "../contract/object-store-contract.js";
import { startMinio, type MinioServer } from "../support/minio-server.js";

let minio: MinioServer;
beforeAll(async () => {
  minio = await startMinio();
});
afterAll(async () => {
  await minio?.stop();
});

function storeFor(bucket: string): MinioObjectStore {
  return new MinioObjectStore({ url: minio.url, accessKey: minio.accessKey, secretKey: minio.secretKey, bucket, region: "us-east-1", pathStyle: true });
}

objectStoreContract("minio", async () => {
  // a fresh bucket per test: the contract expects an empty store
  const store = storeFor(`ifc-contract-${randomBytes(4).toString("hex")}`);
  await store.init();
  return {
    store,
    cleanup: async () => {
      for (const o of await store.list("")) await store.delete(o.key);
    },
  };
});

describe("MinioObjectStore specifics", () => {
  it("creates its bucket when missing and is idempotent about it", async () => {
    const store = storeFor(`ifc-init-${randomBytes(4).toString("hex")}`);
    await store.init();
    await store.init();
    await store.put("a/b", Buffer.from("x"));
    expect((await store.list("a/")).map((o) => o.key)).toEqual(["a/b"]);
  });

  it("fails readiness with the server's reason when credentials are wrong", async () => {
    const bad = new MinioObjectStore({ url: minio.url, accessKey: "nobody", secretKey: "wrong-secret-key", bucket: "ifc-x", region: "us-east-1", pathStyle: true });
    await expect(bad.checkWritable()).rejects.toThrow(/Access Key|InvalidAccessKeyId|does not exist/i);
  });
});
