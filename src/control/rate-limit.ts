import type { FastifyInstance, FastifyReply, FastifyRequest } from "fastify";
import { Counter, Registry } from "prom-client";
import { ProblemError } from "../errors.js";
import type { RateLimitStore } from "../ports/rate-limit-store.js";

/** Where a request was refused for its rate: REST (every HTTP request), WebSocket messages, gRPC calls. */
export type RateLimitSurface = "rest" | "ws" | "grpc";

export interface RateLimitMetrics {
  /** `ifc_rate_limited_total{surface}`, merged into /metrics by the control plane. */
  registry: Registry;
  /** Counts one refusal. The gRPC limiter calls this with "grpc" (one metric, one registry: Registry.merge refuses duplicates). */
  limited(surface: RateLimitSurface): void;
}

export function rateLimitMetrics(): RateLimitMetrics {
  const registry = new Registry();
  const counter = new Counter({ name: "ifc_rate_limited_total", help: "Requests (rest), client messages (ws) and calls (grpc) refused by a rate limit", labelNames: ["surface"], registers: [registry] });
  // Zero series up front, so a dashboard's rate() has a baseline before the first refusal.
  for (const surface of ["rest", "ws", "grpc"] as const) counter.inc({ surface }, 0);
  return { registry, limited: (surface) => counter.inc({ surface }) };
}

export interface RestRateLimitOptions {
  store: RateLimitStore;
  /** Requests per client address per window; 0 turns the limit off. */
  limit: number;
  /** Window length (default one minute: the config key is per minute). */
  windowMs?: number;
  /** Called on each refusal (metrics). */
  onLimited?: () => void;
}

/**
 * Probes are exempt: a load balancer or kubelet polling /health and /ready from one address must
 * never be answered 429 and take a healthy node out of rotation. They do no work worth limiting.
 */
const EXEMPT_PATHS = new Set(["/health", "/ready"]);

/**
 * Per client address (`req.ip`: the socket's peer, since trustProxy is off — a forwarded header
 * would let a client pick its own bucket) at most `limit` requests per window, across every HTTP
 * surface on the one server: REST, WHIP, WHEP, HLS, the pages and WebSocket upgrades. Installed as
 * a root onRequest hook before the auth gate, so guessing tokens costs requests too.
 * Over the limit: 429 problem+json with `Retry-After` (whole seconds, rounded up) and the
 * `RateLimit-Limit`/`-Remaining`/`-Reset` headers of draft-ietf-httpapi-ratelimit-headers.
 */
export function installRestRateLimit(app: FastifyInstance, opts: RestRateLimitOptions): void {
  if (opts.limit <= 0) return;
  const windowMs = opts.windowMs ?? 60_000;
  app.addHook("onRequest", async (req: FastifyRequest, _reply: FastifyReply) => {
    if (EXEMPT_PATHS.has(pathOf(req.url))) return;
    const d = await opts.store.consume(`rest:${clientKey(req.ip)}`, opts.limit, windowMs);
    if (d.allowed) return;
    opts.onLimited?.();
    const seconds = Math.max(1, Math.ceil(d.retryAfterMs / 1000));
    throw new ProblemError(429, "rate-limited", "Too many requests",
      `more than ${opts.limit} requests per ${Math.round(windowMs / 1000)} s from this address; retry in ${seconds} s`,
      { limit: opts.limit, retry_after_s: seconds },
      { "retry-after": String(seconds), "ratelimit-limit": String(opts.limit), "ratelimit-remaining": "0", "ratelimit-reset": String(seconds) });
  });
}

/** One bucket per client whichever way the dual-stack socket reports it (`::ffff:10.0.0.1` is 10.0.0.1). */
export function clientKey(ip: string): string {
  return ip.startsWith("::ffff:") && ip.includes(".") ? ip.slice(7) : ip;
}

function pathOf(url: string): string {
  const q = url.indexOf("?");
  return q < 0 ? url : url.slice(0, q);
}
