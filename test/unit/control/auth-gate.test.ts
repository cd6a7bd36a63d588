import type { FastifyInstance } from "fastify";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { createApp } from "../../../src/control/app.js";
import { AuthError, type Authenticator, type TokenPair } from "../../../src/control/auth/authenticator.js";
import { assertEveryRouteHasAuth, authGateMetrics, collectRoutes, installAuthGate, type AuthGateOptions } from "../../../src/control/auth/gate.js";
import { NetworkList, unmapped } from "../../../src/control/auth/networks.js";
import type { Principal, RouteAuth } from "../../../src/control/auth/principal.js";

/** A fake boundary: tokens are `good:<subject>:<grant,grant>`; `expired` and anything else fail. */
class FakeAuthenticator implements Authenticator {
  calls: { kind: string; token: string }[] = [];
  private principal(token: string, client: string, kind: Principal["kind"]): Principal {
    if (token === "expired") throw new AuthError("expired", "token expired");
    if (token === "limited") throw new AuthError("rate-limited", "slow down", 2500);
    const m = /^good:([^:]+):(.*)$/.exec(token);
    if (!m) throw new AuthError("malformed", 'not a "token"');
    return { kind, subject: m[1]!, permissions: m[2]!.split(",").filter(Boolean), client };
  }
  async verifyBearer(token: string, client: string): Promise<Principal> {
    this.calls.push({ kind: "bearer", token });
    return this.principal(token, client, "user");
  }
  async verifyViewToken(token: string, client: string): Promise<Principal> {
    this.calls.push({ kind: "view", token });
    return this.principal(token, client, "view-token");
  }
  async login(): Promise<TokenPair> {
    throw new Error("not used");
  }
  async refresh(): Promise<TokenPair> {
    throw new Error("not used");
  }
  async logout(): Promise<void> {}
  async issueViewToken(): Promise<{ token: string; expires_in: number }> {
    throw new Error("not used");
  }
}

const STREAM: RouteAuth["stream"] = { in: "params", name: "stream" };
let app: FastifyInstance | undefined;
afterEach(async () => {
  await app?.close();
  app = undefined;
});

async function build(overrides: Partial<AuthGateOptions> = {}) {
  const logger = pino({ level: "silent" });
  const authenticator = new FakeAuthenticator();
  const metrics = authGateMetrics();
  const a = createApp({ logger, bodyLimit: 65536, corsOrigins: [] });
  const routes = collectRoutes(a);
  installAuthGate(a, {
    authenticator, anonymousNetworks: ["127.0.0.0/8", "::1/128"], anonymousPermissions: ["*"], metricsNetworks: ["10.9.0.0/16"],
    corsOrigins: ["https://console.example"], log: a.log, metrics, ...overrides,
  });
  const seen = (req: { principal?: Principal }) => ({ principal: req.principal });
  a.get("/public", { config: { auth: { permission: "public" } } }, async (req) => seen(req));
  a.post("/public", { config: { auth: { permission: "public" } } }, async (req) => seen(req));
  a.get("/open", async () => "no auth declared");
  a.get("/streams/:stream", { config: { auth: { permission: "stream:view", stream: STREAM, viewToken: true } } }, async (req) => seen(req));
  a.get("/list", { config: { auth: { permission: "stream:view" } } }, async (req) => seen(req));
  a.get("/rec", { config: { auth: { permission: "recording:view", stream: { in: "query", name: "stream" } } } }, async (req) => seen(req));
  a.post("/whip/:stream", { config: { auth: { permission: "stream:publish", stream: STREAM } } }, async (req) => seen(req));
  a.delete("/keys/:stream", { config: { auth: { permission: "system:admin", stream: STREAM } } }, async (req) => seen(req));
  a.get("/metrics", { config: { auth: { permission: "system:view", metricsNetworks: true } } }, async (req) => seen(req));
  await a.ready();
  app = a;
  return { app: a, authenticator, metrics, routes };
}

const remote = "192.0.2.7";

describe("auth gate: routes", () => {
  it("refuses a matched route without config.auth (fail closed) and leaves unmatched URLs to the 404 handler", async () => {
    const { app } = await build();
    const res = await app.inject({ method: "GET", url: "/open" });
    expect(res.statusCode).toBe(403);
    expect(res.headers["content-type"]).toMatch(/^application\/problem\+json/);
    expect(res.json().type).toMatch(/route-without-auth$/);
    const missing = await app.inject({ method: "GET", url: "/nowhere", remoteAddress: remote });
    expect(missing.statusCode).toBe(404);
  });

  it("collects the route table; the startup check names the routes without config.auth", async () => {
    const { routes } = await build();
    expect(routes.find((r) => r.url === "/whip/:stream" && r.method === "POST")?.auth?.permission).toBe("stream:publish");
    let message = "";
    try {
      assertEveryRouteHasAuth(routes);
    } catch (err) {
      message = (err as Error).message;
    }
    expect(message).toContain("GET /open");
    expect(message).not.toContain("/public");
    expect(() => assertEveryRouteHasAuth(routes.filter((r) => r.url !== "/open"))).not.toThrow();
  });
});

