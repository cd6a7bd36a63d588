import { generateKeyPair, SignJWT, type JWK } from "jose";
import { createPublicKey, randomUUID, type JsonWebKey } from "node:crypto";
import { request } from "node:http";
import { connect } from "node:net";
import WebSocket from "ws";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { grants } from "../../src/control/auth/permissions.js";
import type { RouteAuth } from "../../src/control/auth/principal.js";
import { ROUTE_TABLE } from "../support/route-permissions.js";
import { ACCESS_AUDIENCE } from "../../src/control/auth/tokens.js";
import type { CollectedRoute } from "../../src/control/auth/gate.js";
import { startTestServer, type TestServer } from "../support/server-harness.js";

/**
 * THE authorization matrix of issue 11: every route of the server's own route table (collected
 * as the routes register, so a new route cannot be missed) × every kind of caller → the status
 * its `config.auth` implies: 401 for missing or bad credentials where the route is not public,
 * 403 for insufficient permissions, otherwise "neither 401 nor 403" (the handler may then answer
 * 400/404/415 for the dummy parameters and bodies: every body sent here fails validation, so
 * nothing is changed). WebSocket routes are tried as upgrades: refused before it, or 101.
 */

const STREAM = "cam1";
const PARAMS: Record<string, string> = {
  stream: STREAM,
  session: "0123456789abcdef0123456789abcdef",
  recording: "20260101T000000000Z",
  file: "init.mp4",
  id: "0123456789abcdef",
  username: "nobody",
};
const UNSAFE = new Set(["POST", "PUT", "PATCH", "DELETE"]);

type Expected = "allowed" | 401 | 403;
interface Caller {
  name: string;
  server: () => TestServer;
  /** Headers and query for a route (credentials go where the route takes them). */
  creds: (auth: RouteAuth) => { headers?: Record<string, string>; query?: string };
  expected: (auth: RouteAuth) => Expected;
}

interface Answer {
  status: number;
  headers: Record<string, string | string[] | undefined>;
  body: string;
}

function http(base: string, method: string, path: string, headers: Record<string, string> = {}, body?: string, localAddress?: string): Promise<Answer> {
  const url = new URL(path, base);
  return new Promise((resolve, reject) => {
    const req = request(url, { method, headers: { ...headers, ...(body !== undefined ? { "content-type": "application/json", "content-length": String(Buffer.byteLength(body)) } : {}) }, agent: false, ...(localAddress ? { localAddress } : {}) }, (res) => {
      let text = "";
      res.setEncoding("utf8");
      res.on("data", (d: string) => (text += d));
      res.on("end", () => resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text }));
      res.on("error", reject);
    });
    req.on("error", reject);
    req.end(body);
  });
}

function upgrade(base: string, path: string, headers: Record<string, string>): Promise<Answer> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(new URL(path, base.replace(/^http/, "ws")), { headers });
    ws.on("open", () => {
      ws.close();
      resolve({ status: 101, headers: {}, body: "" });
    });
    ws.on("unexpected-response", (req, res) => {
      let text = "";
      res.on("data", (d: Buffer) => (text += d.toString()));
      res.on("end", () => {
        req.destroy(); // ws leaves a refused handshake's socket to whoever handles this event
        resolve({ status: res.statusCode ?? 0, headers: res.headers, body: text });
      });
    });
    ws.on("error", reject);
  });
}

function pathOf(url: string): string {
  return url.replace(/:(\w+)/g, (_m, name: string) => PARAMS[name] ?? "x").replace(/\*$/, "index.html");
}

let open: TestServer; // anonymous from loopback (the default)
let closed: TestServer; // IFC_AUTH_ANONYMOUS_NETWORKS empty, /metrics open from 127.0.0.2 only
const tokens: Record<string, string> = {};

async function login(server: TestServer, username: string, password: string): Promise<{ access_token: string; refresh_token: string }> {
  const res = await http(server.url, "POST", "/api/v1/auth/login", {}, JSON.stringify({ username, password }));
  if (res.status !== 200) throw new Error(`login ${username}: ${res.status} ${res.body}`);
  return JSON.parse(res.body) as { access_token: string; refresh_token: string };
}

