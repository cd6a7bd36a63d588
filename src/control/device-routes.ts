import type { FastifyInstance, FastifyRequest } from "fastify";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { Type } from "typebox";
import { ProblemError } from "../errors.js";
import { DeviceLoginRefused, type DeviceStore } from "../inspection/sync/device-store.js";
import type { RateLimitStore } from "../ports/rate-limit-store.js";
import { DEVICE_PERMISSIONS, deviceIdOf, deviceSubject } from "./auth/device-principal.js";
import type { LoginLimits } from "./auth/local-authenticator.js";
import type { TokenIssuer } from "./auth/tokens.js";
import { problems } from "./schemas.js";

export interface DeviceRoutesOptions {
  devices: DeviceStore;
  tokens: TokenIssuer;
  /** Counts device logins apart from user logins, with the same limits. */
  rateLimits: RateLimitStore;
  limits: LoginLimits;
}

const tags = ["offline devices"];
const DeviceId = Type.String({ format: "uuid" });
const AnyObject = Type.Record(Type.String(), Type.Unknown());
const Paging = {
  limit: Type.Optional(Type.Integer({ minimum: 1, maximum: 500, default: 50 })),
  cursor: Type.Optional(Type.String({ maxLength: 512 })),
};
const DeviceView = Type.Object({
  device_id: Type.String(),
  name: Type.String(),
  platform: Type.String(),
  config: AnyObject,
  config_revision: Type.Integer(),
  registered_by: Type.Union([Type.String(), Type.Null()]),
  registered_at: Type.String(),
  last_seen_at: Type.Union([Type.String(), Type.Null()]),
  revoked_at: Type.Union([Type.String(), Type.Null()]),
});
const ConfigView = Type.Object({ device_id: Type.String(), config: AnyObject, config_revision: Type.Integer() });

/**
 * The device the caller's token names. Any other caller holds the permission but has no device
 * config to read: 404 (the gate's 403 stays the answer for a missing permission alone).
 */
export function callerDevice(req: FastifyRequest): string {
  const id = req.principal?.kind === "device" ? deviceIdOf(req.principal.subject) : undefined;
  if (id === undefined) throw new ProblemError(404, "not-a-device", "Not found", "this route answers a device about itself: log in with POST /api/v1/tauri/auth/login");
  return id;
}

/**
 * A device token is checked against the devices table on each request of the sync routes, so a
 * revoked device stops at once there, not when its token expires.
 */
export function refuseRevokedDevices(app: FastifyInstance, devices: DeviceStore): void {
  app.addHook("preHandler", async (req) => {
    if (req.principal?.kind !== "device") return;
    const id = deviceIdOf(req.principal.subject);
    if (id === undefined || !(await devices.isActive(id))) {
      throw new ProblemError(401, "unauthorized", "Unauthorized", "the device is revoked", { reason: "revoked" }, { "www-authenticate": 'Bearer realm="ifc", error="invalid_token"' });
    }
  });
}

function tooMany(retryAfterMs: number): ProblemError {
  const s = Math.max(1, Math.ceil(retryAfterMs / 1000));
  return new ProblemError(429, "rate-limited", "Too many requests", "too many device login attempts; try again later", { retry_after_s: s }, { "retry-after": String(s) });
}

/**
 * The documents' Tauri app endpoints (API design §6.3.2): an operator registers a device and
 * gets its secret once; the device logs in with it for an access token holding exactly the
 * device grants; it reads and writes its own config, optimistically on config_revision.
 */
