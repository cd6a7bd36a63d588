import { connect, type Socket } from "node:net";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { RTCPeerConnection, MediaStreamTrack } from "werift";
import { problemType } from "../../src/errors.js";
import { publisherCodecs, whipPublish, type WhipPublication } from "../helpers/whip-client.js";
import { disableDefaultStun, waitIceGathered } from "../helpers/werift-ice.js";
import { startTestServer, type TestServer } from "../support/server-harness.js";
import { waitFor, waitForValue } from "../support/wait-for.js";

/**
 * Every error the HTTP server can give is RFC 7807 problem+json, including those of Fastify's
 * router and Node's HTTP parser (raw sockets), with the right status: 404, 405 + Allow, 413,
 * 414, 415, 400 listing the failing fields, 426, 429 + Retry-After, 431, 408 for a client
 * trickling its headers; connections past the per-client cap are closed at once.
 */

const ORIGIN = "https://app.example";

async function expectProblem(res: Response, status: number, slug?: string): Promise<Record<string, unknown>> {
  expect(res.status).toBe(status);
  expect(res.headers.get("content-type")).toMatch(/^application\/problem\+json/);
  const body = (await res.json()) as Record<string, unknown>;
  if (slug) expect(body.type).toBe(problemType(slug));
  expect(body.status).toBe(status);
  return body;
}

/** What the server wrote on a raw socket until it closed it. */
async function rawExchange(port: number, request: string | Buffer): Promise<{ head: string; body: string }> {
  const socket = connect(port, "127.0.0.1");
  const chunks: Buffer[] = [];
  socket.on("data", (d: Buffer) => chunks.push(d));
  socket.on("error", () => undefined);
  await new Promise<void>((r) => socket.once("connect", r));
  socket.write(request);
  await new Promise<void>((r) => socket.once("close", () => r()));
  return splitResponse(Buffer.concat(chunks).toString("latin1"));
}

function splitResponse(text: string): { head: string; body: string } {
  const at = text.indexOf("\r\n\r\n");
  return at < 0 ? { head: text, body: "" } : { head: text.slice(0, at), body: text.slice(at + 4) };
}

function expectRawProblem(res: { head: string; body: string }, status: number): Record<string, unknown> {
  expect(res.head).toMatch(new RegExp(`^HTTP/1\\.1 ${status} `));
  expect(res.head.toLowerCase()).toContain("content-type: application/problem+json");
  const body = JSON.parse(res.body) as Record<string, unknown>;
  expect(body.status).toBe(status);
  return body;
}

/** A real sendonly H.264 offer from a werift peer that will never do ICE with the server. */
async function strandedOffer(): Promise<string> {
  const pc = new RTCPeerConnection({ iceServers: [], bundlePolicy: "max-bundle", iceUseIpv6: false, codecs: publisherCodecs() });
  pc.addTransceiver(new MediaStreamTrack({ kind: "video" }), { direction: "sendonly" });
  const offer = await pc.createOffer();
  disableDefaultStun(pc);
  await pc.setLocalDescription(offer);
  await waitIceGathered(pc);
  const sdp = pc.localDescription?.sdp ?? "";
  await pc.close();
  return sdp;
}