beforeAll(async () => {
  const limits = { restRateLimitPerMinute: 0, loginMaxAttemptsPerClient: 1000, loginMaxFailuresPerUser: 1000 };
  open = await startTestServer(limits);
  closed = await startTestServer({ ...limits, authAnonymousNetworks: [], metricsNetworks: ["127.0.0.2/32"] });
  const users = closed.server.auth.userStore;
  for (const [name, role] of [["vera", "viewer"], ["otto", "operator"], ["ada", "admin"], ["rex", "operator"]] as const) {
    await users.add(name, role, `${name}-password-1234`);
  }
  tokens.viewer = (await login(closed, "vera", "vera-password-1234")).access_token;
  tokens.operator = (await login(closed, "otto", "otto-password-1234")).access_token;
  tokens.admin = (await login(closed, "ada", "ada-password-1234")).access_token;

  // Revoked: logged out (refresh family and the access token itself).
  const rex = await login(closed, "rex", "rex-password-1234");
  const out = await http(closed.url, "POST", "/api/v1/auth/logout", { authorization: `Bearer ${rex.access_token}` }, JSON.stringify({ refresh_token: rex.refresh_token }));
  expect(out.status).toBe(204);
  tokens.revoked = rex.access_token;

  // Scoped to another stream: a viewer's view token for `other` (stream:view:other, recording:view:other).
  const view = await http(closed.url, "POST", "/api/v1/auth/view-token", { authorization: `Bearer ${tokens.viewer}` }, JSON.stringify({ stream: "other" }));
  expect(view.status, view.body).toBe(200);
  tokens.scoped = (JSON.parse(view.body) as { token: string }).token;

  // A publish key of another stream.
  const key = await http(closed.url, "POST", "/api/v1/streams/other/keys", { authorization: `Bearer ${tokens.admin}` }, JSON.stringify({ label: "matrix" }));
  expect(key.status, key.body).toBe(201);
  tokens.publishKey = (JSON.parse(key.body) as { key: string }).key;

  // Forged and stale tokens, each otherwise a perfect admin token.
  const { kid, key: ourKey } = closed.server.auth.keyring.signingKey();
  const claims = { role: "admin", permissions: ["*"] };
  const iss = "imageflowcanvas-ingest"; // IFC_AUTH_ISSUER's default
  const nowS = Math.floor(Date.now() / 1000);
  const jwt = () => new SignJWT(claims).setIssuer(iss).setAudience(ACCESS_AUDIENCE).setSubject("ada").setJti(randomUUID());
  tokens.expired = await jwt().setProtectedHeader({ alg: "RS256", typ: "JWT", kid }).setIssuedAt(nowS - 7200).setExpirationTime(nowS - 3600).sign(ourKey);
  const stranger = await generateKeyPair("RS256");
  tokens.otherKey = await jwt().setProtectedHeader({ alg: "RS256", typ: "JWT", kid }).setIssuedAt(nowS).setExpirationTime(nowS + 3600).sign(stranger.privateKey);
  const b64 = (o: unknown) => Buffer.from(JSON.stringify(o)).toString("base64url");
  tokens.algNone = `${b64({ alg: "none", typ: "JWT", kid })}.${b64({ ...claims, iss, aud: ACCESS_AUDIENCE, sub: "ada", jti: randomUUID(), iat: nowS, exp: nowS + 3600 })}.`;
  const jwk = closed.server.auth.keyring.jwks().keys.find((k) => k.kid === kid) as JWK;
  const publicPem = createPublicKey({ key: jwk as JsonWebKey, format: "jwk" }).export({ type: "spki", format: "pem" });
  tokens.hs256 = await jwt().setProtectedHeader({ alg: "HS256", typ: "JWT", kid }).setIssuedAt(nowS).setExpirationTime(nowS + 3600).sign(new TextEncoder().encode(String(publicPem)));
}, 120_000);

afterAll(async () => {
  await open?.stop();
  await closed?.stop();
});

const bearer = (name: string) => () => ({ headers: { authorization: `Bearer ${tokens[name]!}` } });
const streamOf = (auth: RouteAuth) => (auth.stream ? STREAM : undefined);
const withPermissions = (perms: readonly string[]) => (auth: RouteAuth): Expected =>
  auth.permission === "public" || grants(perms, auth.permission, streamOf(auth)) ? "allowed" : 403;
const badCredentials = (): Expected => 401;
const OPERATOR = ["pipeline:execute", "pipeline:view", "product:search", "inspection:create", "inspection:view", "stream:publish", "stream:view", "stream:control", "recording:view", "recording:control", "recording:export", "system:view"];
const VIEWER = ["pipeline:view", "product:search", "inspection:view", "stream:view", "recording:view"];