export async function deviceRoutes(app: FastifyInstance, opts: DeviceRoutesOptions): Promise<void> {
  const { devices, tokens, rateLimits, limits } = opts;
  const r = app.withTypeProvider<TypeBoxTypeProvider>();
  refuseRevokedDevices(app, devices);

  r.post("/api/v1/tauri/devices/register", {
    config: { auth: { permission: "system:admin" } },
    schema: {
      tags,
      summary: "Register an offline device; its secret is in this answer only (the server keeps a SHA-256 of it)",
      body: Type.Object({
        name: Type.String({ minLength: 1, maxLength: 200 }),
        platform: Type.Optional(Type.String({ maxLength: 100 })),
        config: Type.Optional(AnyObject),
      }, { additionalProperties: false }),
      response: { 201: Type.Intersect([DeviceView, Type.Object({ secret: Type.String({ description: "shown once: the device logs in with it" }) })]), ...problems(400, 401, 403) },
    },
  }, async (req, reply) => {
    const made = await devices.register(req.body, req.principal?.subject ?? "anonymous");
    void reply.header("cache-control", "no-store");
    return reply.code(201).send(made);
  });

  r.get("/api/v1/tauri/devices", {
    config: { auth: { permission: "system:admin" } },
    schema: { tags, summary: "Registered devices (never their secrets), paged", querystring: Type.Object(Paging), response: { 200: Type.Object({ items: Type.Array(DeviceView), next_cursor: Type.Union([Type.String(), Type.Null()]), total: Type.Integer() }), ...problems(400, 401, 403) } },
  }, async (req) => devices.list({ limit: req.query.limit ?? 50, ...(req.query.cursor ? { cursor: req.query.cursor } : {}) }));

  r.delete("/api/v1/tauri/devices/:id", {
    config: { auth: { permission: "system:admin" } },
    schema: { tags, summary: "Revoke a device: it can no longer log in, and its token stops at the sync routes", params: Type.Object({ id: DeviceId }), response: { 200: DeviceView, ...problems(400, 401, 403, 404) } },
  }, async (req) => devices.revoke(req.params.id));

  r.post("/api/v1/tauri/auth/login", {
    config: { auth: { permission: "public" } },
    schema: {
      tags,
      summary: "A device logs in with its id and secret; returns an access token with the device grants only",
      body: Type.Object({ device_id: DeviceId, secret: Type.String({ minLength: 1, maxLength: 256 }) }, { additionalProperties: false }),
      response: {
        200: Type.Object({ access_token: Type.String(), token_type: Type.Literal("Bearer"), expires_in: Type.Integer(), device_id: Type.String(), permissions: Type.Array(Type.String()) }),
        ...problems(400, 401, 429),
      },
    },
  }, async (req, reply) => {
    // As user login: every attempt counts per address, every failure per device (a success clears it).
    const perClient = await rateLimits.consume(`device-login:client:${req.ip}`, limits.maxAttemptsPerClient, limits.windowMs);
    if (!perClient.allowed) throw tooMany(perClient.retryAfterMs);
    const key = `device-login:device:${req.body.device_id}`;
    const perDevice = await rateLimits.consume(key, limits.maxFailuresPerUser, limits.windowMs);
    if (!perDevice.allowed) throw tooMany(perDevice.retryAfterMs);
    try {
      await devices.login(req.body.device_id, req.body.secret);
    } catch (err) {
      if (err instanceof DeviceLoginRefused) {
        req.log.info({ device: req.body.device_id, reason: err.message }, "device login refused");
        throw new ProblemError(401, "unauthorized", "Unauthorized", err.message, { reason: "bad-credentials" }, { "www-authenticate": 'Bearer realm="ifc"' });
      }
      throw err;
    }
    await rateLimits.reset(key);
    const { token } = await tokens.signAccess(deviceSubject(req.body.device_id), "operator", DEVICE_PERMISSIONS);
    void reply.header("cache-control", "no-store");
    return { access_token: token, token_type: "Bearer" as const, expires_in: Math.ceil(tokens.accessTtlMs / 1000), device_id: req.body.device_id, permissions: [...DEVICE_PERMISSIONS] };
  });

  r.get("/api/v1/tauri/config", {
    config: { auth: { permission: "inspection:view" } },
    schema: { tags, summary: "The calling device's own config", response: { 200: ConfigView, ...problems(401, 403, 404) } },
  }, async (req) => {
    const d = await devices.get(callerDevice(req));
    return { device_id: d.device_id, config: d.config, config_revision: d.config_revision };
  });

  r.put("/api/v1/tauri/config", {
    config: { auth: { permission: "inspection:view" } },
    schema: {
      tags,
      summary: "Replace the calling device's config; config_revision must be the one read (else 409)",
      body: Type.Object({ config: AnyObject, config_revision: Type.Integer({ minimum: 1 }) }, { additionalProperties: false }),
      response: { 200: ConfigView, ...problems(400, 401, 403, 404, 409) },
    },
  }, async (req) => {
    const d = await devices.putConfig(callerDevice(req), req.body.config, req.body.config_revision);
    return { device_id: d.device_id, config: d.config, config_revision: d.config_revision };
  });
}
