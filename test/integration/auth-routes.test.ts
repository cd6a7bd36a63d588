import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { MemoryRateLimitStore } from "../../src/adapters/state/memory-rate-limit-store.js";
import { buildAuth } from "../../src/composition/auth.js";
import { loadConfig, type Config } from "../../src/config.js";
import type { AuditEntry, Principal } from "../../src/control/auth/principal.js";
import { createApp } from "../../src/control/app.js";
import { startServer, type Server } from "../../src/server.js";
import { TEST_SCRYPT } from "../support/auth-fixture.js";

interface Started {
  server: Server;
  dataDir: string;
  logs: () => string;
}

/** The real server with its pino output captured (to prove no secret is ever logged). */
async function start(overrides: Partial<Config> = {}): Promise<Started> {
  const dataDir = await mkdtemp(path.join(tmpdir(), "ifc-auth-routes-"));
  const config = loadConfig({}, { httpHost: "127.0.0.1", httpPort: 0, rtspPort: 0, dataDir, logLevel: "debug", aiEnabled: false, grpcHost: "127.0.0.1", grpcPort: 0, ...overrides });
  let out = "";
  const sink = new Writable({ write: (chunk: Buffer, _e, cb) => ((out += chunk.toString()), cb()) });
  const server = await startServer(config, pino({ level: "debug" }, sink));
  return { server, dataDir, logs: () => out };
}

