import type { FastifyInstance } from "fastify";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { aiRoutes } from "../../../src/control/ai-routes.js";
import { createApp } from "../../../src/control/app.js";
import { StreamRegistry } from "../../../src/core/stream-registry.js";
import { problemType } from "../../../src/errors.js";
import { startFeed, type Harness } from "../extractor/ai-feed-harness.js";

/**
 * The AI routes over a real AiFeed (its worker calls and frames faked, see ai-feed-harness), by
 * Fastify inject: every answer of PUT /api/v1/streams/{stream}/qos and GET /api/v1/ai/workers.
 * The end-to-end version with the embedded reference worker is test/e2e/ai-qos-routes.test.ts.
 */
const apps: FastifyInstance[] = [];
afterEach(async () => {
  for (const a of apps.splice(0)) await a.close();
});

async function appWith(h: Harness | undefined, registry = h?.registry ?? new StreamRegistry({ maxStreams: 4, readerQueueFrames: 8 })): Promise<FastifyInstance> {
  const app = createApp({ logger: pino({ level: "silent" }), bodyLimit: 1 << 20, corsOrigins: [] });
  await app.register(aiRoutes, { registry, ai: h?.feed });
  await app.ready();
  apps.push(app);
  return app;
}

const put = (app: FastifyInstance, stream: string, body: unknown) =>
  app.inject({ method: "PUT", url: `/api/v1/streams/${stream}/qos`, headers: { "content-type": "application/json" }, payload: JSON.stringify(body) });

describe("PUT /api/v1/streams/{stream}/qos", () => {
  it("pins each preset up to IFC_AI_MAX_PRESET and 'auto' releases the pin", async () => {
    const h = startFeed({ maxPreset: "medium" });
    h.publish("cam");
    const app = await appWith(h);
    for (const preset of ["low", "medium"]) {
      const res = await put(app, "cam", { preset });
      expect(res.statusCode).toBe(200);
      expect(res.json()).toMatchObject({ preset, override: preset });
      expect(h.frames.spec("cam")?.fps).toBe(preset === "low" ? 8 : 15);
    }
    const auto = await put(app, "cam", { preset: "auto" });
    expect(auto.statusCode).toBe(200);
    expect(auto.json()).toMatchObject({ override: null });
  });

  it("answers 400 qos-above-maximum above IFC_AI_MAX_PRESET, and the preset stays", async () => {
    const h = startFeed({ maxPreset: "low" });
    h.publish("cam");
    const app = await appWith(h);
    const res = await put(app, "cam", { preset: "medium" });
    expect(res.statusCode).toBe(400);
    expect(res.headers["content-type"]).toMatch(/^application\/problem\+json/);
    expect(res.json()).toMatchObject({ type: problemType("qos-above-maximum"), status: 400 });
    expect(h.feed.stats("cam")).toMatchObject({ preset: "low", override: null });
  });

  it("answers 400 to a body that is not a preset", async () => {
    const h = startFeed();
    h.publish("cam");
    const app = await appWith(h);
    for (const body of [{ preset: "ultra" }, {}, { preset: 2 }, { preset: null }]) {
      const res = await put(app, "cam", body);
      expect(res.statusCode, JSON.stringify(body)).toBe(400);
      expect(res.headers["content-type"]).toMatch(/^application\/problem\+json/);
    }
    expect(h.feed.stats("cam")?.override).toBeNull();
  });

  it("answers 404 when the stream is not live, not fed (waiting for a slot), or the AI feed is off; 400 for a bad name", async () => {
    const h = startFeed({ maxSessions: 1 });
    h.publish("fed");
    h.publish("waits");
    const app = await appWith(h);
    expect((await put(app, "nobody", { preset: "low" })).json()).toMatchObject({ status: 404, type: problemType("stream-not-found") });
    expect((await put(app, "waits", { preset: "low" })).json()).toMatchObject({ status: 404, type: problemType("ai-session-not-found") });
    expect((await put(app, "bad.name", { preset: "low" })).statusCode).toBe(400);

    const off = await appWith(undefined, h.registry);
    expect((await put(off, "fed", { preset: "low" })).json()).toMatchObject({ status: 404, type: problemType("ai-disabled") });
  });
});

describe("GET /api/v1/ai/workers", () => {
  it("lists each worker's health, breaker state and outstanding frames, and the session count", async () => {
    const h = startFeed();
    h.publish("cam");
    const app = await appWith(h);
    const call = h.pool.callOf("cam");
    call.grant(3);
    h.frames.push("cam", h.clock);
    h.frames.push("cam", h.clock);
    const body = (await app.inject({ method: "GET", url: "/api/v1/ai/workers" })).json();
    expect(body).toEqual({ enabled: true, sessions: 1, workers: [{ address: "worker-a:50051", healthy: true, breaker: "closed", outstanding: 2 }] });

    // the call fails: outstanding frames are given back, the breaker counts the failure
    call.emit("error", new Error("UNAVAILABLE"));
    h.pool.available = false;
    const after = (await app.inject({ method: "GET", url: "/api/v1/ai/workers" })).json();
    expect(after.workers[0]).toMatchObject({ healthy: false, outstanding: 0 });
  });

  it("says the feed is disabled when it is", async () => {
    const app = await appWith(undefined);
    expect((await app.inject({ method: "GET", url: "/api/v1/ai/workers" })).json()).toEqual({ enabled: false, workers: [], sessions: 0 });
  });
});
