import path from "node:path";
import type { Logger } from "pino";
import { SourceFileStore } from "../adapters/state/source-file-store.js";
import type { Config } from "../config.js";
import type { StreamRegistry } from "../core/stream-registry.js";
import { SourceManager } from "../ingest/source-manager.js";
import type { CloseStack } from "./close-stack.js";

/**
 * Pulled cameras (IFC_SOURCES and POST /api/v1/sources, kept in <IFC_DATA_DIR>/sources.json).
 * Started after the routes are up, so a camera's stream can be read at once; closed before the
 * publishers (TEARDOWN, their streams end and recordings close).
 */
export function buildSources(config: Config, logger: Logger, stack: CloseStack, deps: { registry: StreamRegistry }): SourceManager {
  const manager = new SourceManager({
    registry: deps.registry,
    configured: config.sources,
    onDemandCloseAfterMs: config.sourceOnDemandCloseAfterMs,
    store: new SourceFileStore(path.join(config.dataDir, "sources.json")),
    log: logger.child({ component: "pull-source" }),
    settings: {
      connectTimeoutMs: config.sourceConnectTimeoutMs,
      retryMinMs: config.sourceRetryMinMs,
      retryMaxMs: config.sourceRetryMaxMs,
      rtpSilenceTimeoutMs: config.rtpSilenceTimeoutMs,
      limits: { maxHeaderBytes: config.rtspMaxHeaderBytes, maxBodyBytes: config.rtspMaxBodyBytes },
      udpRecvBufferBytes: config.rtspUdpRecvBufferBytes,
      ingest: { reorderWindowPackets: config.reorderWindowPackets, clockDriftToleranceMs: config.clockDriftToleranceMs },
    },
  });
  stack.push("pull sources", () => manager.close());
  return manager;
}
