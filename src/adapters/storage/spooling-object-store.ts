import { mkdir, readFile, readdir, rename, rm, stat, writeFile } from "node:fs/promises";
import path from "node:path";
import { Readable } from "node:stream";
import { assertValidKey, type ObjectInfo, type ObjectStore } from "../../ports/object-store.js";
import type { UploadStats } from "../../ports/upload-stats.js";

export interface SpoolOptions {
  /** Local directory for objects that could not be kept in memory or uploaded yet. */
  spoolDir: string;
  /** Most bytes held in memory waiting for upload; beyond it objects go to the spool. */
  maxQueueBytes: number;
  /** Uploads in flight at once. */
  concurrency: number;
  /** First retry delay; doubles per consecutive failure up to `maxBackoffMs` (±25 % jitter). */
  minBackoffMs: number;
  maxBackoffMs: number;
  /** Keys whose upload must wait for every earlier upload (manifests naming other objects). */
  isBarrier?: (key: string) => boolean;
  random?: () => number;
  /**
   * Schedules the retry after a backoff and returns its cancel (default: setTimeout). Tests
   * inject one to read the backoff delays without waiting them out.
   */
  schedule?: (fn: () => void, delayMs: number) => () => void;
}

export interface SpoolStats {
  queuedObjects: number;
  queuedBytes: number;
  memoryBytes: number;
  spooledObjects: number;
  spoolBytes: number;
  uploaded: number;
  failures: number;
  /** True while uploads fail and new objects go straight to the spool. */
  degraded: boolean;
}

interface Item {
  seq: number;
  key: string;
  contentType: string;
  size: number;
  /** In memory, or undefined when spooled to `file`. */
  data?: Buffer;
  file?: string;
  barrier: boolean;
  /** Set when a later put or delete made this upload pointless. */
  superseded: boolean;
  started: boolean;
  enqueuedAt: number;
}

/**
 * Puts that never block and never lose data while the backing store is slow or down.
 *
 * `put` returns once the object is accepted — in a bounded memory queue, or written to a local
 * spool directory when the queue is full or uploads are failing — and uploads happen in the
 * background, in order, with a few in flight, retried with exponential backoff and jitter. The
 * spool survives a crash or restart: `init` queues what it finds there, oldest first, and spooled
 * objects are replayed strictly one after another in the order they were accepted. Reads see
 * accepted objects at once, whether uploaded yet or not.
 */
export class SpoolingObjectStore implements ObjectStore, UploadStats {
  private readonly queue: Item[] = [];
  private readonly pending = new Map<string, Item>();
  private inFlight = 0;
  private seq = 0;
  private memoryBytes = 0;
  private spoolBytes = 0;
  private consecutiveFailures = 0;
  /** Cancels the pending retry; set while one is scheduled. */
  private retryTimer: (() => void) | undefined;
  private uploaded = 0;
  private failures = 0;
  private closed = false;
  private readonly uploads = new Set<Promise<void>>();
  private idleWaiters: (() => void)[] = [];
  private readonly random: () => number;
  private readonly schedule: (fn: () => void, delayMs: number) => () => void;
  /** Upload lags (ms from accepted to stored) since the last `takeLags`, for metrics. */
  private lags: number[] = [];

  constructor(
    private readonly backend: ObjectStore,
    private readonly opts: SpoolOptions,
    private readonly onError: (err: unknown, key: string) => void = () => undefined,
  ) {
    this.random = opts.random ?? Math.random;
    this.schedule =
      opts.schedule ??
      ((fn, delayMs) => {
        const t = setTimeout(fn, delayMs);
        return () => clearTimeout(t);
      });
  }

  /** Creates the spool and queues what an earlier run left there, in its original order. */
  async init(): Promise<void> {
    await mkdir(this.opts.spoolDir, { recursive: true });
    const all = await readdir(this.opts.spoolDir);
    for (const n of all) if (n.endsWith(".tmp")) await rm(path.join(this.opts.spoolDir, n), { force: true });
    const names = all.filter((n) => n.endsWith(".obj")).sort();
    for (const name of names) {
      const m = /^(\d{12})-(.+)\.obj$/.exec(name);
      if (!m) continue;
      const key = decodeURIComponent(m[2] as string);
      const file = path.join(this.opts.spoolDir, name);
      const size = (await stat(file)).size;
      const seq = Number(m[1]);
      this.seq = Math.max(this.seq, seq + 1);
      this.add({ seq, key, contentType: "application/octet-stream", size, file, barrier: this.opts.isBarrier?.(key) ?? false, superseded: false, started: false, enqueuedAt: Date.now() });
      this.spoolBytes += size;
    }
    this.pump();
  }