describe("problem+json for every error", () => {
  let ts: TestServer;
  let port: number;
  beforeAll(async () => {
    ts = await startTestServer({ corsOrigins: [ORIGIN], whipMaxOfferBytes: 4096 });
    port = Number(new URL(ts.url).port);
  });
  afterAll(async () => ts?.stop());

  it("404 for an unknown path, 405 with Allow for a wrong method on a known one", async () => {
    await expectProblem(await fetch(`${ts.url}/no/such/thing`), 404, "not-found");
    const put = await fetch(`${ts.url}/api/v1/streams`, { method: "PUT" });
    const body = await expectProblem(put, 405, "method-not-allowed");
    expect(put.headers.get("allow")).toMatch(/GET/);
    expect(body.allowed).toContain("GET");
    const post = await fetch(`${ts.url}/api/v1/clips/abc/play`, { method: "POST" });
    await expectProblem(post, 405, "method-not-allowed");
  });

  it("415 for a non-JSON body on a JSON route, 413 past the body limit, 400 naming unknown and missing fields", async () => {
    await expectProblem(await fetch(`${ts.url}/api/v1/streams/cam1/clips`, { method: "POST", headers: { "content-type": "text/plain" }, body: "from=1" }), 415, "unsupported-media-type");
    const big = JSON.stringify({ from: "2026-01-01T00:00:00Z", to: "x".repeat(8000) });
    await expectProblem(await fetch(`${ts.url}/api/v1/streams/cam1/clips`, { method: "POST", headers: { "content-type": "application/json" }, body: big }), 413, "payload-too-large");
    const res = await fetch(`${ts.url}/api/v1/streams/cam1/clips`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ from: "2026-01-01T00:00:00Z", frm: 1 }) });
    const body = await expectProblem(res, 400, "validation");
    const fields = (body.errors as { field: string }[]).map((e) => e.field);
    expect(fields).toEqual(expect.arrayContaining(["body.frm", "body.to"]));
    // unknown query parameters are refused too, not ignored
    const q = await expectProblem(await fetch(`${ts.url}/api/v1/recordings?strem=cam1`), 400, "validation");
    expect((q.errors as { field: string }[])[0]?.field).toBe("querystring.strem");
  });

  it("bad percent-encoding in a path → 400, an over-long path parameter → 414, a bad stream name → 400", async () => {
    await expectProblem(await fetch(`${ts.url}/api/v1/streams/%E0%A4%A`), 400, "bad-url");
    await expectProblem(await fetch(`${ts.url}/api/v1/streams/${"a".repeat(300)}`), 414, "uri-too-long");
    await expectProblem(await fetch(`${ts.url}/api/v1/streams/a.b`), 400, "invalid-stream-name");
  });

  it("a malformed request line → 400 and a 70 KB header → 431, as raw problem+json", async () => {
    expectRawProblem(await rawExchange(port, "GARBAGE\r\n\r\n"), 400);
    expectRawProblem(await rawExchange(port, `GET /health HTTP/1.1\r\nHost: x\r\nX-Big: ${"a".repeat(70 * 1024)}\r\n\r\n`), 431);
  });

  it("a plain GET on a WebSocket route → 426; a handshake without its key → 400", async () => {
    const plain = await fetch(`${ts.url}/ws/system-status`);
    await expectProblem(plain, 426, "upgrade-required");
    expect(plain.headers.get("upgrade")).toBe("websocket");
    const noKey = await rawExchange(port, "GET /ws/streams/cam1 HTTP/1.1\r\nHost: x\r\nConnection: Upgrade\r\nUpgrade: websocket\r\nSec-WebSocket-Version: 13\r\n\r\n");
    expect(expectRawProblem(noKey, 400).type).toBe(problemType("invalid-websocket-handshake"));
  });

  it("CORS: preflights of allowed origins answered (credentials only with the echoed origin), others get nothing", async () => {
    const pre = await fetch(`${ts.url}/api/v1/streams/cam1/recording`, { method: "OPTIONS", headers: { origin: ORIGIN, "access-control-request-method": "POST" } });
    expect(pre.status).toBe(204);
    expect(pre.headers.get("access-control-allow-origin")).toBe(ORIGIN);
    expect(pre.headers.get("access-control-allow-credentials")).toBe("true");
    expect(pre.headers.get("access-control-allow-methods")).toMatch(/POST/);
    expect(pre.headers.get("vary")).toMatch(/origin/i);
    const evil = await fetch(`${ts.url}/api/v1/streams/cam1/recording`, { method: "OPTIONS", headers: { origin: "https://evil.example", "access-control-request-method": "POST" } });
    expect(evil.headers.get("access-control-allow-origin")).toBeNull();
    expect(evil.headers.get("access-control-allow-credentials")).toBeNull();
    const get = await fetch(`${ts.url}/api/v1/streams`, { headers: { origin: ORIGIN } });
    expect(get.headers.get("access-control-allow-origin")).toBe(ORIGIN);
    const other = await fetch(`${ts.url}/api/v1/streams`, { headers: { origin: "https://evil.example" } });
    expect(other.headers.get("access-control-allow-origin")).toBeNull();
    expect(other.headers.get("vary")).toMatch(/origin/i);
  });
});

