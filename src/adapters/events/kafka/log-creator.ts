import kafkajs, { type logCreator } from "kafkajs";
import type { Logger } from "pino";

const { logLevel } = kafkajs;

/** kafkajs logs at the level pino is set to (no point formatting debug lines pino drops). */
export function kafkaLogLevel(log: Logger): kafkajs.logLevel {
  switch (log.level) {
    case "trace":
    case "debug":
      return logLevel.DEBUG;
    case "info":
      return logLevel.INFO;
    case "silent":
      return logLevel.NOTHING;
    case "error":
    case "fatal":
      return logLevel.ERROR;
    default:
      return logLevel.WARN;
  }
}

/**
 * kafkajs' log lines onto pino, under a `kafkajs` child. kafkajs reports every transient
 * request error it then retries (coordinator loading, a broker restarting) at ERROR: those
 * become warnings here; the bus logs its own errors when an event really cannot go out.
 */
export function pinoLogCreator(log: Logger): logCreator {
  const child = log.child({ component: "kafkajs" });
  return () =>
    ({ namespace, level, log: entry }) => {
      const { message, timestamp: _timestamp, logger: _logger, ...fields } = entry;
      const obj = { namespace, ...fields };
      // Said each time the bus makes a producer with the design's 3 retries (on purpose: the bus promises at least once).
      if (message.startsWith("Limiting retries for the idempotent producer")) return child.debug(obj, message);
      if (level === logLevel.ERROR || level === logLevel.WARN) child.warn(obj, message);
      else if (level === logLevel.INFO) child.info(obj, message);
      else child.debug(obj, message);
    };
}
