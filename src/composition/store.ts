import type { Logger } from "pino";
import { FsObjectStore } from "../adapters/storage/fs-object-store.js";
import { SpoolingObjectStore } from "../adapters/storage/spooling-object-store.js";
import type { Config } from "../config.js";
import type { ObjectStore } from "../ports/object-store.js";
import { MANIFEST_NAME } from "../recorder/manifest.js";
import type { CloseStack } from "./close-stack.js";

export interface BuiltStore {
  store: ObjectStore;
  /** The upload spool in front of S3 (IFC_STORE=s3 only). */
  spool: SpoolingObjectStore | undefined;
}

/** The object store: the local file system, or S3 behind a spool that survives outages. */
export async function buildStore(config: Config, logger: Logger, stack: CloseStack): Promise<BuiltStore> {
  if (config.store !== "s3") {
    const fs = new FsObjectStore(config.dataDir);
    await fs.init();
    return { store: fs, spool: undefined };
  }
  // Loaded only for S3: the MinIO client is the largest module of the server (~38 MiB resident).
  const { MinioObjectStore } = await import("../adapters/storage/minio-object-store.js");
  const s3 = new MinioObjectStore({
    url: config.s3Url,
    accessKey: config.s3AccessKey,
    secretKey: config.s3SecretKey,
    bucket: config.s3Bucket,
    region: config.s3Region,
    pathStyle: config.s3PathStyle,
  });
  await s3.init();
  const storeLog = logger.child({ component: "store" });
  const spool = new SpoolingObjectStore(s3, {
    spoolDir: config.spoolDir,
    maxQueueBytes: config.uploadQueueBytes,
    concurrency: config.uploadConcurrency,
    minBackoffMs: config.uploadMinBackoffMs,
    maxBackoffMs: config.uploadMaxBackoffMs,
    isBarrier: (key) => key.endsWith(`/${MANIFEST_NAME}`),
  }, (err, key) => storeLog.warn({ err: (err as Error).message, objectKey: key }, "upload failed; will retry"));
  stack.push("upload spool", async () => {
    // Upload what we can in the time left; the rest stays in the spool for the next start.
    let timer: NodeJS.Timeout | undefined;
    const deadline = new Promise<void>((resolve) => (timer = setTimeout(resolve, config.shutdownTimeoutMs / 2)));
    try {
      await Promise.race([spool.flush(), deadline]);
    } finally {
      clearTimeout(timer);
    }
    await spool.close();
  });
  await spool.init();
  return { store: spool, spool };
}
