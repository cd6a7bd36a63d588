import type { FastifyPluginAsync } from "fastify";
import { Registry } from "prom-client";
import type { Config } from "../config.js";
import { traceRoutes } from "../control/trace-routes.js";
import { systemTimers } from "../core/timers.js";
import type { ObjectStore } from "../ports/object-store.js";
import { parseManifest } from "../ports/recording-manifest.js";
import { LiveProductLinker, linkerMetrics } from "../products/live-product-linker.js";
import { TraceService, type ClipInfo, type MediaIndex } from "../products/trace-service.js";
import { TraceStore } from "../products/trace-store.js";
import type { ClipManifest } from "../recorder/clips.js";
import { CLIPS_PREFIX, type RecordingCatalog } from "../recorder/recording-catalog.js";
import type { CloseStack } from "./close-stack.js";
import type { ModuleDeps, ModuleParts } from "./products.js";

/** The clips kept, read from their manifests (ClipService is not among the module deps; its listing reads the same objects). */
async function listClips(store: ObjectStore): Promise<ClipInfo[]> {
  const out: ClipInfo[] = [];
  for (const o of await store.list(CLIPS_PREFIX)) {
    if (!o.key.endsWith("/manifest.json")) continue;
    try {
      const m = parseManifest(await store.get(o.key)) as ClipManifest;
      if (!m.clip) continue;
      out.push({
        id: m.clip.id, stream: m.stream, startMs: m.segments[0]?.startMs ?? m.clip.from,
        durationMs: Math.round(m.segments.reduce((n, s) => n + s.durationMs, 0)), createdAt: new Date(m.clip.createdAt).toISOString(),
        sourceRecordingId: m.clip.sourceRecordingId, tags: m.tags,
      });
    } catch {
      // Deleted meanwhile, or unreadable (GET /api/v1/clips counts and logs those): the chain goes on without it.
      continue;
    }
  }
  return out;
}

function mediaIndex(catalog: RecordingCatalog, store: ObjectStore): MediaIndex {
  return {
    recordings: async (tags) => (await catalog.spans(undefined, -Infinity, Infinity, tags)).map((s) => ({ stream: s.stream, recordingId: s.recordingId, startMs: s.startMs, durationMs: s.durationMs, live: s.live, tags: s.tags })),
    clips: () => listClips(store),
  };
}

/** Builds traceability: live QR sightings link recordings to products; /api/v1/products/{id}/details and /trace; /api/v1/videos/search. */
export function buildTraceability(config: Config, deps: ModuleDeps, stack: CloseStack): ModuleParts {
  const registry = new Registry();
  let store: Promise<TraceStore> | undefined;
  // The database opens at first use; a failed open is retried by the next caller.
  const traceStore = (): Promise<TraceStore> => {
    store ??= deps.db().then((db) => new TraceStore(db)).catch((err: unknown) => {
      store = undefined;
      throw err;
    });
    return store;
  };
  const log = deps.log.child({ component: "traceability" });
  // Live sightings never open the database: with none open there is no product to link to.
  const linker = new LiveProductLinker(async () => (deps.dbReady() ? traceStore() : undefined), linkerMetrics(registry), log, systemTimers);
  linker.start(deps.bus);
  stack.push("product links", () => linker.close());

  const service = new TraceService(traceStore, mediaIndex(deps.catalog, deps.store), { playMaxDurationMs: config.playMaxDurationMs });
  const routes: FastifyPluginAsync = async (app) => traceRoutes(app, { service, store: traceStore });
  return { routes: [routes], grpc: [], metrics: [registry] };
}
