import type { Config } from "../config.js";
import type { CloseStack } from "./close-stack.js";
import type { ModuleDeps, ModuleParts } from "./products.js";

/** Builds the inspection API (API design §6): targets, items, sessions, AI inspection through pipelines, human verification, statistics, quality figures and WS /ws/quality-metrics. */
export function buildInspection(config: Config, deps: ModuleDeps, stack: CloseStack): ModuleParts {
  // Until the module lands, its settings are read (and checked) here.
  const settings = { qualityAlertNgRate: config.qualityAlertNgRate, qualityWindowMs: config.qualityWindowMs, qualityUpdateIntervalMs: config.qualityUpdateIntervalMs };
  void settings;
  void deps;
  void stack;
  return { routes: [], grpc: [], metrics: [] };
}