describe("auth gate: no credentials", () => {
  it("anonymous networks get the anonymous permissions and a principal", async () => {
    const { app } = await build();
    const res = await app.inject({ method: "POST", url: "/whip/cam1" });
    expect(res.statusCode).toBe(200);
    expect(res.json().principal).toMatchObject({ kind: "anonymous", subject: "anonymous", permissions: ["*"], client: "127.0.0.1" });
    expect((await app.inject({ method: "POST", url: "/whip/cam1", remoteAddress: "::1" })).statusCode).toBe(200);
  });

  it("IPv4-mapped IPv6 addresses are checked as IPv4", async () => {
    const { app } = await build();
    expect((await app.inject({ method: "POST", url: "/whip/cam1", remoteAddress: "::ffff:127.0.0.9" })).statusCode).toBe(200);
    expect((await app.inject({ method: "POST", url: "/whip/cam1", remoteAddress: "::ffff:192.0.2.7" })).statusCode).toBe(401);
  });

  it("elsewhere: 401 problem+json with a bare WWW-Authenticate challenge, counted as missing", async () => {
    const { app, metrics } = await build();
    const res = await app.inject({ method: "GET", url: "/streams/cam1", remoteAddress: remote });
    expect(res.statusCode).toBe(401);
    expect(res.headers["www-authenticate"]).toBe('Bearer realm="ifc"');
    expect(res.headers["content-type"]).toMatch(/^application\/problem\+json/);
    expect(res.json()).toMatchObject({ status: 401 });
    expect((await metrics.registry.metrics())).toMatch(/ifc_auth_failures_total\{reason="missing"\} 1/);
  });

  it("anonymous off (empty list): loopback needs credentials too", async () => {
    const { app } = await build({ anonymousNetworks: [] });
    expect((await app.inject({ method: "POST", url: "/whip/cam1" })).statusCode).toBe(401);
    expect((await app.inject({ method: "GET", url: "/public" })).json().principal).toMatchObject({ kind: "anonymous", permissions: [] });
  });

  it("anonymous permissions narrower than the route: 401 (credentials could get in), not 403", async () => {
    const { app } = await build({ anonymousPermissions: ["stream:view"] });
    expect((await app.inject({ method: "GET", url: "/streams/cam1" })).statusCode).toBe(200);
    const res = await app.inject({ method: "POST", url: "/whip/cam1" });
    expect(res.statusCode).toBe(401);
    expect(res.headers["www-authenticate"]).toBe('Bearer realm="ifc"');
  });

  it("/metrics is open from IFC_METRICS_NETWORKS only; other routes there still need credentials", async () => {
    const { app } = await build();
    expect((await app.inject({ method: "GET", url: "/metrics", remoteAddress: "10.9.3.4" })).statusCode).toBe(200);
    expect((await app.inject({ method: "GET", url: "/metrics", remoteAddress: "10.8.3.4" })).statusCode).toBe(401);
    expect((await app.inject({ method: "GET", url: "/list", remoteAddress: "10.9.3.4" })).statusCode).toBe(401);
    expect((await app.inject({ method: "GET", url: "/metrics", remoteAddress: remote, headers: { authorization: "Bearer good:ops:system:view" } })).statusCode).toBe(200);
  });

  it("public routes answer everyone", async () => {
    const { app } = await build({ anonymousNetworks: [] });
    expect((await app.inject({ method: "GET", url: "/public", remoteAddress: remote })).statusCode).toBe(200);
  });
});

