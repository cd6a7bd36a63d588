import type { ServerOptions as HttpsServerOptions } from "node:https";
import Fastify, { LogController, type FastifyBaseLogger, type FastifyError, type FastifyInstance, type FastifyRequest } from "fastify";
import type { Logger } from "pino";
import { ProblemError, UnsupportedMediaTypeError } from "../errors.js";
import { capConnectionsPerClient } from "./connection-limits.js";
import { registerCors } from "./cors.js";
import { clientErrorHandler, frameworkErrors, MethodIndex, sendProblem, toProblem } from "./http-errors.js";
import { openApiPlugin, type OpenApiOptions } from "./openapi.js";
import { addSharedSchemas } from "./schemas.js";
import { lazyChildLoggerFactory } from "./lazy-logger.js";
import { attachSchemaCompilers, lazySchemaCompilers } from "./lazy-schema-compilers.js";

export interface AppOptions {
  logger: Logger;
  /** Largest request body accepted anywhere (bytes). */
  bodyLimit: number;
  /** Origins allowed to call from a browser (CORS); empty: none. */
  corsOrigins: readonly string[];
  /** HTTPS instead of HTTP (control/tls.ts); the server is then a tls.Server. */
  https?: HttpsServerOptions;
  /** A client must send a request's headers within this time (IFC_HTTP_HEADERS_TIMEOUT_MS; default 10 s). */
  headersTimeoutMs?: number;
  /** A client must send a whole request within this time (IFC_HTTP_REQUEST_TIMEOUT_MS; default 30 s). */
  requestTimeoutMs?: number;
  /** Most open connections from one client address (IFC_HTTP_MAX_CONNECTIONS_PER_CLIENT); unset: no cap. */
  maxConnectionsPerClient?: number;
  /** The OpenAPI document at /openapi.json and Swagger UI at /docs; off when unset (unit tests). */
  openapi?: OpenApiOptions;
}

/** A registered route as the OpenAPI document must show it (hidden docs routes and HEAD twins aside). */
export interface RegisteredRoute {
  method: string;
  url: string;
  hidden: boolean;
}
const registered = new WeakMap<FastifyInstance, RegisteredRoute[]>();

/** Every route registered on an app made by createApp, collected by its onRoute hook. */
export function registeredRoutes(app: FastifyInstance): readonly RegisteredRoute[] {
  return registered.get(app) ?? [];
}

const TEXT_TYPES = ["application/sdp", "application/trickle-ice-sdpfrag"];
const JSON_TYPE = /^application\/([a-z0-9.+-]+\+)?json\s*(;|$)/i;

/** Node's http.Server timing options: headers and whole-request deadlines, checked often enough to matter. */
export function serverTimingOptions(opts: Pick<AppOptions, "headersTimeoutMs" | "requestTimeoutMs">): { headersTimeout: number; requestTimeout: number; connectionsCheckingInterval: number } {
  const requestTimeout = opts.requestTimeoutMs ?? 30_000;
  // Node refuses a headers timeout above the request timeout.
  const headersTimeout = Math.min(opts.headersTimeoutMs ?? 10_000, requestTimeout);
  // Node checks both deadlines on this interval (default 30 s): a small timeout needs a short one.
  const connectionsCheckingInterval = Math.max(50, Math.min(1000, Math.floor(headersTimeout / 4)));
  return { headersTimeout, requestTimeout, connectionsCheckingInterval };
}

/**
 * The one HTTP server (WHIP, WHEP, HLS, REST, WebSocket share its port). Every error leaves as
 * RFC 7807 problem+json, whatever produced it: our typed errors, Fastify's own (body too large,
 * bad content type, schema validation, router errors), Node's HTTP parser (a raw response on
 * the socket), an unknown path (404) or method (405 with Allow), or an unexpected exception.
 * Validation uses the routes' JSON schemas with unknown fields refused, not stripped.
 */
