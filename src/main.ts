import { pino } from "pino";
import { ConfigError, loadConfig, unknownEnvVariables } from "./config.js";
import { loggerRedaction } from "./control/log-redaction.js";
import { applyHeapGrowth } from "./composition/v8-heap.js";
import { startServer } from "./server.js";

/**
 * Composition root: read config (defaults, the IFC_CONFIG file, the environment), start, and
 * stop gracefully on SIGTERM/SIGINT; SIGHUP reloads the TLS certificate. A bad setting exits 2 before anything starts.
 */
async function main(): Promise<void> {
  let config;
  try {
    config = loadConfig();
  } catch (err) {
    if (err instanceof ConfigError) {
      console.error(`configuration error: ${err.message}`);
      process.exit(2);
    }
    throw err;
  }
  const heapFlag = applyHeapGrowth(config.heapGrowthPercent);
  // Secrets (tokens, keys, passwords, Authorization and Cookie headers) are redacted: see log-redaction.ts.
  const logger = pino({ level: config.logLevel, base: { service: "ifc-ingest" }, ...loggerRedaction() });
  for (const { name, hint } of unknownEnvVariables()) logger.warn({ variable: name, didYouMean: hint }, "unknown IFC_ environment variable ignored");
  const server = await startServer(config, logger);
  logger.info({ url: server.url, publicUrl: config.publicUrl || undefined, configFile: process.env.IFC_CONFIG || undefined, dataDir: config.dataDir, v8Heap: heapFlag ?? "V8 defaults" }, "ImageFlowCanvas Ingest listening");

  let stopping = false;
  const stop = (signal: string): void => {
    if (stopping) return;
    stopping = true;
    logger.info({ signal }, "shutting down: refusing publishers, finalizing recordings");
    const timer = setTimeout(() => {
      logger.error("graceful shutdown timed out (IFC_SHUTDOWN_TIMEOUT_MS)");
      process.exit(1);
    }, config.shutdownTimeoutMs);
    server.close().then(
      () => {
        clearTimeout(timer);
        logger.info("shutdown complete");
        logger.flush();
        process.exit(0);
      },
      (err: unknown) => {
        logger.error({ err }, "shutdown failed");
        process.exit(1);
      },
    );
  };
  process.on("SIGTERM", () => stop("SIGTERM"));
  process.on("SIGINT", () => stop("SIGINT"));
  // Certificate renewal (certbot's deploy hook, a Kubernetes secret update): new connections get
  // the new certificate; open ones and media sessions are untouched. Failures are logged by reloadTls.
  process.on("SIGHUP", () => {
    if (stopping) return;
    void server.reloadTls();
  });
}

main().catch((err: unknown) => {
  console.error(err);
  process.exit(1);
});
