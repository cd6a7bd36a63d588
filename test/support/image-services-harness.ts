import { credentials, Metadata, type Client } from "@grpc/grpc-js";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { FsObjectStore } from "../../src/adapters/storage/fs-object-store.js";
import { AIDetectionServiceClient } from "../../src/generated/imageflow/v1/ai_detection.js";
import type { ImageData } from "../../src/generated/imageflow/v1/common.js";
import { FilterServiceClient } from "../../src/generated/imageflow/v1/filter.js";
import { ResizeServiceClient } from "../../src/generated/imageflow/v1/resize.js";
import type { ObjectStore } from "../../src/ports/object-store.js";
import { ImageServices, OUTPUT_KEY_METADATA, type ImageServicesOptions } from "../../src/worker/services/image-services.js";

/** ImageServices on 127.0.0.1:0 over an fs object store in a temp dir, with a client per service. */
export interface ImageServicesHarness {
  services: ImageServices;
  store: FsObjectStore;
  resize: InstanceType<typeof ResizeServiceClient>;
  detection: InstanceType<typeof AIDetectionServiceClient>;
  filter: InstanceType<typeof FilterServiceClient>;
  /** Stores `data` under `key` and returns its reference (bucket left empty, as a caller may). */
  put(key: string, data: Buffer, contentType?: string): Promise<ImageData>;
  close(): Promise<void>;
}

/** `wrapStore` puts something between the services and the fs store (a test's gate). */
export async function startImageServices(opts: Omit<ImageServicesOptions, "store"> & { wrapStore?: (s: ObjectStore) => ObjectStore } = {}): Promise<ImageServicesHarness> {
  const dir = await mkdtemp(path.join(tmpdir(), "ifc-imgsvc-"));
  const store = new FsObjectStore(dir);
  await store.init();
  const { wrapStore, ...rest } = opts;
  const services = new ImageServices({ store: wrapStore ? wrapStore(store) : store, ...rest });
  await services.listen("127.0.0.1:0");
  const creds = credentials.createInsecure();
  const resize = new ResizeServiceClient(services.address, creds);
  const detection = new AIDetectionServiceClient(services.address, creds);
  const filter = new FilterServiceClient(services.address, creds);
  return {
    services,
    store,
    resize,
    detection,
    filter,
    async put(key, data, contentType = "image/jpeg") {
      await (store as ObjectStore).put(key, data, contentType);
      return { bucket: "", objectKey: key, contentType, sizeBytes: data.length, width: 0, height: 0, createdAtMs: 0 };
    },
    async close() {
      for (const c of [resize, detection, filter] as Client[]) c.close();
      await services.close();
      await rm(dir, { recursive: true, force: true });
    },
  };
}

export function outputKey(key: string): Metadata {
  const md = new Metadata();
  md.set(OUTPUT_KEY_METADATA, key);
  return md;
}
