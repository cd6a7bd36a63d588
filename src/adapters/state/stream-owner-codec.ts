import type { StreamOwner } from "../../ports/session-registry.js";

/** Parses a stored StreamOwner, or undefined when the value is not one (never trusted blindly). */
export function parseStreamOwner(json: string): StreamOwner | undefined {
  let v: unknown;
  try {
    v = JSON.parse(json);
  } catch {
    return undefined;
  }
  if (typeof v !== "object" || v === null) return undefined;
  const o = v as Record<string, unknown>;
  const str = (k: string): string | undefined => (typeof o[k] === "string" ? (o[k] as string) : undefined);
  const stream = str("stream"), nodeId = str("nodeId"), url = str("url"), identity = str("identity"), sessionId = str("sessionId");
  const state = o.state === "live" || o.state === "reconnecting" ? o.state : undefined;
  const since = typeof o.since === "number" && Number.isFinite(o.since) ? o.since : undefined;
  if (stream === undefined || nodeId === undefined || url === undefined || identity === undefined || sessionId === undefined || !state || since === undefined) {
    return undefined;
  }
  const rtspUrl = str("rtspUrl");
  return { stream, nodeId, url, ...(rtspUrl !== undefined ? { rtspUrl } : {}), identity, sessionId, state, since };
}

/** Only the port's fields, in a fixed order (a caller's object may carry more). */
export function encodeStreamOwner(o: StreamOwner): string {
  return JSON.stringify({ stream: o.stream, nodeId: o.nodeId, url: o.url, ...(o.rtspUrl !== undefined ? { rtspUrl: o.rtspUrl } : {}), identity: o.identity, sessionId: o.sessionId, state: o.state, since: o.since });
}
