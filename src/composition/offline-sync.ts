import type { FastifyInstance } from "fastify";
import { MemoryRateLimitStore } from "../adapters/state/memory-rate-limit-store.js";
import type { Config } from "../config.js";
import { deviceRoutes } from "../control/device-routes.js";
import { syncRoutes } from "../control/sync-routes.js";
import { DeviceStore } from "../inspection/sync/device-store.js";
import { SyncStore } from "../inspection/sync/sync-store.js";
import type { CloseStack } from "./close-stack.js";
import type { ModuleDeps, ModuleParts } from "./products.js";

/** Builds offline devices (the documents' Tauri app): registration and login, config, master-data download and changes, offline upload and apply; gRPC SyncService. */
export function buildOfflineSync(config: Config, deps: ModuleDeps, stack: CloseStack): ModuleParts {
  void stack;
  const devices = new DeviceStore(deps.db);
  const sync = new SyncStore(deps.db);
  const maxChanges = config.syncMaxChanges;
  // Device logins are counted apart from user logins (a device id is not a user name), with
  // the same limits; in this process's memory, as ModuleDeps carries no shared limit store.
  const rateLimits = new MemoryRateLimitStore();
  const limits = { maxFailuresPerUser: config.loginMaxFailuresPerUser, maxAttemptsPerClient: config.loginMaxAttemptsPerClient, windowMs: config.loginWindowMs };
  return {
    routes: [
      async (app: FastifyInstance) => deviceRoutes(app, { devices, tokens: deps.tokens, rateLimits, limits }),
      async (app: FastifyInstance) => syncRoutes(app, { sync, devices, maxChanges }),
    ],
    grpc: [async () => (await import("../control/grpc/sync-service.js")).syncService({ sync, devices, pageSize: maxChanges })],
    metrics: [],
    deviceActive: (deviceId) => devices.isActive(deviceId),
  };
}
