import type { ServerOptions as HttpsServerOptions } from "node:https";
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance } from "fastify";
import type { Logger } from "pino";
import { DomainError } from "../core/errors.js";
import { ProblemError, problemType } from "../errors.js";
import { problemOfDomainError } from "./domain-problem.js";

export interface AppOptions {
  logger: Logger;
  /** Largest request body accepted anywhere (bytes). */
  bodyLimit: number;
  /** Origins allowed to call from a browser (CORS); empty: none. */
  corsOrigins: readonly string[];
  /** HTTPS instead of HTTP (control/tls.ts); the server is then a tls.Server. */
  https?: HttpsServerOptions;
}

const TEXT_TYPES = ["application/sdp", "application/trickle-ice-sdpfrag"];

/**
 * The one HTTP server (WHIP, WHEP, HLS, REST, WebSocket share its port). Every error leaves as
 * RFC 7807 problem+json, whatever produced it: our typed errors, Fastify's own (body too large,
 * bad content type, schema validation) or an unexpected exception.
 */
export function createApp(opts: AppOptions): FastifyInstance {
  const app = Fastify({
    loggerInstance: opts.logger as FastifyBaseLogger,
    bodyLimit: opts.bodyLimit,
    // Per-request access logs are off (WHIP PATCHes and playlist polls would flood them).
    logController: new LogController({ disableRequestLogging: true }),
    // Offers and trickle fragments are small; answering slowly clients must not pin sockets.
    requestTimeout: 30_000,
    ...(opts.https ? { https: opts.https } : {}),
  }) as unknown as FastifyInstance;

  app.addContentTypeParser(TEXT_TYPES, { parseAs: "string" }, (_req, body, done) => done(null, body));
  // Any other body is taken as opaque text, so each route decides (415) rather than Fastify.
  app.addContentTypeParser("*", { parseAs: "string" }, (_req, body, done) => done(null, body));

  if (opts.corsOrigins.length > 0) {
    const allowed = new Set(opts.corsOrigins);
    app.addHook("onRequest", async (req, reply) => {
      const origin = req.headers.origin;
      if (!origin || !(allowed.has(origin) || allowed.has("*"))) return;
      // The origin is echoed, never `*`, so credentials can never ride on a wildcard.
      reply.header("access-control-allow-origin", origin);
      reply.header("vary", "origin");
      reply.header("access-control-expose-headers", "location, etag, link, accept-post, accept-patch, retry-after");
      if (req.method === "OPTIONS") {
        reply.header("access-control-allow-methods", "GET, POST, PUT, PATCH, DELETE, OPTIONS");
        reply.header("access-control-allow-headers", "content-type, if-match, authorization");
        reply.header("access-control-max-age", "600");
      }
    });
    app.options("*", async (_req, reply) => reply.code(204).send());
  }

  app.setErrorHandler((err: FastifyError | ProblemError | Error, req, reply) => {
    const problem = toProblem(err);
    // 503 and 507 are the server working as configured (limits, shutdown, a full clip store), not a fault.
    const refusedByLimit = problem.status === 503 || problem.status === 507;
    if (problem.status >= 500 && !refusedByLimit) req.log.error({ err }, "request failed");
    else if (refusedByLimit) req.log.warn({ detail: problem.message }, "request refused");
    else req.log.debug({ status: problem.status, detail: problem.message }, "request refused");
    for (const [k, v] of Object.entries(problem.headers)) reply.header(k, v);
    void reply.code(problem.status).type("application/problem+json").send(problem.toJSON(req.url));
  });

  app.setNotFoundHandler((req, reply) => {
    void reply
      .code(404)
      .type("application/problem+json")
      .send({ type: problemType("not-found"), title: "Not found", status: 404, detail: `no route for ${req.method} ${req.url.split("?")[0]}` });
  });

  return app;
}

/** Every error as the problem it answers: ours as typed, domain errors mapped, Fastify's by code, anything else 500. */
function toProblem(err: FastifyError | ProblemError | Error): ProblemError {
  if (err instanceof ProblemError) return err;
  if (err instanceof DomainError) return problemOfDomainError(err);
  const fe = err as FastifyError;
  if (fe.code === "FST_ERR_CTP_BODY_TOO_LARGE") return new ProblemError(413, "payload-too-large", "Payload too large", fe.message);
  if (fe.code === "FST_ERR_CTP_INVALID_MEDIA_TYPE") return new ProblemError(415, "unsupported-media-type", "Unsupported media type", fe.message);
  if (fe.validation) return new ProblemError(400, "validation", "Invalid request", fe.message);
  if (typeof fe.statusCode === "number" && fe.statusCode >= 400 && fe.statusCode < 500) {
    return new ProblemError(fe.statusCode, "bad-request", "Bad request", fe.message);
  }
  return new ProblemError(500, "internal", "Internal error", "the server failed to handle the request");
}
