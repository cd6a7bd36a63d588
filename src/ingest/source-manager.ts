/**
 * The pulled cameras: sources from the config (read-only) and from the REST API (persisted
 * through a `SourceStore`, so they survive a restart). Always-on sources pull from start;
 * on-demand ones pull while readers want the stream (`demand`) and stop
 * IFC_SOURCE_ON_DEMAND_CLOSE_AFTER_MS after the last one left.
 */
import { randomBytes } from "node:crypto";
import type { Logger } from "pino";
import { Conflict, InvalidInput, NotFound } from "../core/errors.js";
import type { StreamRegistry } from "../core/stream-registry.js";
import { systemTimers, type Timers } from "../core/timers.js";
import { PullSource, type PullSourceSettings, type PullSourceStatus } from "./pull-source.js";
import { parseSourceDeclaration, redactUrl, type SourceDeclaration } from "./source-spec.js";

/** A source added over REST, as stored. */
export interface StoredSource extends SourceDeclaration {
  id: string;
  /** Epoch ms. */
  createdAt: number;
}

/** Where REST-added sources are kept (the JSON file under IFC_DATA_DIR). */
export interface SourceStore {
  load(): Promise<StoredSource[]>;
  save(sources: readonly StoredSource[]): Promise<void>;
}

/** A source as the API shows it: the URL's password redacted. */
export interface SourceInfo {
  id: string;
  name: string;
  url: string;
  transport: SourceDeclaration["transport"];
  mode: SourceDeclaration["mode"];
  /** `config`: declared in the config (read-only); `api`: added over REST. */
  origin: "config" | "api";
  createdAt: number;
  status: PullSourceStatus;
}

export interface SourceManagerOptions {
  registry: StreamRegistry;
  settings: PullSourceSettings;
  /** IFC_SOURCE_ON_DEMAND_CLOSE_AFTER_MS */
  onDemandCloseAfterMs: number;
  /** IFC_SOURCES */
  configured: readonly SourceDeclaration[];
  store: SourceStore;
  log: Logger;
  timers?: Timers;
  random?: () => number;
}

interface Entry {
  decl: StoredSource;
  origin: "config" | "api";
  source: PullSource;
  /** Epoch ms of the last `demand` (on-demand sources). */
  lastDemandAt: number;
}

export class SourceManager {
  private readonly byId = new Map<string, Entry>();
  private readonly timers: Timers;
  private idleTimer: unknown;
  private closed = false;
  /** Serializes writes of the store (two POSTs must not interleave their files). */
  private saving: Promise<void> = Promise.resolve();

  constructor(private readonly opts: SourceManagerOptions) {
    this.timers = opts.timers ?? systemTimers;
  }

  /** Loads the stored sources beside the configured ones and starts the always-on ones. */
  async start(): Promise<void> {
    const now = this.timers.now();
    for (const d of this.opts.configured) this.add({ ...d, id: `config-${d.name}`, createdAt: now }, "config");
    for (const stored of await this.opts.store.load()) {
      if (this.nameTaken(stored.name)) {
        this.opts.log.warn({ stream: stored.name, source: stored.id }, "a stored source names the stream of a configured one: the configured one wins");
        continue;
      }
      this.add(stored, "api");
    }
    this.scheduleIdleCheck();
  }

  list(): SourceInfo[] {
    return [...this.byId.values()].map((e) => this.info(e));
  }

  get(id: string): SourceInfo {
    const e = this.byId.get(id);
    if (!e) throw new NotFound("source-not-found", `no source "${id}"`, { id });
    return this.info(e);
  }

  /** The source publishing `stream`, when one does. */
  sourceOf(stream: string): SourceInfo | undefined {
    const e = this.entryOf(stream);
    return e ? this.info(e) : undefined;
  }

  /** Adds a source over REST: validated, refused (409) when its stream has a source or another publisher, persisted, started. */
  async create(body: unknown): Promise<SourceInfo> {
    if (this.closed) throw new Conflict("shutting-down", "the server is shutting down");
    let decl: SourceDeclaration;
    try {
      decl = parseSourceDeclaration(body);
    } catch (err) {
      if (err instanceof InvalidInput) throw err;
      throw new InvalidInput("invalid-source", String(err));
    }
    if (this.nameTaken(decl.name)) throw new Conflict("source-exists", `stream "${decl.name}" already has a source`, { name: decl.name });
    const live = this.opts.registry.get(decl.name);
    if (live) throw new Conflict("stream-busy", `stream "${decl.name}" is live from another publisher`, { name: decl.name });
    const stored: StoredSource = { ...decl, id: `src-${randomBytes(6).toString("hex")}`, createdAt: this.timers.now() };
    // Kept before it starts: a source the store refused would vanish at the next restart.
    const entry = this.add(stored, "api", false);
    try {
      await this.persist();
    } catch (err) {
      this.byId.delete(stored.id);
      throw err;
    }
    if (decl.mode === "always" && !this.closed) entry.source.start();
    return this.info(entry);
  }

