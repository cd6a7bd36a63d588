import type { Logger } from "pino";
import type { Database } from "../ports/database.js";
import type { ObjectStore } from "../ports/object-store.js";
import type { ComponentCatalog } from "./components.js";
import type { PipelineDefinition } from "./definition.js";
import type { ExecutionService } from "./execution-service.js";
import type { ExecutionStore } from "./execution-store.js";
import type { FileStore } from "./file-store.js";
import type { PipelineStore } from "./pipeline-store.js";
import type { ProgressHub } from "./progress-hub.js";
import type { ServiceRegistry } from "./service-registry.js";

/** The bucket name the services see in ImageData: one logical bucket over the server's object store. */
export const PIPELINE_BUCKET = "imageflow";

export interface PipelineParts {
  db: Database;
  pipelines: PipelineStore<PipelineDefinition>;
  executions: ExecutionStore;
  files: FileStore;
  executor: ExecutionService<PipelineDefinition>;
}

/**
 * The batch half, started on first use: a server that never runs a pipeline pays nothing for it
 * (PGlite's WASM, the services' child process). It starts with the server when there is state to
 * resume: a PostgreSQL URL, or a PGlite directory from an earlier run.
 */
export class PipelinesRuntime {
  private parts: Promise<PipelineParts> | undefined;
  /** The parts once open, for synchronous figures (system status). */
  current: PipelineParts | undefined;
  private closed = false;

  constructor(
    private readonly open: () => Promise<PipelineParts>,
    readonly catalog: ComponentCatalog,
    readonly registry: ServiceRegistry,
    readonly progress: ProgressHub,
    readonly store: ObjectStore,
    readonly limits: { filesMaxBytes: number; filesMaxCount: number; filesAllowedTypes: readonly string[] },
    private readonly log: Logger,
  ) {}

  /** The stores and the executor, opened (and recovered) at the first call. */
  get(): Promise<PipelineParts> {
    if (this.closed) return Promise.reject(new Error("pipelines are closed"));
    this.parts ??= this.open().then((p) => (this.current = p)).catch((err: unknown) => {
      // A failed open (database down) is tried again by the next request, not remembered.
      this.parts = undefined;
      this.log.error({ err }, "pipelines could not start");
      throw err;
    });
    return this.parts;
  }

  get started(): boolean {
    return this.parts !== undefined;
  }

  async close(): Promise<void> {
    this.closed = true;
    const parts = await this.parts?.catch(() => undefined);
    if (parts) {
      // The database is shared (products, inspection) and closed after all its users.
      await parts.executor.close();
    }
  }
}

