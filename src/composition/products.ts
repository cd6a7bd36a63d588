import type { FastifyPluginAsync } from "fastify";
import type { Logger } from "pino";
import { Counter, Registry } from "prom-client";
import { MemoryCache } from "../adapters/cache/memory-cache.js";
import type { LazyDatabase } from "../adapters/db/lazy-database.js";
import type { Config } from "../config.js";
import type { TokenIssuer } from "../control/auth/tokens.js";
import type { GrpcServiceLoader } from "../control/grpc/grpc-control-server.js";
import type { QualityFeed } from "../distributor/ws/ws-routes.js";
import type { PipelinesRuntime } from "../pipelines/runtime.js";
import type { Cache } from "../ports/cache.js";
import type { OpenDatabase } from "../ports/database.js";
import type { EventBus } from "../ports/event-bus.js";
import type { ObjectStore } from "../ports/object-store.js";
import { CachePolicy, type CacheCounters } from "../products/cache-policy.js";
import type { Recorder } from "../recorder/recorder.js";
import type { RecordingCatalog } from "../recorder/recording-catalog.js";
import type { CloseStack } from "./close-stack.js";
import { buildInspection } from "./inspection.js";
import { buildOfflineSync } from "./offline-sync.js";
import { buildProductCatalog } from "./product-catalog.js";
import { buildTraceability } from "./traceability.js";

/** What one module of the product side adds to the server's surfaces. */
export interface ModuleParts {
  /** REST plugins, registered on the root app (their routes carry `config.auth`). */
  routes: FastifyPluginAsync[];
  /** Services on the gRPC control port, behind its guard: loaded only when gRPC is enabled (gRPC ~13 MiB resident). */
  grpc: GrpcServiceLoader[];
  /** Merged into /metrics. */
  metrics: Registry[];
  /** WS /ws/quality-metrics (the inspection module). */
  quality?: QualityFeed;
  /** Whether a device (offline-devices module) is registered and not revoked: every route's auth asks it. */
  deviceActive?: (deviceId: string) => Promise<boolean>;
}

/** What every product-side module may use: nothing module-specific, so the four build apart. */
export interface ModuleDeps {
  /** The shared metadata database, opened at first use. */
  db: OpenDatabase;
  /**
   * Whether it is open already. Background work (live sightings) checks this instead of opening
   * it: PGlite's start is seconds of CPU on this thread, and with no database there is no master.
   */
  dbReady: () => boolean;
  bus: EventBus;
  store: ObjectStore;
  /** The cache strategies over IFC_CACHE. */
  cache: CachePolicy;
  /** The batch pipelines (AI inspection runs an item's pipeline). */
  pipelines: PipelinesRuntime;
  recorder: Recorder;
  catalog: RecordingCatalog;
  /** Signs device access tokens (offline devices log in). */
  tokens: TokenIssuer;
  nodeId: string;
  log: Logger;
}

function cacheCounters(): { counters: CacheCounters; registry: Registry } {
  const registry = new Registry();
  const hits = new Counter({ name: "ifc_cache_hits_total", help: "Cache reads answered by the cache, by cache (product, qr, search, rules)", labelNames: ["cache"], registers: [registry] });
  const misses = new Counter({ name: "ifc_cache_misses_total", help: "Cache reads that went to the database, by cache", labelNames: ["cache"], registers: [registry] });
  const errors = new Counter({ name: "ifc_cache_errors_total", help: "Cache engine failures (the read went to the database), by cache and operation", labelNames: ["cache", "operation"], registers: [registry] });
  return {
    registry,
    counters: {
      hit: (cache) => hits.inc({ cache }),
      miss: (cache) => misses.inc({ cache }),
      error: (cache, operation) => errors.inc({ cache, operation }),
    },
  };
}

/** IFC_CACHE: the in-process LRU, or Redis at IFC_REDIS_URL (its own fail-fast connection). */
export async function buildCache(config: Config, logger: Logger, stack: CloseStack): Promise<Cache> {
  const maxEntries = config.cacheMaxEntries;
  if (config.cache === "memory") return new MemoryCache({ maxEntries });
  // Loaded only for a Redis cache (ioredis: ~24 MiB resident).
  const [{ RedisConnection }, { RedisCache }] = await Promise.all([import("../adapters/state/redis-connection.js"), import("../adapters/cache/redis-cache.js")]);
  const log = logger.child({ component: "cache-redis" });
  let down = false;
  const redis = new RedisConnection({
    url: config.redisUrl,
    onError: (err) => {
      if (!down) log.warn({ err }, "cache redis unreachable: reads go to the database until it is back");
      down = true;
    },
    onReady: () => {
      if (down) log.info("cache redis reachable again");
      down = false;
    },
  });
  stack.push("cache redis", () => redis.close());
  return new RedisCache({ redis });
}

/**
 * Products, traceability, inspection and offline devices (issue 16), each built by its own
 * composition file on the shared deps, merged into one set of surfaces.
 */
export async function buildProductSide(config: Config, logger: Logger, stack: CloseStack, deps: Omit<ModuleDeps, "db" | "dbReady" | "cache" | "log"> & { metadata: LazyDatabase }): Promise<ModuleParts> {
  const cache = await buildCache(config, logger, stack);
  const { counters, registry } = cacheCounters();
  const log = logger.child({ component: "products" });
  const { metadata, ...rest } = deps;
  const shared: ModuleDeps = { ...rest, db: metadata.get, dbReady: () => metadata.current !== undefined, cache: new CachePolicy(cache, counters, log), log };
  const parts = [
    buildProductCatalog(config, shared, stack),
    buildTraceability(config, shared, stack),
    buildInspection(config, shared, stack),
    buildOfflineSync(config, shared, stack),
  ];
  return {
    routes: parts.flatMap((p) => p.routes),
    grpc: parts.flatMap((p) => p.grpc),
    metrics: [registry, ...parts.flatMap((p) => p.metrics)],
    ...(parts.find((p) => p.quality)?.quality ? { quality: parts.find((p) => p.quality)!.quality! } : {}),
    ...(parts.find((p) => p.deviceActive)?.deviceActive ? { deviceActive: parts.find((p) => p.deviceActive)!.deviceActive! } : {}),
  };
}
