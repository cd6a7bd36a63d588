import type { Config } from "../config.js";

/*
 * The one place that turns the config's `key=value` lists into maps. When config.ts parses
 * them itself (typed map kind), these become plain reads of config.aiPriorities and
 * config.retentionMinutesByStream.
 */

function parsePairs(entries: readonly string[]): ReadonlyMap<string, number> {
  return new Map(entries.map((e) => {
    const [name, value] = e.split("=");
    return [name as string, Number(value)];
  }));
}

/** IFC_AI_PRIORITIES: stream name → priority. */
export function aiPriorities(config: Config): ReadonlyMap<string, number> {
  return parsePairs(config.aiPriorities);
}

/** IFC_RETENTION_MINUTES_BY_STREAM: stream name → rolling window in minutes. */
export function retentionMinutesByStream(config: Config): ReadonlyMap<string, number> {
  return parsePairs(config.retentionMinutesByStream);
}
