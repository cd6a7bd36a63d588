import { pino } from "pino";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { createApp } from "../../src/control/app.js";
import { compileAllSchemas } from "../../src/control/lazy-schema-compilers.js";
import { startTestServer, type TestServer } from "../support/server-harness.js";

describe("lazy schema compilers", () => {
  let ts: TestServer;
  beforeAll(async () => {
    ts = await startTestServer({ grpcEnabled: true });
  });
  afterAll(async () => {
    await ts.stop();
  });

  it("every route's validators and serializers of the full server build (a build error would otherwise wait for the route's first request)", () => {
    const built = compileAllSchemas(ts.server.app);
    // Well over a hundred routes carry schemas; the exact count changes with every route added.
    expect(built).toBeGreaterThan(100);
    expect(compileAllSchemas(ts.server.app)).toBe(0);
  });

  it("validates and serializes as Fastify's defaults do", async () => {
    const app = createApp({ logger: pino({ level: "silent" }), bodyLimit: 1024, corsOrigins: [] });
    app.post("/echo", {
      schema: {
        body: { type: "object", properties: { n: { type: "integer" } }, required: ["n"], additionalProperties: false },
        response: { 200: { type: "object", properties: { n: { type: "integer" } } } },
      },
    }, async (req) => ({ ...(req.body as object), secret: "not in the response schema" }));
    await app.ready();
    const ok = await app.inject({ method: "POST", url: "/echo", payload: { n: "7" } });
    expect(ok.statusCode).toBe(200);
    expect(ok.json()).toEqual({ n: 7 }); // coerced by ajv, the extra field dropped by fast-json-stringify
    const bad = await app.inject({ method: "POST", url: "/echo", payload: { n: 1, typo: 2 } });
    expect(bad.statusCode).toBe(400);
    expect(bad.body).toContain("typo");
    await app.close();
  });

  it("refuses a header schema at start (Fastify would not lower-case it with a custom compiler)", async () => {
    const app = createApp({ logger: pino({ level: "silent" }), bodyLimit: 1024, corsOrigins: [] });
    app.get("/h", { schema: { headers: { type: "object", properties: { "X-Thing": { type: "string" } } } } }, async () => "ok");
    await expect(app.ready()).rejects.toThrow(/header schemas are not supported/);
    await app.close().catch(() => undefined);
  });
});