describe("WebRTC sessions: per-client pending limit, kick, hidden session ids", () => {
  let ts: TestServer;
  const published: WhipPublication[] = [];
  beforeAll(async () => {
    ts = await startTestServer({ rtcMaxPendingPerClient: 1, whipConnectTimeoutMs: 1000 });
  });
  afterAll(async () => {
    for (const p of published) await p.close();
    await ts?.stop();
  });

  const offer = (stream: string, sdp: string): Promise<Response> => fetch(`${ts.url}/whip/${stream}`, { method: "POST", headers: { "content-type": "application/sdp" }, body: sdp });

  it("holds one unconnected session per client: the next offer is 429 with Retry-After until it ends, times out or connects", async () => {
    const sdp = await strandedOffer();
    const first = await offer("p1", sdp);
    expect(first.status).toBe(201);
    await first.text();
    const refused = await offer("p2", sdp);
    const body = await expectProblem(refused, 429, "too-many-pending-sessions");
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThan(0);
    expect(body.limit).toBe(1);
    // freed when the session ends (DELETE)
    expect((await fetch(new URL(first.headers.get("location") ?? "", ts.url), { method: "DELETE" })).status).toBe(200);
    const second = await offer("p2", sdp);
    expect(second.status).toBe(201);
    await second.text();
    // freed when the stranded session hits the connect timeout (1 s)
    await waitFor(async () => {
      const r = await offer("p3", sdp);
      await r.text();
      return r.status === 201;
    }, { what: "pending slot freed by the connect timeout" });
    // freed on connect: once p3 timed out, a real publisher connects and no longer counts
    const live = await waitForValue(async () => whipPublish(`${ts.url}/whip/live`, { audio: false }).catch(() => undefined), { what: "a publisher admitted" });
    published.push(live);
    // the server sees `connected` a moment after the client does
    await waitFor(async () => {
      const r = await offer("p4", sdp);
      await r.text();
      return r.status === 201;
    }, { what: "pending slot freed by the publisher connecting" });
    expect((await fetch(`${ts.url}/api/v1/streams/live`)).status).toBe(200); // it still holds its session
  });

  it("GET /api/v1/streams hides session ids from callers not shown to control the stream; DELETE kicks the publisher (204), 404 when not live", async () => {
    // A viewer (anonymous loopback callers hold `*`, so they control every stream and see the ids).
    await ts.server.auth.userStore.add("vera", "viewer", "vera-password-1234");
    const login = await fetch(`${ts.url}/api/v1/auth/login`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ username: "vera", password: "vera-password-1234" }) });
    const viewer = { authorization: `Bearer ${((await login.json()) as { access_token: string }).access_token}` };
    const list = (await (await fetch(`${ts.url}/api/v1/streams`, { headers: viewer })).json()) as { streams: Record<string, unknown>[] };
    const live = list.streams.find((s) => s.name === "live");
    expect(live).toBeDefined();
    expect(live).not.toHaveProperty("sessionId");
    expect(await (await fetch(`${ts.url}/api/v1/streams/live`, { headers: viewer })).json()).not.toHaveProperty("sessionId");
    expect(await (await fetch(`${ts.url}/api/v1/streams/live`)).json()).toHaveProperty("sessionId");
    await expectProblem(await fetch(`${ts.url}/api/v1/streams/nobody`, { method: "DELETE" }), 404, "stream-not-found");
    expect((await fetch(`${ts.url}/api/v1/streams/live`, { method: "DELETE" })).status).toBe(204);
    await waitFor(async () => (await fetch(`${ts.url}/api/v1/streams/live`)).status === 404, { what: "the kicked stream gone" });
  });

  it("session resource ids are 128-bit random (22 base64url characters)", async () => {
    const sdp = await strandedOffer();
    // the earlier test's last stranded session holds the one pending slot until its timeout
    const res = await waitForValue(async () => {
      const r = await offer("p5", sdp);
      await r.text();
      return r.status === 201 ? r : undefined;
    }, { what: "an offer admitted" });
    const id = (res.headers.get("location") ?? "").split("/").pop() ?? "";
    expect(id).toMatch(/^[A-Za-z0-9_-]{22}$/);
  });
});

