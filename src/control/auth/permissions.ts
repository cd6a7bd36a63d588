/**
 * Roles and permission strings, one model for every surface (REST, WHIP, WHEP, HLS, WebSocket,
 * pages, gRPC, /metrics). A permission is `resource:action`, optionally scoped to stream names by
 * a third part with `*` wildcards (`stream:view:line1-*`), the way MediaMTX's JWT carries
 * per-path permissions. `*` alone grants everything.
 */

/** The design documents' batch/product permissions and the media server's own. */
export const PERMISSIONS = [
  "pipeline:execute",
  "pipeline:view",
  "product:search",
  "inspection:create",
  "inspection:view",
  "stream:publish",
  "stream:view",
  /** Kick a publisher, pin a stream's QoS preset. */
  "stream:control",
  "recording:view",
  "recording:control",
  "recording:export",
  "system:view",
  "system:admin",
] as const;
export type Permission = (typeof PERMISSIONS)[number];

export const ROLES = ["admin", "operator", "viewer"] as const;
export type Role = (typeof ROLES)[number];

export const ROLE_PERMISSIONS: Readonly<Record<Role, readonly string[]>> = {
  admin: ["*"],
  operator: [
    "pipeline:execute", "pipeline:view", "product:search", "inspection:create", "inspection:view",
    "stream:publish", "stream:view", "stream:control", "recording:view", "recording:control", "recording:export", "system:view",
  ],
  viewer: ["pipeline:view", "product:search", "inspection:view", "stream:view", "recording:view"],
};

export function isRole(value: string): value is Role {
  return (ROLES as readonly string[]).includes(value);
}

const GRANT = /^(\*|[a-z]+:[a-z_]+(:[A-Za-z0-9_.*~-]+)?)$/;

/** A grant string's syntax (`*`, `resource:action`, `resource:action:pattern`). */
export function isGrant(value: string): boolean {
  return GRANT.test(value);
}

function globMatch(pattern: string, name: string): boolean {
  if (!pattern.includes("*")) return pattern === name;
  const parts = pattern.split("*");
  if (!name.startsWith(parts[0]!)) return false;
  let at = parts[0]!.length;
  for (let i = 1; i < parts.length - 1; i++) {
    const found = name.indexOf(parts[i]!, at);
    if (found < 0) return false;
    at = found + parts[i]!.length;
  }
  const last = parts[parts.length - 1]!;
  return name.length - at >= last.length && name.endsWith(last);
}

/**
 * Whether `granted` allows `needed` on `stream`. With `stream` undefined (a route over all
 * streams, such as a listing), a scoped grant counts: the route filters what it returns with
 * `grantsFor` per item.
 */
export function grants(granted: readonly string[], needed: Permission, stream?: string): boolean {
  for (const g of granted) {
    if (g === "*") return true;
    const first = g.indexOf(":");
    const second = g.indexOf(":", first + 1);
    const base = second < 0 ? g : g.slice(0, second);
    if (base !== needed) continue;
    if (second < 0 || stream === undefined) return true;
    if (globMatch(g.slice(second + 1), stream)) return true;
  }
  return false;
}

/** Whether `granted` allows `needed` on every stream (no scope). */
export function grantsUnscoped(granted: readonly string[], needed: Permission): boolean {
  return granted.some((g) => g === "*" || g === needed);
}