const CALLERS: Caller[] = [
  { name: "anonymous from loopback", server: () => open, creds: () => ({}), expected: () => "allowed" },
  { name: "anonymous, anonymous networks off", server: () => closed, creds: () => ({}), expected: (a) => (a.permission === "public" ? "allowed" : 401) },
  { name: "viewer", server: () => closed, creds: bearer("viewer"), expected: withPermissions(VIEWER) },
  { name: "operator", server: () => closed, creds: bearer("operator"), expected: withPermissions(OPERATOR) },
  { name: "admin", server: () => closed, creds: bearer("admin"), expected: withPermissions(["*"]) },
  {
    // A view token where players use one (?token=), narrowed to stream `other`; elsewhere sent as
    // Bearer, where a view token is no access token.
    name: "token scoped to another stream",
    server: () => closed,
    creds: (a) => (a.viewToken ? { query: `token=${encodeURIComponent(tokens.scoped!)}` } : { headers: { authorization: `Bearer ${tokens.scoped!}` } }),
    expected: (a) => (a.viewToken ? withPermissions(["stream:view:other", "recording:view:other"])(a) : 401),
  },
  { name: "expired token", server: () => closed, creds: bearer("expired"), expected: badCredentials },
  { name: "token signed by another key", server: () => closed, creds: bearer("otherKey"), expected: badCredentials },
  { name: "alg none", server: () => closed, creds: bearer("algNone"), expected: badCredentials },
  { name: "HS256 signed with our RS256 public key", server: () => closed, creds: bearer("hs256"), expected: badCredentials },
  { name: "revoked token (after logout)", server: () => closed, creds: bearer("revoked"), expected: badCredentials },
  { name: "publish key of another stream", server: () => closed, creds: bearer("publishKey"), expected: withPermissions(["stream:publish:other"]) },
];

async function call(caller: Caller, route: CollectedRoute): Promise<Answer> {
  const auth = route.auth!;
  const { headers = {}, query } = caller.creds(auth);
  let path = pathOf(route.url);
  if (query) path += (path.includes("?") ? "&" : "?") + query;
  const base = caller.server().url;
  // The WebSocket GET is tried as an upgrade; Fastify's automatic HEAD of it as plain HTTP.
  if (route.websocket && route.method === "GET") return upgrade(base, path, headers);
  // Unsafe requests carry our Origin (a browser would) and a body no route accepts (a JSON array; unknown fields of an object might be stripped): nothing changes.
  const unsafe = UNSAFE.has(route.method);
  return http(base, route.method, path, unsafe ? { ...headers, origin: base } : headers, unsafe && route.method !== "DELETE" ? "[]" : undefined);
}

function verdict(a: Answer): Expected | number {
  return a.status === 401 || a.status === 403 ? a.status : "allowed";
}

