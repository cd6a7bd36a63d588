import { Writable } from "node:stream";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { InProcessEventBus } from "../../../src/adapters/events/in-process-event-bus.js";
import { createApp } from "../../../src/control/app.js";
import { createAuditSink, installAuditHook } from "../../../src/control/audit.js";
import { NotFoundError } from "../../../src/errors.js";
import { AUDIT_TOPIC, type BusEvent } from "../../../src/ports/event-bus.js";
import { waitFor } from "../../support/wait-for.js";

/** A pino logger whose JSON lines land in an array. */
function capturedLogger() {
  const lines: Record<string, unknown>[] = [];
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      for (const l of chunk.toString().split("\n")) if (l) lines.push(JSON.parse(l) as Record<string, unknown>);
      cb();
    },
  });
  return { logger: pino({ level: "info" }, stream), lines };
}

function busWithSubscriber() {
  const bus = new InProcessEventBus();
  const events: BusEvent[] = [];
  bus.subscribe(AUDIT_TOPIC, (e) => events.push(e));
  return { bus, events };
}

describe("createAuditSink", () => {
  it("writes one structured info line and one audit-events bus event, keyed by the target", () => {
    const { logger, lines } = capturedLogger();
    const { bus, events } = busWithSubscriber();
    const sink = createAuditSink(logger, bus, () => new Date("2026-01-02T03:04:05.000Z"));
    sink.record({ action: "key.created", who: "alice", from: "10.1.2.3", target: "cam1", via: "rest", details: { keyId: "k1" } });
    const line = lines.find((l) => l.audit === true);
    expect(line).toMatchObject({ level: 30, audit: true, action: "key.created", who: "alice", from: "10.1.2.3", target: "cam1", via: "rest", keyId: "k1" });
    expect(events).toEqual([{
      topic: "audit-events", key: "cam1",
      value: { schema_version: 1, action: "key.created", who: "alice", from: "10.1.2.3", target: "cam1", via: "rest", details: { keyId: "k1" }, at: "2026-01-02T03:04:05.000Z" },
    }]);
  });

  it("keys an entry without a target by who, and details cannot overwrite the fixed fields", () => {
    const { logger, lines } = capturedLogger();
    const { bus, events } = busWithSubscriber();
    createAuditSink(logger, bus).record({ action: "auth.login_failed", who: "mallory", from: "10.9.9.9", via: "rest", details: { who: "admin", reason: "bad-password" } });
    expect(events[0]?.key).toBe("mallory");
    expect(events[0]?.value).toMatchObject({ who: "mallory", target: null, details: { who: "admin", reason: "bad-password" } });
    expect(lines.find((l) => l.audit)).toMatchObject({ who: "mallory", reason: "bad-password" });
  });
});

describe("installAuditHook", () => {
  async function appWithAudit() {
    const { logger } = capturedLogger();
    const { bus, events } = busWithSubscriber();
    const app = createApp({ logger: pino({ level: "silent" }), bodyLimit: 1024, corsOrigins: [] });
    installAuditHook(app, createAuditSink(logger, bus));
    // stands in for the auth gate: a principal when the test sends one
    app.addHook("onRequest", async (req) => {
      const user = req.headers["x-test-user"];
      if (typeof user === "string") req.principal = { kind: "user", subject: user, permissions: ["*"], client: req.ip };
    });
    app.post<{ Params: { stream: string } }>("/api/v1/streams/:stream/recording", { config: { audit: "recording.started" } }, async (req, reply) => {
      if (req.params.stream === "offline") throw new NotFoundError("not live");
      return reply.code(201).send({ ok: true });
    });
    app.delete<{ Params: { id: string } }>("/api/v1/clips/:id", { config: { audit: "clip.deleted" } }, async (_req, reply) => reply.code(204).send());
    app.patch("/api/v1/users/:username", { config: { audit: "user.changed" } }, async () => ({ ok: true }));
    app.get("/api/v1/streams", async () => ({ streams: [] }));
    await app.ready();
    return { app, events };
  }

  it("records a 2xx answer of an audited route: who from the principal, from the client, target from the stream/id/username param", async () => {
    const { app, events } = await appWithAudit();
    await app.inject({ method: "POST", url: "/api/v1/streams/cam1/recording", headers: { "x-test-user": "olivia" }, remoteAddress: "10.0.0.7" });
    await app.inject({ method: "DELETE", url: "/api/v1/clips/c-42", remoteAddress: "127.0.0.1" });
    await app.inject({ method: "PATCH", url: "/api/v1/users/bob", headers: { "x-test-user": "admin" }, remoteAddress: "10.0.0.8" });
    // onResponse runs once the answer is out
    await waitFor(() => events.length === 3, { what: "three audit events" });
    expect(events.map((e) => [e.key, e.value.action, e.value.who, e.value.from, e.value.via])).toEqual([
      ["cam1", "recording.started", "olivia", "10.0.0.7", "rest"],
      ["c-42", "clip.deleted", "anonymous", "127.0.0.1", "rest"],
      ["bob", "user.changed", "admin", "10.0.0.8", "rest"],
    ]);
    expect(events[0]?.value.details).toMatchObject({ method: "POST", route: "/api/v1/streams/:stream/recording", status: 201 });
    await app.close();
  });

  it("records nothing for a refused action or an unaudited route", async () => {
    const { app, events } = await appWithAudit();
    expect((await app.inject({ method: "POST", url: "/api/v1/streams/offline/recording" })).statusCode).toBe(404);
    expect((await app.inject({ method: "GET", url: "/api/v1/streams" })).statusCode).toBe(200);
    expect((await app.inject({ method: "GET", url: "/nope" })).statusCode).toBe(404);
    // an audited 2xx after them: once it is recorded, the earlier answers' hooks have run
    await app.inject({ method: "DELETE", url: "/api/v1/clips/c-1" });
    await waitFor(() => events.length > 0, { what: "the audit event of the 2xx" });
    expect(events.map((e) => e.value.action)).toEqual(["clip.deleted"]);
    await app.close();
  });
});