  /** Removes a REST source: it stops (its stream ends) and leaves the store. Config sources are read-only (409). */
  async remove(id: string): Promise<void> {
    const e = this.byId.get(id);
    if (!e) throw new NotFound("source-not-found", `no source "${id}"`, { id });
    if (e.origin === "config") throw new Conflict("source-read-only", `source "${id}" is declared in the config (IFC_SOURCES); change it there`, { id });
    this.byId.delete(id);
    try {
      await this.persist();
    } catch (err) {
      this.byId.set(id, e);
      throw err;
    }
    await e.source.stop("deleted");
  }

  /**
   * A reader wants `stream` (WHEP POST, HLS playlist, RTSP DESCRIBE): an on-demand source starts
   * if idle; resolves once the stream is live or after the connect timeout (the reader's own
   * route then answers as for any stream). Streams without a source resolve at once.
   */
  async demand(stream: string): Promise<void> {
    const e = this.entryOf(stream);
    if (!e) return;
    e.lastDemandAt = this.timers.now();
    let starting = false;
    if (e.decl.mode === "on-demand" && !e.source.isRunning && !this.closed) {
      e.source.start();
      starting = true;
      this.scheduleIdleCheck();
    }
    // A camera known to be down (retrying) does not hold every player's request for its timeout.
    if (!starting && e.source.status().state !== "connecting") return;
    // A try, a retry pause and a second try: what a reader may reasonably wait for a camera.
    await e.source.whenLive(this.opts.settings.connectTimeoutMs + this.opts.settings.retryMinMs);
  }

  /** Stops every source (TEARDOWN; their streams end). */
  async close(): Promise<void> {
    this.closed = true;
    if (this.idleTimer !== undefined) this.timers.clearTimeout(this.idleTimer);
    await Promise.all([...this.byId.values()].map((e) => e.source.stop("shutdown")));
    await this.saving;
  }

  private add(decl: StoredSource, origin: Entry["origin"], start = true): Entry {
    const source = new PullSource(
      { id: decl.id, name: decl.name, url: decl.url, transport: decl.transport },
      { registry: this.opts.registry, settings: this.opts.settings, log: this.opts.log, ...(this.opts.timers ? { timers: this.opts.timers } : {}), ...(this.opts.random ? { random: this.opts.random } : {}) },
    );
    const entry: Entry = { decl, origin, source, lastDemandAt: 0 };
    this.byId.set(decl.id, entry);
    if (start && decl.mode === "always" && !this.closed) source.start();
    return entry;
  }

  private nameTaken(name: string): boolean {
    return this.entryOf(name) !== undefined;
  }

  private entryOf(stream: string): Entry | undefined {
    for (const e of this.byId.values()) if (e.decl.name === stream) return e;
    return undefined;
  }

  private info(e: Entry): SourceInfo {
    const { id, name, url, transport, mode, createdAt } = e.decl;
    return { id, name, url: redactUrl(url), transport, mode, origin: e.origin, createdAt, status: e.source.status() };
  }

  private persist(): Promise<void> {
    const snapshot = [...this.byId.values()].filter((e) => e.origin === "api").map((e) => e.decl);
    const next = this.saving.then(() => this.opts.store.save(snapshot));
    this.saving = next.catch(() => undefined);
    return next;
  }

  /**
   * On-demand sources with no reader (no WHEP viewer, no demand) for the close-after period stop.
   * The check runs only while an on-demand source runs: an idle server has no timer of its own.
   */
  private scheduleIdleCheck(): void {
    if (this.closed || this.idleTimer !== undefined) return;
    if (![...this.byId.values()].some((e) => e.decl.mode === "on-demand" && e.source.isRunning)) return;
    const every = Math.max(200, Math.min(1000, this.opts.onDemandCloseAfterMs / 2));
    this.idleTimer = this.timers.setTimeout(() => {
      this.idleTimer = undefined;
      this.stopIdle();
      this.scheduleIdleCheck();
    }, every);
  }

  private stopIdle(): void {
    const now = this.timers.now();
    for (const e of this.byId.values()) {
      if (e.decl.mode !== "on-demand" || !e.source.isRunning) continue;
      const live = this.opts.registry.get(e.decl.name);
      // WHEP viewers are counted by the hub; RTSP readers are hub readers named `rtsp…` (read-session.ts).
      if (live && (live.hub.viewerCount > 0 || live.hub.readerStats.some((r) => r.name.startsWith("rtsp")))) {
        e.lastDemandAt = now;
        continue;
      }
      if (now - e.lastDemandAt < this.opts.onDemandCloseAfterMs) continue;
      this.opts.log.info({ stream: e.decl.name, source: e.decl.id }, "on-demand source has no reader: stopping");
      void e.source.stop("deleted");
    }
  }
}
