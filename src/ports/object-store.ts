import { Readable } from "node:stream";

/** Facts about one stored object. */
export interface ObjectInfo {
  key: string;
  size: number;
  /** Last modification, epoch ms. */
  modifiedMs: number;
}

/**
 * Where recordings live. Keys are `/`-separated relative paths of `[A-Za-z0-9._-]` segments.
 * Writes are atomic: an object is either absent or complete, and listings never show a
 * half-written object.
 */
export interface ObjectStore {
  put(key: string, data: Uint8Array, contentType?: string): Promise<void>;
  /** Whole object; throws `ObjectNotFoundError` when absent. */
  get(key: string): Promise<Buffer>;
  /** Streamed object; throws `ObjectNotFoundError` when absent. */
  getStream(key: string): Promise<Readable>;
  stat(key: string): Promise<ObjectInfo | undefined>;
  /** Every object whose key starts with `prefix`, sorted by key. */
  list(prefix: string): Promise<ObjectInfo[]>;
  /** Deleting an absent object is not an error. */
  delete(key: string): Promise<void>;
  copy(fromKey: string, toKey: string): Promise<void>;
  /** Proves the store accepts writes now (readiness). */
  checkWritable(): Promise<void>;
}

export class ObjectNotFoundError extends Error {
  override name = "ObjectNotFoundError";
  constructor(readonly key: string) {
    super(`object not found: ${key}`);
  }
}

export class InvalidObjectKeyError extends Error {
  override name = "InvalidObjectKeyError";
}

const KEY_SEGMENT = /^[A-Za-z0-9._-]+$/;

/** Rejects keys that could escape the store's root or collide with its internals. */
export function assertValidKey(key: string): void {
  const parts = key.split("/");
  if (key.length === 0 || key.length > 1024 || parts.some((p) => !KEY_SEGMENT.test(p) || p === "." || p === ".." || p.startsWith(".ifc-"))) {
    throw new InvalidObjectKeyError(`invalid object key: ${JSON.stringify(key.slice(0, 200))}`);
  }
}

/**
 * The objects named, read one after another as one stream, without holding them in memory.
 * When the reader goes away the stream is destroyed and the object being read is destroyed with
 * it (closing its file handle at once). One generator rather than a pipeline per object into a
 * PassThrough, which leaves a listener behind per object (MaxListenersExceededWarning past 10).
 */
export function concatObjects(store: Pick<ObjectStore, "getStream">, keys: readonly string[]): Readable {
  async function* objects(): AsyncGenerator<Buffer> {
    for (const key of keys) {
      const src = await store.getStream(key);
      try {
        for await (const chunk of src) yield chunk as Buffer;
      } finally {
        src.destroy();
      }
    }
  }
  return Readable.from(objects(), { objectMode: false, highWaterMark: 1 << 20 });
}
