import type { FastifyBaseLogger, FastifyInstance, FastifyRequest, RouteOptions } from "fastify";
import { Counter, Registry } from "prom-client";
import { ProblemError } from "../../errors.js";
import { AuthError, type Authenticator } from "./authenticator.js";
import { NetworkList } from "./networks.js";
import { grants } from "./permissions.js";
import type { AuditAction, Principal, RouteAuth } from "./principal.js";

/** The pages' login cookie; it holds an access token (never put in a URL). */
export const SESSION_COOKIE = "ifc_session";

const REALM = 'Bearer realm="ifc"';
const UNSAFE = new Set(["POST", "PUT", "PATCH", "DELETE"]);

/** The gate's counters (`ifc_auth_` prefix), in a registry the control plane merges into /metrics. */
export interface AuthGateMetrics {
  registry: Registry;
  /** 401s (and 429s of rate-limited credentials), by AuthFailureReason or `missing`. */
  failures: Counter<"reason">;
  /** 403s, by the permission that was needed. */
  denied: Counter<"permission">;
}

export function authGateMetrics(): AuthGateMetrics {
  const registry = new Registry();
  return {
    registry,
    failures: new Counter({ name: "ifc_auth_failures_total", help: "Requests refused for missing or bad credentials (401), by reason", labelNames: ["reason"], registers: [registry] }),
    denied: new Counter({ name: "ifc_auth_denied_total", help: "Requests refused for insufficient permissions (403), by the permission needed", labelNames: ["permission"], registers: [registry] }),
  };
}

export interface AuthGateOptions {
  authenticator: Authenticator;
  /** IFC_AUTH_ANONYMOUS_NETWORKS (CIDR): clients that may act without credentials; empty: nobody. */
  anonymousNetworks: readonly string[];
  /** IFC_AUTH_ANONYMOUS_PERMISSIONS: what they may do. */
  anonymousPermissions: readonly string[];
  /** IFC_METRICS_NETWORKS (CIDR): clients that may call routes with `auth.metricsNetworks` without credentials. */
  metricsNetworks: readonly string[];
  /** IFC_CORS_ORIGINS: origins besides the server's own that may send the cookie on unsafe methods. */
  corsOrigins: readonly string[];
  log: FastifyBaseLogger;
  metrics?: AuthGateMetrics;
}

/** Where a credential came from: it decides what a failure means (a stale cookie on a public route is ignored). */
type Source = "bearer" | "view-token" | "cookie";

/**
 * The one door of the HTTP server: an onRequest hook on the root instance, so it runs for every
 * route (REST, WHIP, WHEP, HLS, WebSocket upgrades, pages, /metrics) before parsing or handlers.
 *
 * - A matched route without `config.auth` is refused (403 `route-without-auth`): fail closed,
 *   so a route someone forgot to declare is never open. Unmatched URLs go on to the 404 handler.
 * - Credentials: `Authorization: Bearer`, then `?token=` (a view token, only where the route
 *   says `viewToken`), then the pages' cookie. Presented and refused → 401, never a fall back to
 *   anonymous (a client with a broken token must learn it, not silently get less).
 * - None: anonymous from IFC_AUTH_ANONYMOUS_NETWORKS, or `/metrics` from IFC_METRICS_NETWORKS,
 *   else 401 with `WWW-Authenticate`.
 * - The route's permission is checked against the stream it names (scoped grants); refused →
 *   403, or 401 for an anonymous caller (credentials could still get it in).
 *
 * Validates the CIDR lists at once: a typo in a network list stops the start with its name.
 */