  get stats(): SpoolStats {
    let spooledObjects = 0;
    let queuedBytes = 0;
    for (const i of this.queue) {
      if (i.file) spooledObjects++;
      queuedBytes += i.size;
    }
    return {
      queuedObjects: this.queue.length,
      queuedBytes,
      memoryBytes: this.memoryBytes,
      spooledObjects,
      spoolBytes: this.spoolBytes,
      uploaded: this.uploaded,
      failures: this.failures,
      degraded: this.consecutiveFailures > 0,
    };
  }

  takeLags(): number[] {
    const out = this.lags;
    this.lags = [];
    return out;
  }

  async put(key: string, data: Uint8Array, contentType = "application/octet-stream"): Promise<void> {
    assertValidKey(key);
    const buf = Buffer.isBuffer(data) ? data : Buffer.from(data);
    const item: Item = { seq: this.seq++, key, contentType, size: buf.length, barrier: this.opts.isBarrier?.(key) ?? false, superseded: false, started: false, enqueuedAt: Date.now() };
    const toSpool = this.consecutiveFailures > 0 || this.memoryBytes + buf.length > this.opts.maxQueueBytes;
    if (toSpool) {
      const file = this.spillFile(item);
      // Written under a temporary name first: a crash mid-write leaves nothing init would queue.
      // A failed write (ENOSPC) rejects this put and leaves no partial file taking space.
      await writeAtomically(file, buf);
      item.file = file;
      this.spoolBytes += buf.length;
    } else {
      item.data = buf;
      this.memoryBytes += buf.length;
    }
    this.add(item);
    this.pump();
  }

  private add(item: Item): void {
    const previous = this.pending.get(item.key);
    if (previous) previous.superseded = true;
    this.pending.set(item.key, item);
    this.queue.push(item);
  }

  private pump(): void {
    if (this.closed || this.retryTimer) return;
    while (this.inFlight < this.opts.concurrency) {
      const next = this.queue.find((i) => !i.started);
      if (!next) break;
      // A barrier (a manifest) goes only after everything queued before it has landed, and
      // spooled objects (a replay after an outage or a restart) go one at a time, strictly in order.
      if ((next.barrier || next.file) && this.queue[0] !== next) break;
      if (next.file && this.inFlight > 0) break;
      if (!next.barrier && this.queue.slice(0, this.queue.indexOf(next)).some((i) => i.barrier)) break;
      next.started = true;
      this.inFlight++;
      const upload = this.upload(next);
      this.uploads.add(upload);
      void upload.finally(() => this.uploads.delete(upload));
    }
    if (this.queue.length === 0 && this.inFlight === 0) {
      const waiters = this.idleWaiters;
      this.idleWaiters = [];
      for (const w of waiters) w();
    }
  }

  private async upload(item: Item): Promise<void> {
    try {
      if (!item.superseded) {
        const data = item.data ?? (await readFile(item.file as string));
        await this.backend.put(item.key, data, item.contentType);
        this.lags.push(Date.now() - item.enqueuedAt);
        if (this.lags.length > 10_000) this.lags.shift();
      }
      this.inFlight--;
      this.consecutiveFailures = 0;
      this.uploaded++;
      await this.finish(item);
    } catch (err) {
      this.inFlight--;
      this.failures++;
      this.consecutiveFailures++;
      item.started = false;
      this.onError(err, item.key);
      // The store is failing: what waits in memory goes to disk now, so a crash during the
      // outage cannot lose it.
      if (this.consecutiveFailures === 1) void this.spillMemory();
      const base = Math.min(this.opts.maxBackoffMs, this.opts.minBackoffMs * 2 ** (this.consecutiveFailures - 1));
      const delay = base * (0.75 + 0.5 * this.random());
      if (!this.retryTimer && !this.closed) {
        this.retryTimer = this.schedule(() => {
          this.retryTimer = undefined;
          this.pump();
        }, delay);
      }
      return;
    }
    this.pump();
  }

