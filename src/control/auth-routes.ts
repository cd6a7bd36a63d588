import type { FastifyInstance, FastifyRequest } from "fastify";
import type { TypeBoxTypeProvider } from "@fastify/type-provider-typebox";
import { Type } from "typebox";
import { ProblemError } from "../errors.js";
import { asProblem } from "./auth/auth-problem.js";
import { empty, problems, StreamNameRef } from "./schemas.js";
import type { Authenticator } from "./auth/authenticator.js";
import { generatePassword, MAX_PASSWORD_LENGTH } from "./auth/password.js";
import type { Principal } from "./auth/principal.js";
import type { PublishKeys } from "./auth/publish-keys.js";
import type { Keyring } from "./auth/signing-keys.js";
import type { UserStore } from "./auth/user-store.js";

export interface AuthRoutesOptions {
  authenticator: Authenticator & {
    /** Ends every refresh session of a user (disabled, or password changed). */
    revokeUserSessions?(username: string): Promise<void>;
  };
  users: UserStore;
  keyring: Keyring;
  publishKeys: PublishKeys;
}

const StreamName = StreamNameRef;
const Username = Type.String({ pattern: "^[A-Za-z0-9][A-Za-z0-9._@-]{0,63}$" });
const Role = Type.Union([Type.Literal("admin"), Type.Literal("operator"), Type.Literal("viewer")]);
const Grant = Type.String({ pattern: "^(\\*|[a-z]+:[a-z_]+(:[A-Za-z0-9_.*~-]+)?)$", maxLength: 200 });

const TokenPair = Type.Object({
  access_token: Type.String(),
  refresh_token: Type.String(),
  token_type: Type.Literal("Bearer"),
  expires_in: Type.Integer({ description: "access token lifetime, seconds" }),
});
const Jwk = Type.Object({ kty: Type.String(), kid: Type.String(), alg: Type.String(), use: Type.String(), n: Type.String(), e: Type.String() });
const PublishKeyView = Type.Object({
  id: Type.String(),
  stream: Type.String(),
  label: Type.Union([Type.String(), Type.Null()]),
  expires_at: Type.Union([Type.String({ format: "date-time" }), Type.Null()]),
  created_at: Type.String({ format: "date-time" }),
  created_by: Type.String(),
});
const UserView = Type.Object({
  username: Type.String(),
  role: Role,
  grants: Type.Array(Type.String()),
  disabled: Type.Boolean(),
  created_at: Type.String(),
  updated_at: Type.String(),
});

/** The caller, as the gate resolved it; no principal means no gate ran, which must not mean "allowed". */
function principalOf(req: FastifyRequest): Principal {
  if (!req.principal) throw new ProblemError(401, "unauthorized", "Unauthorized", "no credentials", {}, { "www-authenticate": 'Bearer realm="ifc"' });
  return req.principal;
}

function bearerOf(req: FastifyRequest): string | undefined {
  const m = /^Bearer\s+(\S+)\s*$/i.exec(req.headers.authorization ?? "");
  return m?.[1];
}

/** A POST whose body is all optional may come without one (`curl -X POST`): validate it as `{}`. */
async function emptyBodyAsObject(req: FastifyRequest): Promise<void> {
  const r = req as { body: unknown };
  if (r.body === undefined || r.body === null) r.body = {};
}

async function mapped<T>(work: () => Promise<T>): Promise<T> {
  try {
    return await work();
  } catch (err) {
    throw asProblem(err);
  }
}

/**
 * Login, token refresh and logout (OAuth 2.0 field names), the JWKS, view tokens for players,
 * stream publish keys and user administration. Each route declares what the gate must check
 * (`config.auth`) and what the audit trail records on success (`config.audit`).
 */
