import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { createApp } from "../../../src/control/app.js";
import type { Principal } from "../../../src/control/auth/principal.js";
import { restRoutes } from "../../../src/control/rest-routes.js";
import { StreamRegistry, type StreamStats } from "../../../src/core/stream-registry.js";
import { withQueryOnUris } from "../../../src/distributor/hls/playlist-query.js";
import { PendingSessions } from "../../../src/rtc/pending-sessions.js";
import type { FastifyInstance } from "fastify";
import type { RecordingCatalog } from "../../../src/recorder/recording-catalog.js";
import type { Recorder } from "../../../src/recorder/recorder.js";

const log = pino({ level: "silent" });
const apps: FastifyInstance[] = [];
afterEach(async () => {
  for (const a of apps.splice(0)) await a.close();
});

describe("PendingSessions", () => {
  it("admits up to the limit per client, each release frees one (twice is once), clients are apart", () => {
    const p = new PendingSessions(2);
    const a = p.tryClaim("10.0.0.1");
    const b = p.tryClaim("10.0.0.1");
    expect(a && b).toBeTruthy();
    expect(p.tryClaim("10.0.0.1")).toBeUndefined();
    expect(p.tryClaim("10.0.0.2")).toBeDefined();
    a?.();
    a?.();
    expect(p.pendingOf("10.0.0.1")).toBe(1);
    expect(p.tryClaim("10.0.0.1")).toBeDefined();
    expect(p.tryClaim("10.0.0.1")).toBeUndefined();
  });
});

describe("CORS", () => {
  it("a wildcard echoes any origin without credentials; a listed origin gets credentials; others nothing", async () => {
    const app = createApp({ logger: log, bodyLimit: 1024, corsOrigins: ["https://ops.example", "*"] });
    apps.push(app);
    app.get("/x", { config: { auth: { permission: "public" } } }, async () => "ok");
    const listed = await app.inject({ url: "/x", headers: { origin: "https://ops.example" } });
    expect(listed.headers["access-control-allow-origin"]).toBe("https://ops.example");
    expect(listed.headers["access-control-allow-credentials"]).toBe("true");
    const any = await app.inject({ url: "/x", headers: { origin: "https://any.example" } });
    expect(any.headers["access-control-allow-origin"]).toBe("https://any.example");
    expect(any.headers["access-control-allow-credentials"]).toBeUndefined();
    const strict = createApp({ logger: log, bodyLimit: 1024, corsOrigins: ["https://ops.example"] });
    apps.push(strict);
    strict.get("/x", { config: { auth: { permission: "public" } } }, async () => "ok");
    const pre = await strict.inject({ method: "OPTIONS", url: "/x", headers: { origin: "https://evil.example", "access-control-request-method": "GET" } });
    expect(pre.headers["access-control-allow-origin"]).toBeUndefined();
    expect(pre.statusCode).toBe(405);
    expect(pre.headers["content-type"]).toMatch(/^application\/problem\+json/);
  });
});

describe("HLS URIs with the view token", () => {
  it("adds the token to segment lines and every URI attribute, keeping existing queries", () => {
    const playlist = [
      "#EXTM3U",
      '#EXT-X-MAP:URI="rec/init-0.mp4"',
      '#EXT-X-PART:DURATION=1.000,URI="rec/000000-00.m4s",INDEPENDENT=YES',
      "#EXTINF:4.000,",
      "rec/000000.m4s",
      '#EXT-X-PRELOAD-HINT:TYPE=PART,URI="rec/000001-00.m4s"',
      '#EXT-X-RENDITION-REPORT:URI="../other/index.m3u8?x=1",LAST-MSN=3',
      "",
    ].join("\n");
    const out = withQueryOnUris(playlist, "token", "a b+c");
    expect(out).toContain('URI="rec/init-0.mp4?token=a%20b%2Bc"');
    expect(out).toContain('URI="rec/000000-00.m4s?token=a%20b%2Bc",INDEPENDENT=YES');
    expect(out).toContain("\nrec/000000.m4s?token=a%20b%2Bc\n");
    expect(out).toContain('URI="rec/000001-00.m4s?token=a%20b%2Bc"');
    expect(out).toContain('URI="../other/index.m3u8?x=1&token=a%20b%2Bc"');
    expect(out).toContain("#EXTINF:4.000,\n");
    expect(out.endsWith("\n")).toBe(true);
  });
});

describe("stream listing and session ids", () => {
  const stats = (): StreamStats => ({ protocol: "whip", sessionId: "secret-session", since: 0, state: "live", reconnects: 0, bitrateBps: 0, packetsReceived: 0, packetsLost: 0, framesReceived: 0, framesDropped: 0, keyframeRequests: 0 });

  async function appWith(): Promise<FastifyInstance> {
    const registry = new StreamRegistry({ maxStreams: 4, readerQueueFrames: 8 });
    registry.claim("line1-cam", "secret-session", { video: { codec: "h264" } }, stats);
    registry.claim("line2-cam", "secret-session", { video: { codec: "h264" } }, stats);
    const app = createApp({ logger: log, bodyLimit: 1024, corsOrigins: [] });
    apps.push(app);
    // Stands in for the auth gate: the test names the caller's grants.
    app.addHook("onRequest", async (req) => {
      const perms = req.headers["x-test-permissions"];
      if (typeof perms === "string") req.principal = { kind: "user", subject: "t", permissions: perms.split(","), client: req.ip } satisfies Principal;
    });
    await app.register(restRoutes, {
      registry, catalog: {} as RecordingCatalog, recorder: { isRecording: () => false } as unknown as Recorder, playMaxDurationMs: 1000, readinessChecks: {},
    });
    await app.ready();
    return app;
  }
  const streams = async (app: FastifyInstance, perms?: string): Promise<Record<string, unknown>[]> =>
    (await app.inject({ url: "/api/v1/streams", headers: perms ? { "x-test-permissions": perms } : {} })).json<{ streams: Record<string, unknown>[] }>().streams;

  it("shows sessionId only to callers who may publish or control that stream, and lists only viewable streams", async () => {
    const app = await appWith();
    expect((await streams(app)).every((s) => !("sessionId" in s))).toBe(true);
    expect((await streams(app, "stream:view")).every((s) => !("sessionId" in s))).toBe(true);
    expect((await streams(app, "stream:view,stream:control")).every((s) => s.sessionId === "secret-session")).toBe(true);
    const scoped = await streams(app, "stream:view:line1-*,stream:publish:line1-*");
    expect(scoped.map((s) => s.name)).toEqual(["line1-cam"]);
    expect(scoped[0]?.sessionId).toBe("secret-session");
    const one = await app.inject({ url: "/api/v1/streams/line2-cam", headers: { "x-test-permissions": "stream:view,stream:publish:line1-*" } });
    expect(one.json()).not.toHaveProperty("sessionId");
  });

  it("an unexpected exception is a 500 problem+json that names nothing internal", async () => {
    const app = createApp({ logger: log, bodyLimit: 1024, corsOrigins: [] });
    apps.push(app);
    app.get("/boom", { config: { auth: { permission: "public" } } }, async () => {
      throw new Error("secret internals");
    });
    const res = await app.inject({ url: "/boom" });
    expect(res.statusCode).toBe(500);
    expect(res.headers["content-type"]).toMatch(/^application\/problem\+json/);
    expect(res.body).not.toContain("secret internals");
  });
});
