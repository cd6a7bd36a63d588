import { randomUUID } from "node:crypto";
import sharp, { type Metadata } from "sharp";
import type { ImageData } from "../../generated/imageflow/v1/common.js";
import { assertValidKey, InvalidObjectKeyError, ObjectNotFoundError, type ObjectStore } from "../../ports/object-store.js";
import { ImageServiceError, invalid } from "./errors.js";

/** The formats the services read and write; an output keeps its input's format. */
export type ImageFormat = "jpeg" | "png" | "webp";

const CONTENT_TYPES: Record<ImageFormat, string> = { jpeg: "image/jpeg", png: "image/png", webp: "image/webp" };
const EXTENSIONS: Record<ImageFormat, string> = { jpeg: "jpg", png: "png", webp: "webp" };

export interface LoadedImage {
  bytes: Buffer;
  format: ImageFormat;
  width: number;
  height: number;
  /** The input as stored (real size, dimensions and content type), whatever the request claimed. */
  ref: ImageData;
}

export interface ImageIoOptions {
  store: ObjectStore;
  /** The one bucket this instance serves; a request naming another is refused. */
  bucket: string;
  /** Largest input object read, in bytes (default 32 MiB); bigger → too_large. */
  maxInputBytes?: number;
  /** Largest input in pixels, width × height (default 8192²), checked from the header before decoding; bigger → too_large. */
  maxInputPixels?: number;
}

export const DEFAULT_MAX_INPUT_BYTES = 32 * 1024 * 1024;
export const DEFAULT_MAX_INPUT_PIXELS = 8192 * 8192;

/** Reads inputs from and writes outputs to the object store: images move by reference. */
export class ImageIo {
  readonly bucket: string;
  readonly maxInputBytes: number;
  readonly maxInputPixels: number;
  private readonly store: ObjectStore;

  constructor(opts: ImageIoOptions) {
    this.store = opts.store;
    this.bucket = opts.bucket;
    this.maxInputBytes = opts.maxInputBytes ?? DEFAULT_MAX_INPUT_BYTES;
    this.maxInputPixels = opts.maxInputPixels ?? DEFAULT_MAX_INPUT_PIXELS;
    if (!(this.maxInputBytes > 0)) throw new RangeError(`maxInputBytes must be > 0, got ${this.maxInputBytes}`);
    if (!(this.maxInputPixels > 0)) throw new RangeError(`maxInputPixels must be > 0, got ${this.maxInputPixels}`);
  }

  async read(image: ImageData | undefined): Promise<LoadedImage> {
    if (!image || image.objectKey === "") throw invalid("input_image.object_key is required");
    if (image.bucket !== "" && image.bucket !== this.bucket) {
      throw invalid(`input_image.bucket "${image.bucket}" is not served here; this instance serves bucket "${this.bucket}"`);
    }
    const key = image.objectKey;
    try {
      assertValidKey(key);
    } catch (err) {
      if (err instanceof InvalidObjectKeyError) throw invalid(`input_image.object_key: ${err.message}`);
      throw err;
    }
    // Size first, so an oversized object is refused without being read into memory.
    const info = await this.store.stat(key);
    if (!info) throw new ImageServiceError("not_found", `input object "${key}" not found in bucket "${this.bucket}"`);
    if (info.size > this.maxInputBytes) {
      throw new ImageServiceError("too_large", `input object "${key}" is ${info.size} bytes, over the limit of ${this.maxInputBytes}`);
    }
    let bytes: Buffer;
    try {
      bytes = await this.store.get(key);
    } catch (err) {
      if (err instanceof ObjectNotFoundError) throw new ImageServiceError("not_found", `input object "${key}" not found in bucket "${this.bucket}"`);
      throw err;
    }
    const meta = await probe(bytes, key);
    // A small file can hold a huge image (a decompression bomb): refuse it before decoding.
    if (meta.width * meta.height > this.maxInputPixels) {
      throw new ImageServiceError("too_large", `input object "${key}" is ${meta.width}x${meta.height} = ${meta.width * meta.height} pixels, over the limit of ${this.maxInputPixels}`);
    }
    return {
      bytes,
      ...meta,
      ref: { bucket: this.bucket, objectKey: key, contentType: CONTENT_TYPES[meta.format], sizeBytes: bytes.length, width: meta.width, height: meta.height, createdAtMs: Math.round(info.modifiedMs) },
    };
  }

  /** Stores an encoded output under the caller's key (`ifc-output-key`), else under `derived/`. */
  async write(bytes: Buffer, format: ImageFormat, width: number, height: number, outputKey: string | undefined): Promise<ImageData> {
    const key = outputKey && outputKey !== "" ? outputKey : `derived/${randomUUID()}.${EXTENSIONS[format]}`;
    try {
      assertValidKey(key);
    } catch (err) {
      if (err instanceof InvalidObjectKeyError) throw invalid(`ifc-output-key: ${err.message}`);
      throw err;
    }
    await this.store.put(key, bytes, CONTENT_TYPES[format]);
    return { bucket: this.bucket, objectKey: key, contentType: CONTENT_TYPES[format], sizeBytes: bytes.length, width, height, createdAtMs: Date.now() };
  }
}

async function probe(bytes: Buffer, key: string): Promise<{ format: ImageFormat; width: number; height: number }> {
  let meta: Metadata;
  try {
    meta = await sharp(bytes).metadata();
  } catch {
    throw invalid(`input object "${key}" is not a decodable image`);
  }
  const format = meta.format;
  if (format !== "jpeg" && format !== "png" && format !== "webp") {
    throw invalid(`input object "${key}" is ${format ?? "of unknown format"}; supported formats: jpeg, png, webp`);
  }
  if (!meta.width || !meta.height) throw invalid(`input object "${key}" has no dimensions`);
  return { format, width: meta.width, height: meta.height };
}

/** Runs a sharp pipeline; a failure there means the input could not be decoded (truncated data). */
export async function decodeWith<T>(key: string, run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (err) {
    if (err instanceof ImageServiceError) throw err;
    throw invalid(`input object "${key}" could not be decoded: ${(err as Error).message}`);
  }
}
