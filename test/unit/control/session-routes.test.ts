import type { FastifyInstance } from "fastify";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { createApp } from "../../../src/control/app.js";
import { AuthError, type Authenticator, type TokenPair } from "../../../src/control/auth/authenticator.js";
import { installAuthGate } from "../../../src/control/auth/gate.js";
import type { Principal } from "../../../src/control/auth/principal.js";
import { sessionRoutes } from "../../../src/control/auth/session-routes.js";

/** A fake boundary: alice/secret logs in; access tokens are `at-<n>`; logout revokes them. */
class FakeAuthenticator implements Authenticator {
  issued = new Set<string>();
  loggedOut: (string | undefined)[] = [];
  attempts = 0;
  async verifyBearer(token: string, client: string): Promise<Principal> {
    if (!this.issued.has(token)) throw new AuthError("revoked", "token revoked");
    return { kind: "user", subject: "alice", permissions: ["stream:view"], client };
  }
  async verifyViewToken(): Promise<Principal> {
    throw new AuthError("malformed", "no");
  }
  async login(username: string, password: string): Promise<TokenPair> {
    if (++this.attempts > 3) throw new AuthError("rate-limited", "limited", 30_000);
    if (username !== "alice" || password !== "secret") throw new AuthError("bad-credentials", "bad");
    const access = `at-${this.issued.size}`;
    this.issued.add(access);
    return { access_token: access, refresh_token: "rt-secret", token_type: "Bearer", expires_in: 28800 };
  }
  async refresh(): Promise<TokenPair> {
    throw new Error("not used");
  }
  async logout(_refresh: string | undefined, access: string | undefined): Promise<void> {
    this.loggedOut.push(access);
    if (access) this.issued.delete(access);
  }
  async issueViewToken(): Promise<{ token: string; expires_in: number }> {
    throw new Error("not used");
  }
}

let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

async function build(publicUrl = "") {
  const authenticator = new FakeAuthenticator();
  const a = createApp({ logger: pino({ level: "silent" }), bodyLimit: 65536, corsOrigins: [] });
  installAuthGate(a, { authenticator, anonymousNetworks: [], anonymousPermissions: ["*"], metricsNetworks: [], corsOrigins: [], log: a.log });
  await a.register(sessionRoutes, { authenticator, publicUrl });
  a.get("/x", { config: { auth: { permission: "stream:view" } } }, async (req) => ({ who: req.principal?.subject }));
  await a.ready();
  app = a;
  return { app: a, authenticator };
}

const origin = { host: "media.local", origin: "http://media.local" };

describe("pages' session login (cookie)", () => {
  it("sets an HttpOnly SameSite=Strict cookie holding the access token, never the token in the body; the cookie then authenticates", async () => {
    const { app } = await build();
    const res = await app.inject({ method: "POST", url: "/api/v1/auth/session", headers: origin, payload: { username: "alice", password: "secret" } });
    expect(res.statusCode).toBe(200);
    expect(res.json()).toEqual({ user: "alice", expires_in: 28800 });
    expect(res.body).not.toContain("at-0");
    expect(res.body).not.toContain("rt-secret");
    const set = String(res.headers["set-cookie"]);
    expect(set).toMatch(/^ifc_session=at-0; Max-Age=28800; Path=\/; HttpOnly; SameSite=Strict$/);
    expect((await app.inject({ method: "GET", url: "/x" })).statusCode).toBe(401);
    expect((await app.inject({ method: "GET", url: "/x", headers: { cookie: "ifc_session=at-0" } })).json()).toEqual({ who: "alice" });
  });

  it("Secure when the public URL is https", async () => {
    const { app } = await build("https://media.example");
    const res = await app.inject({ method: "POST", url: "/api/v1/auth/session", payload: { username: "alice", password: "secret" } });
    expect(String(res.headers["set-cookie"])).toMatch(/; Secure/);
  });

  it("wrong password or user: one 401 problem+json; too many attempts: 429 with Retry-After", async () => {
    const { app } = await build();
    const a = await app.inject({ method: "POST", url: "/api/v1/auth/session", payload: { username: "alice", password: "nope" } });
    const b = await app.inject({ method: "POST", url: "/api/v1/auth/session", payload: { username: "mallory", password: "secret" } });
    expect(a.statusCode).toBe(401);
    expect(a.headers["content-type"]).toMatch(/^application\/problem\+json/);
    expect(a.body).toBe(b.body);
    expect(a.headers["set-cookie"]).toBeUndefined();
    await app.inject({ method: "POST", url: "/api/v1/auth/session", payload: { username: "alice", password: "nope" } });
    const limited = await app.inject({ method: "POST", url: "/api/v1/auth/session", payload: { username: "alice", password: "secret" } });
    expect(limited.statusCode).toBe(429);
    expect(limited.headers["retry-after"]).toBe("30");
  });

  it("rejects unknown body fields and missing ones (400)", async () => {
    const { app } = await build();
    expect((await app.inject({ method: "POST", url: "/api/v1/auth/session", payload: { username: "alice" } })).statusCode).toBe(400);
  });

  it("DELETE revokes the token and clears the cookie (needs our Origin, as every cookie change does); a stale cookie is still cleared", async () => {
    const { app, authenticator } = await build();
    await app.inject({ method: "POST", url: "/api/v1/auth/session", payload: { username: "alice", password: "secret" } });
    expect((await app.inject({ method: "DELETE", url: "/api/v1/auth/session", headers: { cookie: "ifc_session=at-0", host: "media.local", origin: "http://evil.example" } })).statusCode).toBe(403);
    const res = await app.inject({ method: "DELETE", url: "/api/v1/auth/session", headers: { cookie: "ifc_session=at-0", ...origin } });
    expect(res.statusCode).toBe(204);
    expect(String(res.headers["set-cookie"])).toMatch(/^ifc_session=; Max-Age=0; Path=\/; Expires=Thu, 01 Jan 1970 00:00:00 GMT; HttpOnly; SameSite=Strict$/);
    expect(authenticator.loggedOut).toEqual(["at-0"]);
    expect((await app.inject({ method: "GET", url: "/x", headers: { cookie: "ifc_session=at-0" } })).statusCode).toBe(401);
    expect((await app.inject({ method: "DELETE", url: "/api/v1/auth/session", headers: { cookie: "ifc_session=at-0", ...origin } })).statusCode).toBe(204);
  });
});
