import type { FastifyInstance } from "fastify";
import type { Logger } from "pino";
import { AUDIT_TOPIC, type EventBus } from "../ports/event-bus.js";
import type { AuditEntry, AuditSink } from "./auth/principal.js";

/** Version of the `audit-events` value; consumers check it before reading fields. */
export const AUDIT_SCHEMA_VERSION = 1;

/**
 * The audit trail: each entry is one info log line flagged `audit: true` (greppable, shipped with
 * the other logs) and one `audit-events` bus event (in-process, or Kafka for a SIEM). Recording
 * never throws or waits: an audit write must not fail the action it records. Entries carry no
 * secrets by contract (AuditEntry.details); a failed login names the user tried, never the password.
 */
export function createAuditSink(logger: Logger, bus: EventBus, now: () => Date = () => new Date()): AuditSink {
  const log = logger.child({ component: "audit" });
  return {
    record(entry: AuditEntry): void {
      const { action, who, from, target, via, details } = entry;
      try {
        // details first, so they can never overwrite the fixed fields
        log.info({ ...details, audit: true, action, who, from, target, via }, `audit ${action}`);
        bus.publish({
          topic: AUDIT_TOPIC,
          key: target ?? who,
          value: { schema_version: AUDIT_SCHEMA_VERSION, action, who, from, target: target ?? null, via, details: details ?? {}, at: now().toISOString() },
        });
      } catch (err) {
        log.error({ err, action }, "audit entry not recorded");
      }
    },
  };
}

/** Route params naming what a route acts on, in order of preference. */
const TARGET_PARAMS = ["stream", "id", "username"] as const;

/**
 * Records the action a route declares in `config.audit` when it answers 2xx: who is the
 * principal the auth gate set (`anonymous` without one), from is the client address, target the
 * route's stream, id or username param. Refused or failed requests change nothing, so they are
 * not audited here (failed logins are recorded by the login route itself).
 * A root hook: install it before the routes are registered.
 */
export function installAuditHook(app: FastifyInstance, sink: AuditSink): void {
  app.addHook("onResponse", async (req, reply) => {
    const action = req.routeOptions.config.audit;
    if (!action || reply.statusCode < 200 || reply.statusCode >= 300) return;
    const params = (req.params ?? {}) as Record<string, unknown>;
    const target = TARGET_PARAMS.map((p) => params[p]).find((v): v is string => typeof v === "string");
    const details: Record<string, unknown> = { method: req.method, route: req.routeOptions.url, status: reply.statusCode };
    if (typeof params.recording === "string") details.recording = params.recording;
    sink.record({ action, who: req.principal?.subject ?? "anonymous", from: req.ip, ...(target !== undefined ? { target } : {}), via: "rest", details });
  });
}
