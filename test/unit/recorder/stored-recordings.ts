import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { Readable } from "node:stream";
import { pino } from "pino";
import { FsObjectStore } from "../../../src/adapters/storage/fs-object-store.js";
import { StreamRegistry } from "../../../src/core/stream-registry.js";
import type { ObjectInfo, ObjectStore } from "../../../src/ports/object-store.js";
import { manifestKey, parseManifest, type RecordingManifest } from "../../../src/ports/recording-manifest.js";
import { initKey, partKey } from "../../../src/recorder/manifest.js";
import { Recorder } from "../../../src/recorder/recorder.js";

export const silent = pino({ level: "silent" });
export const SEGMENT_MS = 4000;

/** A fresh fs store in its own directory. */
export async function tempStore(): Promise<{ store: FsObjectStore; dir: string; cleanup: () => Promise<void> }> {
  const dir = await mkdtemp(path.join(tmpdir(), "ifc-rec-unit-"));
  const store = new FsObjectStore(dir);
  await store.init();
  return { store, dir, cleanup: () => rm(dir, { recursive: true, force: true }) };
}

/**
 * Stores an ended recording of `segments` 4-second segments (one part of `partBytes` each)
 * starting at `startMs`, objects first and the manifest last, as the writer does.
 */
export async function storeRecording(
  store: ObjectStore,
  stream: string,
  recordingId: string,
  startMs: number,
  segments: number,
  partBytes = 1000,
): Promise<RecordingManifest> {
  const init = initKey(stream, recordingId, 0);
  await store.put(init, Buffer.alloc(100, 1));
  const m: RecordingManifest = {
    version: 1,
    stream,
    recordingId,
    startedAt: startMs,
    endedAt: startMs + segments * SEGMENT_MS,
    tags: {},
    inits: [{ index: 0, key: init, codec: "avc1.42e01e", width: 320, height: 240 }],
    segments: [],
  };
  for (let seq = 0; seq < segments; seq++) {
    const key = partKey(stream, recordingId, seq, 0);
    await store.put(key, Buffer.alloc(partBytes, seq));
    m.segments.push({
      seq,
      init: 0,
      startMs: startMs + seq * SEGMENT_MS,
      startDts: seq * SEGMENT_MS * 90,
      durationMs: SEGMENT_MS,
      bytes: partBytes,
      keyframe: true,
      complete: true,
      parts: [{ key, durationMs: SEGMENT_MS, bytes: partBytes, independent: true }],
    });
  }
  await store.put(manifestKey(stream, recordingId), Buffer.from(JSON.stringify(m)), "application/json");
  return m;
}

export async function readStored(store: ObjectStore, stream: string, recordingId: string): Promise<RecordingManifest | undefined> {
  if (!(await store.stat(manifestKey(stream, recordingId)))) return undefined;
  return parseManifest(await store.get(manifestKey(stream, recordingId)));
}

/** Every object the manifest names is in the store (the README's promise). */
export async function missingObjects(store: ObjectStore, m: RecordingManifest): Promise<string[]> {
  const keys = [...m.inits.map((i) => i.key), ...m.segments.flatMap((s) => s.parts.map((p) => p.key))];
  const missing: string[] = [];
  for (const k of keys) if (!(await store.stat(k))) missing.push(k);
  return missing;
}

export function idleRecorder(store: ObjectStore, maxTags = 32): Recorder {
  const registry = new StreamRegistry({ maxStreams: 8, readerQueueFrames: 16 });
  return new Recorder(
    registry,
    store,
    { recordByDefault: false, segmentDurationMs: SEGMENT_MS, partDurationMs: 1000, keyframeRequestLeadMs: 300, maxSegmentDurationMs: 20_000, maxTags },
    silent,
  );
}

/**
 * A real store whose writes to one key can be held: `hold(suffix)` makes the next put of a
 * key ending so wait until released, so a test decides the interleaving, not the scheduler.
 */
export class GatedStore implements ObjectStore {
  private held: { suffix: string; reached: () => void; gate: Promise<void> } | undefined;

  constructor(private readonly inner: ObjectStore) {}

  hold(suffix: string): { reached: Promise<void>; release: () => void } {
    let release!: () => void;
    let reached!: () => void;
    const gate = new Promise<void>((r) => (release = r));
    const reachedP = new Promise<void>((r) => (reached = r));
    this.held = { suffix, reached, gate };
    return { reached: reachedP, release };
  }

  async put(key: string, data: Uint8Array, contentType?: string): Promise<void> {
    const h = this.held;
    if (h && key.endsWith(h.suffix)) {
      this.held = undefined;
      h.reached();
      await h.gate;
    }
    await this.inner.put(key, data, contentType);
  }
  get(key: string): Promise<Buffer> {
    return this.inner.get(key);
  }
  getStream(key: string): Promise<Readable> {
    return this.inner.getStream(key);
  }
  stat(key: string): Promise<ObjectInfo | undefined> {
    return this.inner.stat(key);
  }
  list(prefix: string): Promise<ObjectInfo[]> {
    return this.inner.list(prefix);
  }
  delete(key: string): Promise<void> {
    return this.inner.delete(key);
  }
  copy(fromKey: string, toKey: string): Promise<void> {
    return this.inner.copy(fromKey, toKey);
  }
  checkWritable(): Promise<void> {
    return this.inner.checkWritable();
  }
}
