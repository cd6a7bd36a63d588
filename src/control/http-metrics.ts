import type { FastifyInstance } from "fastify";
import { Gauge, Histogram, Registry } from "prom-client";

/** Latency buckets (s): sub-millisecond REST answers up to the 30 s of a blocking LL-HLS reload. */
const BUCKETS = [0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30];

/**
 * HTTP metrics of the one server, in their own registry (merged into /metrics by the control
 * plane): `ifc_http_request_duration_seconds{route,method,status}` and
 * `ifc_http_requests_in_flight`. The route label is Fastify's route template
 * (`/api/v1/streams/:stream`), `unmatched` when no route matched: never the raw URL, whose stream
 * names, session ids and query strings would grow the series without bound.
 * WebSocket upgrades are left out: the connection outlives any request duration.
 * Root hooks: install before the routes are registered.
 */
export function httpMetrics(app: FastifyInstance): Registry {
  const registry = new Registry();
  const duration = new Histogram({
    name: "ifc_http_request_duration_seconds", help: "HTTP request duration (first byte in to last byte out), by route template, method and status",
    labelNames: ["route", "method", "status"], buckets: BUCKETS, registers: [registry],
  });
  const inFlight = new Gauge({ name: "ifc_http_requests_in_flight", help: "HTTP requests being handled", registers: [registry] });

  app.addHook("onRequest", async (req, reply) => {
    if (req.headers.upgrade) return;
    inFlight.inc();
    // 'close' comes once whether the response finished or the client went away mid-way
    // (onResponse alone would miss aborted requests and leave the gauge high forever).
    reply.raw.once("close", () => inFlight.dec());
  });
  app.addHook("onResponse", async (req, reply) => {
    if (req.headers.upgrade) return;
    duration.observe({ route: req.routeOptions.url ?? "unmatched", method: req.method, status: String(reply.statusCode) }, reply.elapsedTime / 1000);
  });
  return registry;
}