describe("auth gate: credentials", () => {
  it("Bearer: the principal is set and checked against the route's permission and stream", async () => {
    const { app } = await build();
    const res = await app.inject({ method: "GET", url: "/streams/cam1", remoteAddress: remote, headers: { authorization: "Bearer good:alice:stream:view" } });
    expect(res.statusCode).toBe(200);
    expect(res.json().principal).toMatchObject({ kind: "user", subject: "alice", client: remote });
  });

  it("scoped grants: stream:view:line1-* opens line1-a, not cam1; a listing route lets the scoped grant in", async () => {
    const { app, metrics } = await build();
    const headers = { authorization: "Bearer good:bob:stream:view:line1-*" };
    expect((await app.inject({ method: "GET", url: "/streams/line1-a", remoteAddress: remote, headers })).statusCode).toBe(200);
    const denied = await app.inject({ method: "GET", url: "/streams/cam1", remoteAddress: remote, headers });
    expect(denied.statusCode).toBe(403);
    expect(denied.headers["content-type"]).toMatch(/^application\/problem\+json/);
    expect(denied.json()).toMatchObject({ status: 403, permission: "stream:view", stream: "cam1" });
    expect(denied.json().detail).toContain("stream:view");
    expect((await app.inject({ method: "GET", url: "/list", remoteAddress: remote, headers })).statusCode).toBe(200);
    expect(await metrics.registry.metrics()).toMatch(/ifc_auth_denied_total\{permission="stream:view"\} 1/);
  });

  it("the stream may come from the query", async () => {
    const { app } = await build();
    const headers = { authorization: "Bearer good:v:recording:view:cam1" };
    expect((await app.inject({ method: "GET", url: "/rec?stream=cam1", remoteAddress: remote, headers })).statusCode).toBe(200);
    expect((await app.inject({ method: "GET", url: "/rec?stream=cam2", remoteAddress: remote, headers })).statusCode).toBe(403);
  });

  it("insufficient permissions: 403, even from an anonymous network (credentials given are what counts)", async () => {
    const { app } = await build();
    const res = await app.inject({ method: "DELETE", url: "/keys/cam1", headers: { authorization: "Bearer good:op:stream:view" } });
    expect(res.statusCode).toBe(403);
  });

  it("bad credentials: 401 with error=invalid_token, never a fall back to anonymous (even on loopback, even on public routes)", async () => {
    const { app, metrics } = await build();
    for (const url of ["/streams/cam1", "/public"]) {
      const res = await app.inject({ method: "GET", url, headers: { authorization: "Bearer expired" } });
      expect(res.statusCode).toBe(401);
      expect(res.headers["www-authenticate"]).toBe('Bearer realm="ifc", error="invalid_token", error_description="token expired"');
      expect(res.headers["content-type"]).toMatch(/^application\/problem\+json/);
    }
    expect(await metrics.registry.metrics()).toMatch(/ifc_auth_failures_total\{reason="expired"\} 2/);
    const malformed = await app.inject({ method: "GET", url: "/streams/cam1", headers: { authorization: "Basic abc" } });
    expect(malformed.statusCode).toBe(401);
    expect(malformed.headers["www-authenticate"]).toBe('Bearer realm="ifc", error="invalid_token", error_description="the Authorization header must be: Bearer <token>"');
    // quotes in a description are dropped, so the header stays well formed
    const quoted = await app.inject({ method: "GET", url: "/streams/cam1", headers: { authorization: "Bearer junk" } });
    expect(quoted.headers["www-authenticate"]).toBe('Bearer realm="ifc", error="invalid_token", error_description="not a token"');
  });

  it("rate-limited credentials: 429 with Retry-After", async () => {
    const { app } = await build();
    const res = await app.inject({ method: "GET", url: "/streams/cam1", headers: { authorization: "Bearer limited" } });
    expect(res.statusCode).toBe(429);
    expect(res.headers["retry-after"]).toBe("3");
  });

  it("?token= is a view token only where the route allows it; elsewhere it is ignored", async () => {
    const { app, authenticator } = await build();
    const ok = await app.inject({ method: "GET", url: "/streams/cam1?token=good:view:stream:view:cam1", remoteAddress: remote });
    expect(ok.statusCode).toBe(200);
    expect(ok.json().principal).toMatchObject({ kind: "view-token" });
    expect(authenticator.calls).toEqual([{ kind: "view", token: "good:view:stream:view:cam1" }]);
    expect((await app.inject({ method: "GET", url: "/streams/cam2?token=good:view:stream:view:cam1", remoteAddress: remote })).statusCode).toBe(403);
    expect((await app.inject({ method: "GET", url: "/streams/cam1?token=expired", remoteAddress: remote })).statusCode).toBe(401);
    // /rec does not take view tokens: the query token is not a credential there
    expect((await app.inject({ method: "GET", url: "/rec?stream=cam1&token=good:view:recording:view", remoteAddress: remote })).statusCode).toBe(401);
  });

  it("the cookie carries an access token; a stale cookie is ignored on public routes only", async () => {
    const { app } = await build();
    const cookie = "other=1; ifc_session=good:carol:stream:view";
    expect((await app.inject({ method: "GET", url: "/streams/cam1", remoteAddress: remote, headers: { cookie } })).json().principal).toMatchObject({ subject: "carol" });
    expect((await app.inject({ method: "GET", url: "/streams/cam1", remoteAddress: remote, headers: { cookie: "ifc_session=expired" } })).statusCode).toBe(401);
    const login = await app.inject({ method: "GET", url: "/public", remoteAddress: remote, headers: { cookie: "ifc_session=expired" } });
    expect(login.statusCode).toBe(200);
    expect(login.json().principal).toMatchObject({ kind: "anonymous", permissions: [] });
  });

  it("CSRF: a cookie on an unsafe method needs our own Origin (http or https) or an allowed one", async () => {
    const { app } = await build();
    const cookie = "ifc_session=good:op:stream:publish";
    const post = (headers: Record<string, string>) => app.inject({ method: "POST", url: "/whip/cam1", remoteAddress: remote, headers: { cookie, host: "media.local:8080", ...headers } });
    expect((await post({})).statusCode).toBe(403);
    expect((await post({ origin: "https://evil.example" })).statusCode).toBe(403);
    expect((await post({ origin: "null" })).statusCode).toBe(403);
    expect((await post({ origin: "http://media.local:8080" })).statusCode).toBe(200);
    expect((await post({ origin: "https://media.local:8080" })).statusCode).toBe(200);
    expect((await post({ origin: "https://console.example" })).statusCode).toBe(200);
    // A Bearer header cannot be forged cross-site: no Origin rule
    expect((await app.inject({ method: "POST", url: "/whip/cam1", remoteAddress: remote, headers: { authorization: "Bearer good:op:stream:publish" } })).statusCode).toBe(200);
    // a safe method needs none
    expect((await app.inject({ method: "GET", url: "/streams/cam1", remoteAddress: remote, headers: { cookie: "ifc_session=good:op:stream:view" } })).statusCode).toBe(200);
  });

  it("Bearer wins over the cookie", async () => {
    const { app } = await build();
    const res = await app.inject({ method: "GET", url: "/streams/cam1", remoteAddress: remote, headers: { authorization: "Bearer good:dan:stream:view", cookie: "ifc_session=expired" } });
    expect(res.json().principal).toMatchObject({ subject: "dan" });
  });
});