describe("authorization matrix", () => {
  it("every route declares config.auth, as the reference table says", () => {
    const routes = closed.server.httpAuth.routes;
    expect(routes.length).toBeGreaterThan(30);
    expect(routes.filter((r) => !r.auth).map((r) => `${r.method} ${r.url}`)).toEqual([]);
    const differ: string[] = [];
    for (const r of routes) {
      const ref = ROUTE_TABLE[`${r.method === "HEAD" ? "GET" : r.method} ${r.url}`];
      if (!ref) continue;
      const got = JSON.stringify({ permission: r.auth!.permission, stream: r.auth!.stream, viewToken: !!r.auth!.viewToken, metricsNetworks: !!r.auth!.metricsNetworks, audit: r.method === "HEAD" ? undefined : r.audit });
      const want = JSON.stringify({ permission: ref.auth.permission, stream: ref.auth.stream, viewToken: !!ref.auth.viewToken, metricsNetworks: !!ref.auth.metricsNetworks, audit: r.method === "HEAD" ? undefined : ref.audit });
      if (got !== want) differ.push(`${r.method} ${r.url}: declares ${got}, the table says ${want}`);
    }
    expect(differ).toEqual([]);
  });

  it.each(CALLERS.map((c) => [c.name, c] as const))("%s: every route answers as its config.auth says", async (_name, caller) => {
    const routes = caller.server().server.httpAuth.routes;
    const wrong: string[] = [];
    for (const route of routes) {
      const expected = caller.expected(route.auth!);
      const answer = await call(caller, route);
      const got = verdict(answer);
      if (got !== expected) wrong.push(`${route.method} ${route.url}: expected ${expected}, got ${answer.status} ${answer.body.slice(0, 160)}`);
      if (got === 401 || got === 403) {
        if (route.websocket && route.method === "GET") continue; // ws reports the refusal's status; its body was checked on HTTP routes alike
        if (!String(answer.headers["content-type"]).startsWith("application/problem+json")) wrong.push(`${route.method} ${route.url}: ${answer.status} is not problem+json`);
        if (got === 401 && !String(answer.headers["www-authenticate"]).startsWith('Bearer realm="ifc"')) wrong.push(`${route.method} ${route.url}: 401 without WWW-Authenticate`);
      }
    }
    expect(wrong).toEqual([]);
  });

  it("/metrics: open from IFC_METRICS_NETWORKS, 401 elsewhere without credentials, system:view with them", async () => {
    expect((await http(closed.url, "GET", "/metrics", {}, undefined, "127.0.0.2")).status).toBe(200);
    expect((await http(closed.url, "GET", "/metrics")).status).toBe(401);
    expect((await http(closed.url, "GET", "/metrics", { authorization: `Bearer ${tokens.viewer!}` })).status).toBe(403);
    const ok = await http(closed.url, "GET", "/metrics", { authorization: `Bearer ${tokens.operator!}` });
    expect(ok.status).toBe(200);
    // the gate's own counters are there, and what they counted in this file
    expect(ok.body).toMatch(/^ifc_auth_failures_total\{reason="missing"\} \d+/m);
    expect(ok.body).toMatch(/^ifc_auth_denied_total\{permission="system:view"\} \d+/m);
    // bad credentials from a metrics network are still refused: presented credentials are never ignored
    expect((await http(closed.url, "GET", "/metrics", { authorization: `Bearer ${tokens.expired!}` }, undefined, "127.0.0.2")).status).toBe(401);
  });

  it("pages: served to anyone, with the login form's script; the stream's resources behind them are not", async () => {
    const page = await http(closed.url, "GET", `/publish/${STREAM}`);
    expect(page.status).toBe(200);
    expect(page.body).toContain("/api/v1/auth/session");
    expect((await http(closed.url, "GET", `/streams/${STREAM}`)).status).toBe(200);
    expect((await http(closed.url, "POST", `/whip/${STREAM}`, { "content-type": "application/sdp" }, "v=0")).status).toBe(401);
  });

  it("the pages' cookie: a login sets it, it authenticates, and a cross-site change with it is refused", async () => {
    const res = await http(closed.url, "POST", "/api/v1/auth/session", {}, JSON.stringify({ username: "vera", password: "vera-password-1234" }));
    expect(res.status).toBe(200);
    const cookie = String(res.headers["set-cookie"]).split(";")[0]!;
    expect(cookie).toMatch(/^ifc_session=ey/);
    expect((await http(closed.url, "GET", `/api/v1/streams/${STREAM}`, { cookie })).status).toBe(404); // allowed; not live
    expect((await http(closed.url, "GET", `/ws/streams/${STREAM}`, { cookie })).status).not.toBe(401);
    expect((await upgrade(closed.url, `/ws/streams/${STREAM}`, { cookie })).status).toBe(101);
    const crossSite = await http(closed.url, "POST", `/whep/${STREAM}`, { cookie, origin: "https://evil.example", "content-type": "application/sdp" }, "v=0");
    expect(crossSite.status).toBe(403);
  });

  it("a refused WebSocket handshake closes its socket (Node no longer times out an upgrade socket)", async () => {
    const port = Number(new URL(closed.url).port);
    for (const auth of ["", `Authorization: Bearer ${tokens.viewer!}\r\n`]) {
      const first = await new Promise<string>((resolve, reject) => {
        const sock = connect(port, "127.0.0.1");
        let text = "";
        sock.on("data", (d: Buffer) => (text += d.toString()));
        sock.on("close", () => resolve(text.split("\r\n")[0]!));
        sock.on("error", reject);
        sock.write(`GET /ws/system-status HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n${auth}\r\n`);
      });
      expect(first).toBe(auth ? "HTTP/1.1 403 Forbidden" : "HTTP/1.1 401 Unauthorized");
    }
  });

  it("a bad network list stops the start, naming its variable", async () => {
    await expect(startTestServer({ authAnonymousNetworks: ["10.0.0.0/33"] })).rejects.toThrow(/IFC_AUTH_ANONYMOUS_NETWORKS.*10\.0\.0\.0\/33/);
    await expect(startTestServer({ metricsNetworks: ["prometheus.local"] })).rejects.toThrow(/IFC_METRICS_NETWORKS/);
  });

  it("a view token for cam1 opens cam1's player routes (?token=), not another stream's, and is no access token", async () => {
    const res = await http(closed.url, "POST", "/api/v1/auth/view-token", { authorization: `Bearer ${tokens.viewer!}` }, JSON.stringify({ stream: STREAM }));
    expect(res.status, res.body).toBe(200);
    const token = encodeURIComponent((JSON.parse(res.body) as { token: string }).token);
    expect((await http(closed.url, "GET", `/hls/${STREAM}/index.m3u8?token=${token}`)).status).toBe(404); // let in; not live
    expect((await upgrade(closed.url, `/ws/streams/${STREAM}?token=${token}`, {})).status).toBe(101);
    expect((await http(closed.url, "GET", `/hls/other/index.m3u8?token=${token}`)).status).toBe(403);
    expect((await http(closed.url, "GET", `/api/v1/streams/${STREAM}`, { authorization: `Bearer ${decodeURIComponent(token)}` })).status).toBe(401);
  });
});
