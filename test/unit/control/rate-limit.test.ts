import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { MemoryRateLimitStore } from "../../../src/adapters/state/memory-rate-limit-store.js";
import { createApp } from "../../../src/control/app.js";
import { installRestRateLimit, rateLimitMetrics } from "../../../src/control/rate-limit.js";
import { problemType } from "../../../src/errors.js";

/** The real app (its problem+json error handler) with a store on a clock the test moves. */
async function appWithLimit(limit: number) {
  let t = 1_000_000;
  const store = new MemoryRateLimitStore(() => t);
  const metrics = rateLimitMetrics();
  const app = createApp({ logger: pino({ level: "silent" }), bodyLimit: 1024, corsOrigins: [] });
  installRestRateLimit(app, { store, limit, onLimited: () => metrics.limited("rest") });
  app.get("/api/v1/streams", async () => ({ streams: [] }));
  app.get("/health", async () => ({ ok: true }));
  await app.ready();
  const get = (url: string, ip = "10.0.0.1") => app.inject({ method: "GET", url, remoteAddress: ip });
  return { app, get, metrics, advance: (ms: number) => (t += ms) };
}

describe("REST rate limit (per client address, per minute)", () => {
  it("passes exactly N requests, refuses the N+1-th with 429 problem+json and Retry-After, and passes again in a new window", async () => {
    const { app, get, advance, metrics } = await appWithLimit(5);
    for (let i = 0; i < 5; i++) expect((await get("/api/v1/streams")).statusCode).toBe(200);
    advance(20_000);
    const refused = await get("/api/v1/streams");
    expect(refused.statusCode).toBe(429);
    expect(refused.headers["content-type"]).toMatch(/^application\/problem\+json/);
    expect(refused.json()).toMatchObject({ type: problemType("rate-limited"), status: 429 });
    // 40 s of the window are left
    expect(refused.headers["retry-after"]).toBe("40");
    expect(refused.headers["ratelimit-limit"]).toBe("5");
    expect(refused.headers["ratelimit-remaining"]).toBe("0");
    expect(refused.headers["ratelimit-reset"]).toBe("40");
    advance(39_999); // 1 ms left: still refused, Retry-After rounds up to 1 s
    const last = await get("/api/v1/streams");
    expect(last.statusCode).toBe(429);
    expect(last.headers["retry-after"]).toBe("1");
    advance(1); // the window is over
    for (let i = 0; i < 5; i++) expect((await get("/api/v1/streams")).statusCode).toBe(200);
    expect((await get("/api/v1/streams")).statusCode).toBe(429);
    expect(await metrics.registry.metrics()).toMatch(/^ifc_rate_limited_total\{surface="rest"\} 3$/m);
    await app.close();
  });

  it("counts two clients apart", async () => {
    const { app, get } = await appWithLimit(2);
    expect((await get("/api/v1/streams", "10.0.0.1")).statusCode).toBe(200);
    expect((await get("/api/v1/streams", "10.0.0.1")).statusCode).toBe(200);
    expect((await get("/api/v1/streams", "10.0.0.1")).statusCode).toBe(429);
    expect((await get("/api/v1/streams", "10.0.0.2")).statusCode).toBe(200);
    expect((await get("/api/v1/streams", "10.0.0.2")).statusCode).toBe(200);
    expect((await get("/api/v1/streams", "10.0.0.2")).statusCode).toBe(429);
    // the same client seen through a dual-stack socket shares its bucket
    expect((await get("/api/v1/streams", "::ffff:10.0.0.2")).statusCode).toBe(429);
    expect((await get("/api/v1/streams", "::1")).statusCode).toBe(200);
    await app.close();
  });

  it("counts unknown routes too, and never limits the probes /health and /ready", async () => {
    const { app, get } = await appWithLimit(1);
    expect((await get("/nope")).statusCode).toBe(404);
    expect((await get("/api/v1/streams")).statusCode).toBe(429);
    for (let i = 0; i < 5; i++) expect((await get("/health?x=1")).statusCode).toBe(200);
    await app.close();
  });

  it("is off at 0", async () => {
    const { app, get } = await appWithLimit(0);
    for (let i = 0; i < 20; i++) expect((await get("/api/v1/streams")).statusCode).toBe(200);
    await app.close();
  });
});