export function createApp(opts: AppOptions): FastifyInstance {
  const timing = serverTimingOptions(opts);
  const schemaCompilers = lazySchemaCompilers();
  const app = Fastify({
    loggerInstance: opts.logger as FastifyBaseLogger,
    childLoggerFactory: lazyChildLoggerFactory,
    bodyLimit: opts.bodyLimit,
    // Per-request access logs are off (WHIP PATCHes and playlist polls would flood them).
    logController: new LogController({ disableRequestLogging: true }),
    requestTimeout: timing.requestTimeout,
    // The timing options can only be set when the server is made, HTTP or HTTPS alike.
    ...(opts.https ? { https: { ...opts.https, ...timing } } : { http: timing }),
    ajv: {
      customOptions: {
        // Fastify's default strips unknown body fields silently; a typo must be a 400 naming it.
        removeAdditional: false,
        // Every failing field is listed (bodies are small: bodyLimit bounds the work).
        allErrors: true,
        coerceTypes: "array",
        useDefaults: true,
      },
    },
    frameworkErrors,
    clientErrorHandler,
    // Each route's schemas are compiled at its first request, not at ready (lazy-schema-compilers.ts).
    schemaController: { compilersFactory: schemaCompilers.compilersFactory },
  }) as unknown as FastifyInstance;
  attachSchemaCompilers(app, schemaCompilers);
  app.server.headersTimeout = timing.headersTimeout;
  if (opts.maxConnectionsPerClient !== undefined) {
    capConnectionsPerClient(app.server, opts.maxConnectionsPerClient, (client) => opts.logger.warn({ client }, "connection refused: too many open connections from this client"));
  }

  addSharedSchemas(app);
  app.addContentTypeParser(TEXT_TYPES, { parseAs: "string" }, (_req, body, done) => done(null, body));

  const methods = new MethodIndex();
  const routes: RegisteredRoute[] = [];
  registered.set(app, routes);
  app.addHook("onRoute", (route) => {
    methods.add(route.url, route.method);
    for (const m of Array.isArray(route.method) ? route.method : [route.method]) {
      if (m !== "HEAD") routes.push({ method: m, url: route.url, hidden: (route.schema as { hide?: boolean } | undefined)?.hide === true });
    }
    // A JSON body route refuses other content types with 415 before any parser runs (the text
    // parser would otherwise hand a string to the schema, which answers 400). Routes taking
    // other bodies (SDP) declare `consumes` and check their own types.
    const schema = route.schema as { body?: unknown; consumes?: unknown } | undefined;
    if (schema?.body !== undefined && schema.consumes === undefined) {
      const hooks = route.onRequest === undefined ? [] : Array.isArray(route.onRequest) ? route.onRequest : [route.onRequest];
      route.onRequest = [...hooks, requireJsonBody];
    }
  });

  registerCors(app, { origins: opts.corsOrigins });

  app.setErrorHandler((err: FastifyError | ProblemError | Error, req, reply) => {
    const problem = toProblem(err);
    // 503 and 507 are the server working as configured (limits, shutdown, a full clip store), not a fault.
    const refusedByLimit = problem.status === 503 || problem.status === 507;
    if (problem.status >= 500 && !refusedByLimit) req.log.error({ err }, "request failed");
    else if (refusedByLimit) req.log.warn({ detail: problem.message }, "request refused");
    else req.log.debug({ status: problem.status, detail: problem.message }, "request refused");
    sendProblem(reply, req, problem);
  });

  app.setNotFoundHandler((req, reply) => {
    const path = req.url.split("?")[0] ?? "/";
    const allowed = methods.allowed(path);
    if (allowed && !allowed.includes(req.method)) {
      const allow = allowed.join(", ");
      sendProblem(reply, req, new ProblemError(405, "method-not-allowed", "Method not allowed", `${req.method} is not allowed on ${path}; allowed: ${allow}`, { allowed }, { allow }));
      return;
    }
    sendProblem(reply, req, new ProblemError(404, "not-found", "Not found", `no route for ${req.method} ${path}`));
  });

  if (opts.openapi) {
    // Registered before the route plugins so swagger's onRoute hook sees every route.
    void app.register(openApiPlugin, opts.openapi);
  }

  return app;
}

async function requireJsonBody(req: FastifyRequest): Promise<void> {
  const hasBody = req.headers["transfer-encoding"] !== undefined || Number(req.headers["content-length"] ?? 0) > 0;
  if (!hasBody) return;
  const type = req.headers["content-type"];
  if (type === undefined || !JSON_TYPE.test(type)) throw new UnsupportedMediaTypeError(type, "application/json");
}