export function installAuthGate(app: FastifyInstance, opts: AuthGateOptions): void {
  const anonymous = new NetworkList(opts.anonymousNetworks, "IFC_AUTH_ANONYMOUS_NETWORKS");
  const metricsNets = new NetworkList(opts.metricsNetworks, "IFC_METRICS_NETWORKS");
  const corsOrigins = new Set(opts.corsOrigins);
  const metrics = opts.metrics;

  const unauthorized = (reason: string, detail: string, err?: AuthError): ProblemError => {
    metrics?.failures.inc({ reason });
    if (err?.reason === "rate-limited") {
      return new ProblemError(429, "too-many-requests", "Too many requests", detail, {}, { "retry-after": String(Math.max(1, Math.ceil(err.retryAfterMs / 1000))) });
    }
    const challenge = err ? `${REALM}, error="invalid_token", error_description="${quoted(detail)}"` : REALM;
    return new ProblemError(401, err ? "invalid-token" : "unauthorized", "Unauthorized", detail, {}, { "www-authenticate": challenge });
  };

  // A refused WebSocket handshake answers on a socket Node's HTTP server no longer manages
  // (keep-alive and timeouts do not apply after 'upgrade'): close it, or every refused client
  // holds a socket for as long as it likes.
  app.addHook("onSend", async (req, reply, payload) => {
    if (isUpgrade(req) && reply.statusCode !== 101) reply.header("connection", "close");
    return payload;
  });
  app.addHook("onResponse", async (req, reply) => {
    if (isUpgrade(req) && reply.statusCode !== 101) req.raw.socket?.end();
  });

  app.addHook("onRequest", async (req: FastifyRequest) => {
    if (req.is404) return; // no route: the 404 handler answers, and it reveals nothing
    const auth = req.routeOptions.config.auth;
    if (!auth) {
      opts.log.error({ method: req.method, url: req.routeOptions.url }, "route declares no config.auth: refused (fail closed)");
      throw new ProblemError(403, "route-without-auth", "Forbidden", "this route declares no permission and is closed until it does");
    }
    const client = req.ip;
    const found = credentialOf(req, auth);
    let principal: Principal | undefined;

    if (found) {
      if (found.source === "cookie" && UNSAFE.has(req.method) && !sameOrAllowedOrigin(req, corsOrigins)) {
        metrics?.denied.inc({ permission: auth.permission });
        throw new ProblemError(403, "cross-origin", "Forbidden", "a cookie-authenticated change must come from this server's own origin or an allowed one (Origin header)");
      }
      try {
        if (!found.token) throw new AuthError("malformed", "the Authorization header must be: Bearer <token>");
        principal = found.source === "view-token" ? await opts.authenticator.verifyViewToken(found.token, client) : await opts.authenticator.verifyBearer(found.token, client);
      } catch (err) {
        if (!(err instanceof AuthError)) throw err;
        // A stale login cookie must not lock anyone out of the public routes (the login itself).
        if (!(found.source === "cookie" && auth.permission === "public")) {
          req.log.info({ reason: err.reason, source: found.source, client }, "credentials refused");
          throw unauthorized(err.reason, err.message, err);
        }
      }
    }

    if (!principal) {
      const network = anonymous.networkOf(client);
      principal = network !== undefined
        ? { kind: "anonymous", subject: "anonymous", permissions: opts.anonymousPermissions, client, network }
        : { kind: "anonymous", subject: "anonymous", permissions: [], client };
    }
    req.principal = principal;
    // The user/client child logger is made on first use only: pino's child() (bindings through
    // redaction) cost ~15 % of a GET /api/v1/streams in a profile, and most requests log nothing.
    const who = principal;
    const base = req.log;
    let child: FastifyBaseLogger | undefined;
    Object.defineProperty(req, "log", {
      configurable: true,
      enumerable: true,
      get: () => (child ??= base.child({ user: who.subject, client })),
      set: (v: FastifyBaseLogger) => {
        child = v;
      },
    });

    if (auth.permission === "public") return;
    const stream = streamOf(req, auth);
    if (grants(principal.permissions, auth.permission, stream)) return;
    if (principal.kind === "anonymous") {
      if (auth.metricsNetworks && metricsNets.has(client)) return;
      throw unauthorized("missing", `credentials needed: ${needs(auth.permission, stream)}`);
    }
    metrics?.denied.inc({ permission: auth.permission });
    req.log.info({ permission: auth.permission, stream }, "permission denied");
    throw new ProblemError(403, "forbidden", "Forbidden", `${principal.subject} lacks ${needs(auth.permission, stream)}`, { permission: auth.permission, ...(stream !== undefined ? { stream } : {}) });
  });
}