describe("network lists", () => {
  it("parse IPv4 and IPv6 CIDRs and bare addresses", () => {
    const nets = new NetworkList(["10.0.0.0/8", " fd00::/8 ", "192.0.2.1", "2001:db8::1"], "X");
    expect(nets.has("10.200.1.1")).toBe(true);
    expect(nets.has("11.0.0.1")).toBe(false);
    expect(nets.has("fd12::5")).toBe(true);
    expect(nets.has("fe80::1")).toBe(false);
    expect(nets.has("192.0.2.1")).toBe(true);
    expect(nets.has("192.0.2.2")).toBe(false);
    expect(nets.has("2001:db8::1")).toBe(true);
    expect(nets.has("::ffff:10.1.2.3")).toBe(true);
    expect(nets.has("not an ip")).toBe(false);
    expect(new NetworkList([], "X").has("127.0.0.1")).toBe(false);
    expect(new NetworkList(["0.0.0.0/0"], "X").has("8.8.8.8")).toBe(true);
    // which entry (as written): anonymous publishers of one network are one identity
    expect(nets.networkOf("10.200.1.1")).toBe("10.0.0.0/8");
    expect(nets.networkOf("::ffff:10.1.2.3")).toBe("10.0.0.0/8");
    expect(nets.networkOf("fd12::5")).toBe("fd00::/8");
    expect(nets.networkOf("192.0.2.1")).toBe("192.0.2.1");
    expect(nets.networkOf("11.0.0.1")).toBeUndefined();
  });

  it("a bad entry names its variable", () => {
    for (const bad of ["10.0.0.0/33", "::1/129", "localhost", "10.0.0.0/", "10.0.0.0/x", "10.0.0/8"]) {
      expect(() => new NetworkList([bad], "IFC_AUTH_ANONYMOUS_NETWORKS")).toThrow(/IFC_AUTH_ANONYMOUS_NETWORKS/);
    }
  });

  it("the gate validates its lists when installed", async () => {
    await expect(build({ metricsNetworks: ["10.0.0.0/99"] })).rejects.toThrow(/IFC_METRICS_NETWORKS.*10\.0\.0\.0\/99/);
  });

  it("unmaps IPv4-mapped IPv6 only", () => {
    expect(unmapped("::ffff:1.2.3.4")).toBe("1.2.3.4");
    expect(unmapped("::FFFF:1.2.3.4")).toBe("1.2.3.4");
    expect(unmapped("::1")).toBe("::1");
  });
});
