import type { Config } from "../config.js";
import type { CloseStack } from "./close-stack.js";
import type { ModuleDeps, ModuleParts } from "./products.js";

/** Builds offline devices (the documents' Tauri app): registration and login, config, master-data download and changes, offline upload and apply; gRPC SyncService. */
export function buildOfflineSync(config: Config, deps: ModuleDeps, stack: CloseStack): ModuleParts {
  // Until the module lands, its settings are read (and checked) here.
  const settings = { syncMaxChanges: config.syncMaxChanges };
  void settings;
  void deps;
  void stack;
  return { routes: [], grpc: [], metrics: [] };
}