async function call(url: string, method: string, body?: unknown, token?: string): Promise<{ status: number; headers: Headers; json: Record<string, unknown> }> {
  const res = await fetch(url, {
    method,
    headers: { ...(body !== undefined ? { "content-type": "application/json" } : {}), ...(token ? { authorization: `Bearer ${token}` } : {}) },
    ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
  });
  const text = await res.text();
  return { status: res.status, headers: res.headers, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

describe("auth routes on the real server", () => {
  let s: Started;
  let adminPassword: string;
  /** Every secret the test saw; none may appear in the logs. */
  const secrets: string[] = [];

  beforeAll(async () => {
    s = await start({ loginMaxFailuresPerUser: 3, loginMaxAttemptsPerClient: 1000 });
    adminPassword = (await readFile(path.join(s.dataDir, "initial-admin-password"), "utf8")).trim();
  });
  afterAll(async () => {
    await s.server.close();
    await rm(s.dataDir, { recursive: true, force: true });
  });
  const url = (p: string): string => s.server.url + p;

  it("serves the JWKS of the signing key", async () => {
    const r = await call(url("/.well-known/jwks.json"), "GET");
    expect(r.status).toBe(200);
    expect(r.json.keys).toEqual([expect.objectContaining({ kty: "RSA", alg: "RS256", use: "sig", kid: s.server.auth.keyring.signingKey().kid })]);
  });

  it("login returns an OAuth 2.0 token pair; wrong password and unknown user get the same 401", async () => {
    const ok = await call(url("/api/v1/auth/login"), "POST", { username: "admin", password: adminPassword });
    expect(ok.status).toBe(200);
    expect(Object.keys(ok.json).sort()).toEqual(["access_token", "expires_in", "refresh_token", "token_type"]);
    expect(ok.json).toMatchObject({ token_type: "Bearer", expires_in: 8 * 3600 });
    expect(ok.headers.get("cache-control")).toBe("no-store");
    secrets.push(String(ok.json.access_token), String(ok.json.refresh_token));

    const bad = await call(url("/api/v1/auth/login"), "POST", { username: "admin", password: "wrong-password" });
    const unknown = await call(url("/api/v1/auth/login"), "POST", { username: "nobody", password: "wrong-password" });
    for (const r of [bad, unknown]) {
      expect(r.status).toBe(401);
      expect(r.headers.get("content-type")).toMatch(/^application\/problem\+json/);
      expect(r.headers.get("www-authenticate")).toMatch(/^Bearer realm="ifc", error="invalid_token"/);
    }
    expect({ ...bad.json, instance: undefined }).toEqual({ ...unknown.json, instance: undefined });
    expect(bad.headers.get("www-authenticate")).toBe(unknown.headers.get("www-authenticate"));
  });

  it("a malformed login body is 400 problem+json", async () => {
    const r = await call(url("/api/v1/auth/login"), "POST", { username: "admin" });
    expect(r.status).toBe(400);
    expect(r.headers.get("content-type")).toMatch(/^application\/problem\+json/);
  });

  it("refresh rotates; reusing the spent token is 401 and revokes the newer one", async () => {
    const a = await call(url("/api/v1/auth/login"), "POST", { username: "admin", password: adminPassword });
    const b = await call(url("/api/v1/auth/refresh"), "POST", { refresh_token: a.json.refresh_token });
    expect(b.status).toBe(200);
    expect(b.json.refresh_token).not.toBe(a.json.refresh_token);
    secrets.push(String(a.json.access_token), String(a.json.refresh_token), String(b.json.access_token), String(b.json.refresh_token));
    const reuse = await call(url("/api/v1/auth/refresh"), "POST", { refresh_token: a.json.refresh_token });
    expect(reuse.status).toBe(401);
    expect(reuse.json.reason).toBe("revoked");
    expect((await call(url("/api/v1/auth/refresh"), "POST", { refresh_token: b.json.refresh_token })).status).toBe(401);
    expect(s.logs()).toContain('"action":"auth.refresh_reuse"');
  });

  it("logout (refresh token + Bearer access token) revokes both", async () => {
    const a = await call(url("/api/v1/auth/login"), "POST", { username: "admin", password: adminPassword });
    secrets.push(String(a.json.access_token), String(a.json.refresh_token));
    const out = await call(url("/api/v1/auth/logout"), "POST", { refresh_token: a.json.refresh_token }, String(a.json.access_token));
    expect(out.status).toBe(204);
    // A Bearer-only logout, without a body.
    const b = await call(url("/api/v1/auth/login"), "POST", { username: "admin", password: adminPassword });
    secrets.push(String(b.json.access_token), String(b.json.refresh_token));
    expect((await fetch(url("/api/v1/auth/logout"), { method: "POST", headers: { authorization: `Bearer ${String(b.json.access_token)}` } })).status).toBe(204);
    await expect(s.server.auth.authenticator.verifyBearer(String(b.json.access_token), "127.0.0.1")).rejects.toMatchObject({ reason: "revoked" });
    expect((await call(url("/api/v1/auth/refresh"), "POST", { refresh_token: a.json.refresh_token })).status).toBe(401);
    await expect(s.server.auth.authenticator.verifyBearer(String(a.json.access_token), "127.0.0.1")).rejects.toMatchObject({ reason: "revoked" });
    expect(s.logs()).toContain('"action":"auth.logout"');
  });

  it("publish keys: created (201, shown once), listed without secret, revoked (204), then 404", async () => {
    const created = await call(url("/api/v1/streams/cam1/keys"), "POST", { label: "OBS", expires_at: "2099-01-01T00:00:00Z" });
    expect(created.status).toBe(201);
    expect(created.json).toMatchObject({ stream: "cam1", label: "OBS", expires_at: "2099-01-01T00:00:00.000Z" });
    const key = String(created.json.key);
    secrets.push(key);
    expect((await s.server.auth.authenticator.verifyBearer(key, "127.0.0.1")).permissions).toEqual(["stream:publish:cam1"]);
    // Without a body at all (curl -X POST): a key without label or expiry.
    const bare = await fetch(url("/api/v1/streams/cam2/keys"), { method: "POST" });
    expect(bare.status).toBe(201);
    secrets.push(String(((await bare.json()) as { key: string }).key));
    const list = await call(url("/api/v1/streams/cam1/keys"), "GET");
    expect(list.status).toBe(200);
    expect(list.json.keys).toEqual([expect.objectContaining({ id: created.json.id, label: "OBS" })]);
    expect(JSON.stringify(list.json)).not.toContain(key.slice(-20));
    expect((await call(url(`/api/v1/streams/cam1/keys/${String(created.json.id)}`), "DELETE")).status).toBe(204);
    const again = await call(url(`/api/v1/streams/cam1/keys/${String(created.json.id)}`), "DELETE");
    expect(again.status).toBe(404);
    expect(again.headers.get("content-type")).toMatch(/^application\/problem\+json/);
    expect((await call(url("/api/v1/streams/cam1/keys"), "POST", { expires_at: "2000-01-01T00:00:00Z" })).status).toBe(400);
    expect((await call(url("/api/v1/streams/bad%20name/keys"), "GET")).status).toBe(400);
  });

  it("users: add with a generated password (shown once), list, disable (login refused), 404 and 409", async () => {
    const added = await call(url("/api/v1/users"), "POST", { username: "olga", role: "operator" });
    expect(added.status).toBe(201);
    const pw = String(added.json.password);
    secrets.push(pw);
    expect(added.json).toMatchObject({ username: "olga", role: "operator", disabled: false });
    expect(added.json).not.toHaveProperty("password_hash");
    const login = await call(url("/api/v1/auth/login"), "POST", { username: "olga", password: pw });
    expect(login.status).toBe(200);
    secrets.push(String(login.json.access_token), String(login.json.refresh_token));
    const list = await call(url("/api/v1/users"), "GET");
    expect((list.json.users as { username: string }[]).map((u) => u.username)).toEqual(["admin", "olga"]);
    expect(JSON.stringify(list.json)).not.toContain("scrypt");

    const disabled = await call(url("/api/v1/users/olga"), "PATCH", { disabled: true });
    expect(disabled.status).toBe(200);
    expect(disabled.json.disabled).toBe(true);
    expect((await call(url("/api/v1/auth/login"), "POST", { username: "olga", password: pw })).status).toBe(401);
    await expect(s.server.auth.authenticator.verifyBearer(String(login.json.access_token), "c")).rejects.toMatchObject({ reason: "disabled-user" });
    expect((await call(url("/api/v1/auth/refresh"), "POST", { refresh_token: login.json.refresh_token })).status).toBe(401);

    const newPw = "a-new-password-for-olga";
    secrets.push(newPw);
    expect((await call(url("/api/v1/users/olga"), "PATCH", { disabled: false, password: newPw, role: "viewer" })).json.role).toBe("viewer");
    expect((await call(url("/api/v1/auth/login"), "POST", { username: "olga", password: newPw })).status).toBe(200);
    expect((await call(url("/api/v1/users/nobody"), "PATCH", { disabled: true })).status).toBe(404);
    expect((await call(url("/api/v1/users"), "POST", { username: "olga", role: "viewer" })).status).toBe(409);
    expect((await call(url("/api/v1/users"), "POST", { username: "x", role: "root" })).status).toBe(400);
    expect((await call(url("/api/v1/users"), "POST", { username: "y", role: "viewer", password: "short" })).status).toBe(400);
  });

  it("login brute force: the limit-th failure is 401, the next is 429 with Retry-After, even with the right password", async () => {
    await call(url("/api/v1/users"), "POST", { username: "bruno", role: "viewer", password: "bruno-password" });
    secrets.push("bruno-password");
    for (let i = 0; i < 3; i++) expect((await call(url("/api/v1/auth/login"), "POST", { username: "bruno", password: `guess-${i}` })).status).toBe(401);
    const limited = await call(url("/api/v1/auth/login"), "POST", { username: "bruno", password: "bruno-password" });
    expect(limited.status).toBe(429);
    expect(limited.headers.get("content-type")).toMatch(/^application\/problem\+json/);
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
  });

  it("no secret ever reaches the logs; the first admin password appears exactly once", () => {
    const logs = s.logs();
    expect(secrets.length).toBeGreaterThan(10);
    for (const secret of secrets) expect(logs.includes(secret), `a secret (${secret.slice(0, 8)}…) was logged`).toBe(false);
    expect(logs.split(adminPassword).length - 1).toBe(1);
    expect(logs).not.toContain("guess-");
  });
});

describe("view-token route (principal as the gate sets it)", () => {
  it("narrows to the stream, 403 without a view grant, 401 without a principal", async () => {
    const dataDir = await mkdtemp(path.join(tmpdir(), "ifc-view-"));
    const logger = pino({ level: "silent" });
    const audits: AuditEntry[] = [];
    const config = loadConfig({}, { dataDir, authViewTokenTtlMs: 120_000 });
    const auth = await buildAuth(config, logger, { rateLimits: new MemoryRateLimitStore(), audit: { record: (e) => audits.push(e) }, scrypt: TEST_SCRYPT });
    const app = createApp({ logger, bodyLimit: 65536, corsOrigins: [] });
    app.addHook("preHandler", async (req) => {
      const perms = req.headers["x-test-perms"];
      if (typeof perms === "string") req.principal = { kind: "user", subject: "admin", client: req.ip, permissions: perms.split(",") } satisfies Principal;
    });
    await app.register(auth.routes.plugin, auth.routes.opts);
    try {
      const post = (perms: string | undefined, stream: string) =>
        app.inject({ method: "POST", url: "/api/v1/auth/view-token", headers: perms !== undefined ? { "x-test-perms": perms } : {}, payload: { stream } });
      const ok = await post("stream:view:line1-*,recording:view", "line1-a");
      expect(ok.statusCode).toBe(200);
      expect(ok.json()).toMatchObject({ expires_in: 120 });
      const p = await auth.authenticator.verifyViewToken(ok.json<{ token: string }>().token, "c");
      expect(p.permissions).toEqual(["stream:view:line1-a", "recording:view:line1-a"]);
      const denied = await post("stream:view:line1-*", "dock");
      expect(denied.statusCode).toBe(403);
      expect(denied.headers["content-type"]).toMatch(/^application\/problem\+json/);
      expect((await post(undefined, "cam1")).statusCode).toBe(401);
      expect((await post("*", "../x")).statusCode).toBe(400);
    } finally {
      await app.close();
      await rm(dataDir, { recursive: true, force: true });
    }
  });
});