describe("slow clients and connection caps", () => {
  let ts: TestServer;
  let port: number;
  beforeAll(async () => {
    ts = await startTestServer({ httpHeadersTimeoutMs: 400, httpRequestTimeoutMs: 800, httpMaxConnectionsPerClient: 3 });
    port = Number(new URL(ts.url).port);
  });
  afterAll(async () => ts?.stop());

  /** Sends `head`, then `piece` every 50 ms until the server closes: the answer and how long it took. */
  async function trickle(head: string, piece: string): Promise<{ elapsed: number; text: string }> {
    const socket = connect(port, "127.0.0.1");
    const chunks: Buffer[] = [];
    socket.on("data", (d: Buffer) => chunks.push(d));
    socket.on("error", () => undefined);
    await new Promise<void>((r) => socket.once("connect", r));
    const started = Date.now();
    socket.write(head);
    // Never finishing, always "active".
    const timer = setInterval(() => {
      if (!socket.destroyed) socket.write(piece);
    }, 50);
    await new Promise<void>((r) => socket.once("close", () => r()));
    clearInterval(timer);
    return { elapsed: Date.now() - started, text: Buffer.concat(chunks).toString("latin1") };
  }

  it("a client trickling its headers is cut at the headers timeout with 408", async () => {
    const { elapsed, text } = await trickle("GET /health HTTP/1.1\r\nHost: x\r\n", "X-Slow: 1\r\n");
    expect(elapsed).toBeGreaterThanOrEqual(350);
    expect(elapsed).toBeLessThan(5000);
    expectRawProblem(splitResponse(text), 408);
  });

  it("a client trickling its body is cut at the request timeout", async () => {
    const { elapsed, text } = await trickle("POST /api/v1/streams/cam1/clips HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 1000\r\n\r\n{", " ");
    expect(elapsed).toBeGreaterThanOrEqual(700);
    expect(elapsed).toBeLessThan(5000);
    expectRawProblem(splitResponse(text), 408);
  });

  it("a fourth connection from one address is closed at once; a slot frees when one closes", async () => {
    const open: Socket[] = [];
    const openOne = async (): Promise<{ socket: Socket; closed: Promise<void> }> => {
      const socket = connect(port, "127.0.0.1");
      socket.on("error", () => undefined);
      const closed = new Promise<void>((r) => socket.once("close", () => r()));
      await new Promise<void>((r) => socket.once("connect", r));
      return { socket, closed };
    };
    try {
      for (let i = 0; i < 3; i++) open.push((await openOne()).socket);
      // the three are served
      const ok = await new Promise<string>((resolve) => {
        const s = open[0]!;
        s.once("data", (d: Buffer) => resolve(d.toString("latin1")));
        s.write("GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
      });
      expect(ok).toMatch(/^HTTP\/1\.1 200/);
      const fourth = await openOne();
      open.push(fourth.socket);
      await fourth.closed; // destroyed by the server without a byte
      expect(fourth.socket.bytesRead).toBe(0);
      open[1]!.destroy();
      await waitFor(async () => {
        const again = await openOne();
        open.push(again.socket);
        const served = await Promise.race([
          new Promise<boolean>((resolve) => {
            again.socket.once("data", () => resolve(true));
            again.socket.write("GET /health HTTP/1.1\r\nHost: x\r\n\r\n");
          }),
          again.closed.then(() => false),
        ]);
        return served;
      }, { what: "a connection admitted after one closed" });
    } finally {
      for (const s of open) s.destroy();
    }
  });
});
