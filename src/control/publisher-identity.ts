import type { Principal } from "./auth/principal.js";

/**
 * The credentials behind a publish, as one string: a publisher with the same identity may
 * resume its `reconnecting` stream or take over one the server still thinks is live; another
 * identity gets 409. A user, an external subject and a publish key are each themselves.
 * Anonymous callers only publish from IFC_AUTH_ANONYMOUS_NETWORKS: those from the same
 * configured network count as the same (a camera that roamed to another address in it comes
 * back as itself); another network is another identity. Without a gate in front (unit tests)
 * everyone is one anonymous.
 */
export function publisherIdentity(principal: Principal | undefined): string {
  if (!principal) return "anonymous";
  if (principal.kind === "anonymous") return principal.network !== undefined ? `anonymous:${principal.network}` : "anonymous";
  if (principal.kind === "publish-key") return `publish-key:${principal.credentialId ?? principal.subject}`;
  return `${principal.kind}:${principal.subject}`;
}
