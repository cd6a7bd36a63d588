import type { FastifyInstance } from "fastify";

export interface CorsOptions {
  /** Web origins allowed to call from a browser (IFC_CORS_ORIGINS); empty: none. `*` echoes any origin, without credentials. */
  origins: readonly string[];
}

const EXPOSED = "location, etag, link, accept-post, accept-patch, retry-after, www-authenticate";
const METHODS = "GET, POST, PUT, PATCH, DELETE, OPTIONS";
const HEADERS = "content-type, if-match, authorization";

/**
 * CORS by allow-list. The request's origin is echoed when allowed, never `*`, so
 * `Access-Control-Allow-Credentials` only ever rides on one named origin, and `Vary: Origin`
 * keeps caches from serving one origin's answer to another. Preflights from allowed origins are
 * answered here, in the first onRequest hook, before the auth gate (a preflight carries no
 * credentials by definition); a preflight from any other origin falls through to the route,
 * which answers without CORS headers, so the browser refuses.
 */
export function registerCors(app: FastifyInstance, opts: CorsOptions): void {
  const allowed = new Set(opts.origins);
  const isAllowed = (origin: string): boolean => allowed.has(origin) || allowed.has("*");
  app.addHook("onRequest", async (req, reply) => {
    // Every answer may differ by Origin once CORS is on: caches must key on it.
    if (allowed.size > 0) reply.header("vary", "origin");
    const origin = req.headers.origin;
    if (!origin || !isAllowed(origin)) return;
    reply.header("access-control-allow-origin", origin);
    // A wildcard in the list admits any origin, but never with credentials (cookies).
    if (allowed.has(origin)) reply.header("access-control-allow-credentials", "true");
    reply.header("access-control-expose-headers", EXPOSED);
    if (req.method === "OPTIONS" && req.headers["access-control-request-method"] !== undefined) {
      reply.header("access-control-allow-methods", METHODS);
      reply.header("access-control-allow-headers", HEADERS);
      reply.header("access-control-max-age", "600");
      return reply.code(204).send();
    }
  });
}