function isUpgrade(req: FastifyRequest): boolean {
  return req.raw.headers.upgrade !== undefined;
}

function needs(permission: string, stream: string | undefined): string {
  return stream === undefined ? `permission ${permission}` : `permission ${permission} on stream ${stream}`;
}

/** The credential a request presents, by precedence: header, view token (where allowed), cookie. */
function credentialOf(req: FastifyRequest, auth: RouteAuth): { source: Source; token: string } | undefined {
  const header = req.headers.authorization;
  if (header !== undefined) {
    const m = /^Bearer[ ]+(\S+)\s*$/i.exec(header);
    // A malformed Authorization header is a presented credential, not none.
    return { source: "bearer", token: m?.[1] ?? "" };
  }
  if (auth.viewToken) {
    const token = (req.query as Record<string, unknown> | undefined)?.token;
    if (typeof token === "string") return { source: "view-token", token };
  }
  const cookie = cookieValue(req, SESSION_COOKIE);
  if (cookie) return { source: "cookie", token: cookie };
  return undefined;
}

/** The cookie's value, from @fastify/cookie when it ran, else from the header (the gate must not depend on plugin order). */
function cookieValue(req: FastifyRequest, name: string): string | undefined {
  const parsed = (req as { cookies?: Record<string, string | undefined> }).cookies?.[name];
  if (parsed) return parsed;
  const header = req.headers.cookie;
  if (!header) return undefined;
  for (const part of header.split(";")) {
    const eq = part.indexOf("=");
    if (eq > 0 && part.slice(0, eq).trim() === name) return decodeURIComponent(part.slice(eq + 1).trim()) || undefined;
  }
  return undefined;
}

/** CSRF: a cookie rides along on any request a browser makes, so unsafe ones must name our origin (or an allowed one). */
function sameOrAllowedOrigin(req: FastifyRequest, allowed: ReadonlySet<string>): boolean {
  const origin = req.headers.origin;
  if (!origin || origin === "null") return false;
  if (allowed.has(origin)) return true;
  const host = req.headers.host;
  return host !== undefined && (origin === `http://${host}` || origin === `https://${host}`);
}

function streamOf(req: FastifyRequest, auth: RouteAuth): string | undefined {
  if (!auth.stream) return undefined;
  const from = (auth.stream.in === "params" ? req.params : req.query) as Record<string, unknown> | undefined;
  const value = from?.[auth.stream.name];
  return typeof value === "string" ? value : undefined;
}

function quoted(s: string): string {
  return s.replace(/[\\"]/g, "").replace(/[\r\n]/g, " ");
}

/** One registered route as the matrix test and the startup check see it. */
export interface CollectedRoute {
  method: string;
  url: string;
  auth: RouteAuth | undefined;
  audit: AuditAction | undefined;
  websocket: boolean;
}

/**
 * Records every route registered from now on (call it before the route plugins): the live
 * table the authorization matrix is generated from, and what `assertEveryRouteHasAuth` checks.
 */
export function collectRoutes(app: FastifyInstance): CollectedRoute[] {
  const routes: CollectedRoute[] = [];
  app.addHook("onRoute", (route: RouteOptions) => {
    const methods = Array.isArray(route.method) ? route.method : [route.method];
    const config = route.config as { auth?: RouteAuth; audit?: AuditAction } | undefined;
    for (const method of methods) {
      routes.push({ method, url: route.url, auth: config?.auth, audit: config?.audit, websocket: (route as { websocket?: boolean }).websocket === true });
    }
  });
  return routes;
}

/** Refuses to start with a route that declares no permission (the gate would refuse it anyway; better to know at start). */
export function assertEveryRouteHasAuth(routes: readonly CollectedRoute[]): void {
  const open = routes.filter((r) => !r.auth);
  if (open.length > 0) {
    throw new Error(`routes without config.auth (every route must declare its permission): ${open.map((r) => `${r.method} ${r.url}`).join(", ")}`);
  }
}
