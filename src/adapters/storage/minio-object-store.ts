import { randomBytes } from "node:crypto";
import type { Readable } from "node:stream";
import { Client, CopyConditions, S3Error } from "minio";
import { assertValidKey, ObjectNotFoundError, type ObjectInfo, type ObjectStore } from "../../ports/object-store.js";

export interface MinioStoreOptions {
  /** e.g. http://127.0.0.1:9000 or https://s3.example.com */
  url: string;
  accessKey: string;
  secretKey: string;
  bucket: string;
  region: string;
  /** Path-style addressing (MinIO and most self-hosted S3); virtual-host style otherwise. */
  pathStyle: boolean;
}

/** Object keys this adapter writes for its own probes; outside the key space of valid keys. */
const PROBE_PREFIX = ".ifc-probe/";

/**
 * The ObjectStore on S3 (MinIO or any S3-compatible service) through the `minio` client. S3
 * PUTs are atomic — an object appears whole or not at all — and copies are server-side.
 */
export class MinioObjectStore implements ObjectStore {
  private readonly client: Client;
  private readonly bucket: string;

  constructor(private readonly opts: MinioStoreOptions) {
    const u = new URL(opts.url);
    const useSSL = u.protocol === "https:";
    this.client = new Client({
      endPoint: u.hostname,
      port: u.port ? Number(u.port) : useSSL ? 443 : 80,
      useSSL,
      accessKey: opts.accessKey,
      secretKey: opts.secretKey,
      region: opts.region,
      pathStyle: opts.pathStyle,
    });
    this.bucket = opts.bucket;
  }

  /** Creates the bucket when missing. */
  async init(): Promise<void> {
    if (!(await this.client.bucketExists(this.bucket))) {
      try {
        await this.client.makeBucket(this.bucket, this.opts.region);
      } catch (err) {
        // Another instance may have created it meanwhile.
        if (!(err instanceof S3Error && (err.code === "BucketAlreadyOwnedByYou" || err.code === "BucketAlreadyExists"))) throw err;
      }
    }
  }

  async put(key: string, data: Uint8Array, contentType = "application/octet-stream"): Promise<void> {
    assertValidKey(key);
    const buf = Buffer.isBuffer(data) ? data : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
    await this.client.putObject(this.bucket, key, buf, buf.length, { "Content-Type": contentType });
  }

  async get(key: string): Promise<Buffer> {
    const stream = await this.getStream(key);
    const chunks: Buffer[] = [];
    for await (const c of stream) chunks.push(c as Buffer);
    return Buffer.concat(chunks);
  }

  async getStream(key: string): Promise<Readable> {
    assertValidKey(key);
    try {
      return await this.client.getObject(this.bucket, key);
    } catch (err) {
      throw mapNotFound(err, key);
    }
  }

  async stat(key: string): Promise<ObjectInfo | undefined> {
    assertValidKey(key);
    try {
      const s = await this.client.statObject(this.bucket, key);
      return { key, size: s.size, modifiedMs: s.lastModified.getTime() };
    } catch (err) {
      if (isNotFound(err)) return undefined;
      throw err;
    }
  }

  async list(prefix: string): Promise<ObjectInfo[]> {
    const out: ObjectInfo[] = [];
    const stream = this.client.listObjectsV2(this.bucket, prefix, true);
    for await (const item of stream as AsyncIterable<{ name?: string; size: number; lastModified?: Date }>) {
      if (!item.name || item.name.startsWith(".ifc-")) continue;
      out.push({ key: item.name, size: item.size, modifiedMs: item.lastModified?.getTime() ?? 0 });
    }
    // S3 lists in UTF-8 binary order already; sort anyway so every store agrees exactly.
    out.sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
    return out;
  }

  async delete(key: string): Promise<void> {
    assertValidKey(key);
    await this.client.removeObject(this.bucket, key);
  }

  async copy(fromKey: string, toKey: string): Promise<void> {
    assertValidKey(fromKey);
    assertValidKey(toKey);
    try {
      await this.client.copyObject(this.bucket, toKey, `/${this.bucket}/${fromKey}`, new CopyConditions());
    } catch (err) {
      throw mapNotFound(err, fromKey);
    }
  }

  async checkWritable(): Promise<void> {
    const key = `${PROBE_PREFIX}${randomBytes(6).toString("hex")}`;
    await this.client.putObject(this.bucket, key, Buffer.alloc(0), 0);
    await this.client.removeObject(this.bucket, key);
  }
}

function isNotFound(err: unknown): boolean {
  return err instanceof S3Error && (err.code === "NoSuchKey" || err.code === "NotFound" || err.code === "NoSuchObject");
}

function mapNotFound(err: unknown, key: string): unknown {
  return isNotFound(err) ? new ObjectNotFoundError(key) : err;
}