export async function authRoutes(app: FastifyInstance, opts: AuthRoutesOptions): Promise<void> {
  const { authenticator, users, keyring, publishKeys } = opts;
  const r = app.withTypeProvider<TypeBoxTypeProvider>();

  r.post("/api/v1/auth/login", {
    config: { auth: { permission: "public" } },
    schema: {
      tags: ["auth"],
      summary: "Log in with a user name and password; returns an access and a refresh token",
      body: Type.Object({ username: Type.String({ minLength: 1, maxLength: 256 }), password: Type.String({ minLength: 1, maxLength: MAX_PASSWORD_LENGTH }) }, { additionalProperties: false }),
      response: { 200: TokenPair, ...problems(400, 401, 429) },
    },
  }, async (req, reply) => {
    const pair = await mapped(() => authenticator.login(req.body.username, req.body.password, req.ip));
    void reply.header("cache-control", "no-store");
    return pair;
  });

  r.post("/api/v1/auth/refresh", {
    config: { auth: { permission: "public" } },
    schema: {
      tags: ["auth"],
      summary: "Exchange a refresh token for a new pair (the old one is spent; reusing it revokes the session)",
      body: Type.Object({ refresh_token: Type.String({ minLength: 1, maxLength: 512 }) }, { additionalProperties: false }),
      response: { 200: TokenPair, ...problems(400, 401, 429) },
    },
  }, async (req, reply) => {
    const pair = await mapped(() => authenticator.refresh(req.body.refresh_token, req.ip));
    void reply.header("cache-control", "no-store");
    return pair;
  });

  r.post("/api/v1/auth/logout", {
    config: { auth: { permission: "public" } },
    preValidation: emptyBodyAsObject,
    schema: {
      tags: ["auth"],
      summary: "Revoke a refresh token's session and, when sent as Bearer, the access token",
      body: Type.Object({ refresh_token: Type.Optional(Type.String({ maxLength: 512 })) }, { additionalProperties: false }),
      response: { 204: empty("Logged out"), ...problems(400) },
    },
  }, async (req, reply) => {
    await mapped(() => authenticator.logout(req.body.refresh_token, bearerOf(req), req.ip));
    return reply.code(204).send(null);
  });

  r.get("/.well-known/jwks.json", {
    config: { auth: { permission: "public" } },
    schema: { tags: ["auth"], summary: "Public keys verifying this server's tokens (RFC 7517)", response: { 200: Type.Object({ keys: Type.Array(Jwk) }), ...problems() } },
  }, async (_req, reply) => {
    void reply.header("cache-control", "public, max-age=300");
    return keyring.jwks() as { keys: { kty: string; kid: string; alg: string; use: string; n: string; e: string }[] };
  });

  // The gate checks stream:view without a stream (a scoped grant passes); the stream is in the
  // body, so the handler narrows: the token carries only the caller's stream:view and
  // recording:view grants that cover it, and neither → 403.
  r.post("/api/v1/auth/view-token", {
    config: { auth: { permission: "stream:view" } },
    schema: {
      tags: ["auth"],
      summary: "A short-lived token for players (`?token=`), narrowed to one stream",
      body: Type.Object({ stream: StreamName }, { additionalProperties: false }),
      response: { 200: Type.Object({ token: Type.String(), expires_in: Type.Integer() }), ...problems(400, 401, 403) },
    },
  }, async (req, reply) => {
    const principal = principalOf(req);
    const out = await mapped(() => authenticator.issueViewToken(principal, req.body.stream));
    void reply.header("cache-control", "no-store");
    return out;
  });

  const streamParams = Type.Object({ stream: StreamName });
  const keysAuth = { permission: "system:admin", stream: { in: "params", name: "stream" } } as const;

  r.post("/api/v1/streams/:stream/keys", {
    config: { auth: keysAuth, audit: "key.created" },
    preValidation: emptyBodyAsObject,
    schema: {
      tags: ["publish keys"],
      summary: "Create a publish key (its secret is shown in this answer only)",
      params: streamParams,
      body: Type.Object({ label: Type.Optional(Type.String({ maxLength: 200 })), expires_at: Type.Optional(Type.String({ format: "date-time" })) }, { additionalProperties: false }),
      response: { 201: Type.Intersect([PublishKeyView, Type.Object({ key: Type.String({ description: "the key, shown once: use it as the WHIP Bearer token" }) })]), ...problems(400, 401, 403) },
    },
  }, async (req, reply) => {
    const b = req.body;
    const created = await publishKeys.create(req.params.stream, {
      ...(b.label !== undefined ? { label: b.label } : {}),
      ...(b.expires_at !== undefined ? { expiresAt: b.expires_at } : {}),
      createdBy: req.principal?.subject ?? "anonymous",
    });
    void reply.header("cache-control", "no-store");
    return reply.code(201).send(created);
  });

  r.get("/api/v1/streams/:stream/keys", {
    config: { auth: keysAuth },
    schema: { tags: ["publish keys"], summary: "The stream's live publish keys (never their secrets)", params: streamParams, response: { 200: Type.Object({ keys: Type.Array(PublishKeyView) }), ...problems(400, 401, 403) } },
  }, async (req) => ({ keys: publishKeys.list(req.params.stream) }));

  r.delete("/api/v1/streams/:stream/keys/:id", {
    config: { auth: keysAuth, audit: "key.revoked" },
    schema: {
      tags: ["publish keys"],
      summary: "Revoke a publish key",
      params: Type.Object({ stream: StreamName, id: Type.String({ pattern: "^[0-9a-f]{16}$" }) }),
      response: { 204: empty("Revoked"), ...problems(400, 401, 403, 404) },
    },
  }, async (req, reply) => {
    await publishKeys.revoke(req.params.stream, req.params.id);
    return reply.code(204).send(null);
  });

  const usersAuth = { permission: "system:admin" } as const;

  r.get("/api/v1/users", {
    config: { auth: usersAuth },
    schema: { tags: ["users"], summary: "All users (never their password hashes)", response: { 200: Type.Object({ users: Type.Array(UserView) }), ...problems(401, 403) } },
  }, async () => ({ users: users.list() }));

  r.post("/api/v1/users", {
    config: { auth: usersAuth, audit: "user.created" },
    schema: {
      tags: ["users"],
      summary: "Add a user; without a password one is generated and returned once",
      body: Type.Object({ username: Username, role: Role, password: Type.Optional(Type.String({ maxLength: MAX_PASSWORD_LENGTH })), grants: Type.Optional(Type.Array(Grant, { maxItems: 100 })) }, { additionalProperties: false }),
      response: { 201: Type.Intersect([UserView, Type.Object({ password: Type.Optional(Type.String({ description: "the generated password, shown once" })) })]), ...problems(400, 401, 403, 409) },
    },
  }, async (req, reply) => {
    const generated = req.body.password === undefined ? generatePassword() : undefined;
    const user = await users.add(req.body.username, req.body.role, req.body.password ?? generated!, req.body.grants ?? []);
    void reply.header("cache-control", "no-store");
    return reply.code(201).send({ ...user, ...(generated !== undefined ? { password: generated } : {}) });
  });

  r.patch("/api/v1/users/:username", {
    config: { auth: usersAuth, audit: "user.changed" },
    schema: {
      tags: ["users"],
      summary: "Change a user's role, grants, password or disabled flag",
      params: Type.Object({ username: Username }),
      body: Type.Object({ role: Type.Optional(Role), disabled: Type.Optional(Type.Boolean()), password: Type.Optional(Type.String({ maxLength: MAX_PASSWORD_LENGTH })), grants: Type.Optional(Type.Array(Grant, { maxItems: 100 })) }, { additionalProperties: false, minProperties: 1 }),
      response: { 200: UserView, ...problems(400, 401, 403, 404, 409) },
    },
  }, async (req) => {
    const user = await users.update(req.params.username, req.body);
    // A disabled user's tokens already fail at once (checked per request); a new password or a
    // disabled account also ends the refresh sessions, so re-enabling does not revive them.
    if (req.body.disabled === true || req.body.password !== undefined) await authenticator.revokeUserSessions?.(req.params.username);
    return user;
  });
}