  private async finish(item: Item): Promise<void> {
    const i = this.queue.indexOf(item);
    if (i >= 0) this.queue.splice(i, 1);
    if (this.pending.get(item.key) === item) this.pending.delete(item.key);
    if (item.data) this.memoryBytes -= item.size;
    if (item.file) {
      this.spoolBytes -= item.size;
      await rm(item.file, { force: true });
    }
  }

  private spillFile(item: Item): string {
    return path.join(this.opts.spoolDir, `${String(item.seq).padStart(12, "0")}-${encodeURIComponent(item.key)}.obj`);
  }

  /** Moves every memory-held object to the spool (kept in queue order). */
  private async spillMemory(): Promise<void> {
    for (const item of [...this.queue]) {
      if (!item.data || item.superseded) continue;
      const data = item.data;
      const file = this.spillFile(item);
      try {
        await writeAtomically(file, data);
      } catch (err) {
        // The spool's disk is full: the object stays queued in memory (bounded by the queue),
        // and this runs detached, so it must not reject.
        this.onError(err, item.key);
        continue;
      }
      if (item.data !== data) continue; // uploaded and finished meanwhile
      if (!this.queue.includes(item)) {
        await rm(file, { force: true });
        continue;
      }
      item.file = file;
      item.data = undefined;
      this.memoryBytes -= item.size;
      this.spoolBytes += item.size;
    }
  }

  /** Resolves when everything accepted so far is in the backing store. */
  async flush(): Promise<void> {
    if (this.queue.length === 0 && this.inFlight === 0) return;
    await new Promise<void>((resolve) => this.idleWaiters.push(resolve));
  }

  /** Stops uploading; what is still queued stays in the spool (memory items are spooled first). */
  async close(): Promise<void> {
    this.closed = true;
    this.retryTimer?.();
    this.retryTimer = undefined;
    // Uploads already under way finish (or fail) first, so nothing is sent after close().
    await Promise.allSettled([...this.uploads]);
    await this.spillMemory();
  }

  private async pendingData(key: string): Promise<Buffer | undefined> {
    const item = this.pending.get(key);
    if (!item) return undefined;
    return item.data ?? (await readFile(item.file as string));
  }

  async get(key: string): Promise<Buffer> {
    return (await this.pendingData(key)) ?? (await this.backend.get(key));
  }

  async getStream(key: string): Promise<Readable> {
    const data = await this.pendingData(key);
    return data ? Readable.from([data]) : this.backend.getStream(key);
  }

  async stat(key: string): Promise<ObjectInfo | undefined> {
    const item = this.pending.get(key);
    if (item) return { key, size: item.size, modifiedMs: item.enqueuedAt };
    return this.backend.stat(key);
  }

  async list(prefix: string): Promise<ObjectInfo[]> {
    const byKey = new Map<string, ObjectInfo>();
    for (const o of await this.backend.list(prefix)) byKey.set(o.key, o);
    for (const [key, item] of this.pending) if (key.startsWith(prefix)) byKey.set(key, { key, size: item.size, modifiedMs: item.enqueuedAt });
    return [...byKey.values()].sort((a, b) => (a.key < b.key ? -1 : a.key > b.key ? 1 : 0));
  }

  async delete(key: string): Promise<void> {
    const item = this.pending.get(key);
    if (item) {
      item.superseded = true;
      this.pending.delete(key);
      // Not uploading yet: its memory or spool file is freed now, not when its turn comes (a
      // low disk during an outage is freed by retention deleting the oldest segments).
      if (!item.started) {
        await this.finish(item);
        this.pump();
      }
    }
    await this.backend.delete(key);
  }

  async copy(fromKey: string, toKey: string): Promise<void> {
    const data = await this.pendingData(fromKey);
    if (data) return this.put(toKey, data);
    return this.backend.copy(fromKey, toKey);
  }

  async checkWritable(): Promise<void> {
    await mkdir(this.opts.spoolDir, { recursive: true });
    await this.backend.checkWritable();
  }
}

/** Writes `file` through `file.tmp` and a rename; on failure the temporary file is removed. */
async function writeAtomically(file: string, data: Buffer): Promise<void> {
  try {
    await writeFile(`${file}.tmp`, data);
    await rename(`${file}.tmp`, file);
  } catch (err) {
    await rm(`${file}.tmp`, { force: true }).catch(() => undefined);
    throw err;
  }
}
