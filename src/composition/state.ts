import { hostname } from "node:os";
import type { Logger } from "pino";
import { MemoryRateLimitStore } from "../adapters/state/memory-rate-limit-store.js";
import { MemorySessionRegistry } from "../adapters/state/memory-session-registry.js";
import type { Config } from "../config.js";
import type { RateLimitStore } from "../ports/rate-limit-store.js";
import type { SessionRegistry } from "../ports/session-registry.js";
import type { SessionStore } from "../ports/session-store.js";
import type { CloseStack } from "./close-stack.js";

export interface BuiltState {
  /** One store of rate-limit counters for every limiter (REST, login, gRPC). */
  rateLimits: RateLimitStore;
  /** Who owns which stream over the cluster. */
  streamOwners: SessionRegistry;
  /** Shared refresh tokens and denylist (Redis); undefined: auth keeps its own file. */
  sessions?: SessionStore;
  /** Readiness: the shared store answers. */
  readinessChecks: Record<string, () => Promise<void>>;
}

/** This node's id in the cluster: IFC_NODE_ID, else the host name (a pod's name in Kubernetes). */
export function nodeIdOf(config: Pick<Config, "nodeId">): string {
  return config.nodeId || hostname();
}

/** In-memory state for one node (IFC_STATE=memory), or Redis shared by the cluster (IFC_STATE=redis). */
export async function buildState(config: Config, logger: Logger, stack: CloseStack): Promise<BuiltState> {
  if (config.state === "memory") {
    return { rateLimits: new MemoryRateLimitStore(), streamOwners: new MemorySessionRegistry({ ttlMs: config.registryTtlMs }), readinessChecks: {} };
  }
  // Loaded only for Redis (ioredis: ~24 MiB resident).
  const [{ RedisConnection }, { RedisRateLimitStore }, { RedisSessionRegistry }, { RedisSessionStore }] = await Promise.all([
    import("../adapters/state/redis-connection.js"),
    import("../adapters/state/redis-rate-limit-store.js"),
    import("../adapters/state/redis-session-registry.js"),
    import("../adapters/state/redis-session-store.js"),
  ]);
  const log = logger.child({ component: "redis" });
  // ioredis reports every failed reconnect (one a second while Redis is away): the first of an outage is a warning, the rest debug.
  let down = false;
  const redis = new RedisConnection({
    url: config.redisUrl,
    onError: (err) => {
      if (down) log.debug({ err }, "redis still unreachable");
      else log.warn({ err }, "redis unreachable: publishes are refused (503) and heartbeats fail until it is back");
      down = true;
    },
    onReady: () => {
      if (down) log.info("redis reachable again");
      down = false;
    },
  });
  stack.push("redis", () => redis.close());
  await redis.ready();
  const streamOwners = new RedisSessionRegistry({ redis, ttlMs: config.registryTtlMs });
  return {
    rateLimits: new RedisRateLimitStore({ redis }),
    streamOwners,
    sessions: new RedisSessionStore({ redis }),
    readinessChecks: {
      redis: async () => {
        if (!redis.connected) throw new Error(`redis at ${redactUrl(config.redisUrl)} is not connected`);
      },
    },
  };
}

/** A Redis URL without its password, for messages. */
function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.password) u.password = "***";
    return u.toString();
  } catch {
    return "(unparsable URL)";
  }
}
