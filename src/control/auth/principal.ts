import type { Permission } from "./permissions.js";

/** Who is calling, as every surface sees it once credentials are checked. */
export interface Principal {
  /**
   * `user`: a local user's access token (or the pages' cookie); `external`: a token of the
   * identity provider at IFC_AUTH_JWKS_URL; `publish-key`: a stream's publish key; `view-token`:
   * a short-lived signed token for players; `device`: an offline inspection device's access token
   * (subject `device:<id>`); `anonymous`: no credentials, from an anonymous network.
   */
  kind: "user" | "external" | "publish-key" | "view-token" | "device" | "anonymous";
  /** User name, key id or `anonymous`: what logs and the audit trail name. */
  subject: string;
  /** Grant strings (see permissions.ts). */
  permissions: readonly string[];
  /** The client's address. */
  client: string;
  /** Token id (`jti`) or key id, when the credential has one (revocation, audit). */
  credentialId?: string;
  /** Anonymous callers: the IFC_AUTH_ANONYMOUS_NETWORKS entry their address is in. */
  network?: string;
}

/** What a route needs, declared in its `config.auth`; a route without one is refused (fail closed). */
export interface RouteAuth {
  /** `public`: no credentials needed (health, login, JWKS, docs, the pages' HTML). */
  permission: Permission | "public";
  /** Request part naming the stream a scoped grant is checked against (`params.stream`, `query.stream`). */
  stream?: { in: "params" | "query"; name: string };
  /** Players cannot set headers: accept a signed view token in `?token=` (HLS, playback, WHEP, WebSocket). */
  viewToken?: boolean;
  /** Networks in IFC_METRICS_NETWORKS may call without credentials (`/metrics`). */
  metricsNetworks?: boolean;
}

/** The audit trail's verbs (see audit.ts). */
export type AuditAction =
  | "auth.login"
  | "auth.login_failed"
  | "auth.logout"
  | "auth.refresh_reuse"
  | "key.created"
  | "key.revoked"
  | "recording.started"
  | "recording.stopped"
  | "recording.tagged"
  | "clip.exported"
  | "clip.deleted"
  | "stream.kicked"
  | "qos.pinned"
  | "user.created"
  | "user.changed";

export interface AuditEntry {
  action: AuditAction;
  /** Principal subject (user, key id, `anonymous`), or the user name tried for a failed login. */
  who: string;
  /** Client address. */
  from: string;
  /** What was acted on: a stream, clip id, key id or user name. */
  target?: string;
  /** Extra fields (never a secret). */
  details?: Record<string, unknown>;
  /** `rest`, `grpc`, `whip`, `cli`… */
  via: string;
}

/** Where audit entries go: a structured log line and an `audit-events` bus event. */
export interface AuditSink {
  record(entry: AuditEntry): void;
}

declare module "fastify" {
  interface FastifyContextConfig {
    auth?: RouteAuth;
    /** Recorded in the audit trail when the route answers 2xx (the target is the route's stream/id/name param). */
    audit?: AuditAction;
  }
  interface FastifyRequest {
    /** Set by the auth hook before any handler runs. */
    principal?: Principal;
  }
}
