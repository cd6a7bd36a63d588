import { Validator } from "@seriousme/openapi-schema-validator";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { registeredRoutes } from "../../src/control/app.js";
import { startTestServer, type TestServer } from "../support/server-harness.js";

/**
 * The OpenAPI 3.1 document is built from the routes' own schemas: it validates, and every
 * route the server registered (read back through Fastify's route table) is in it with its
 * response schemas and its permission. Swagger UI is served from the installed package.
 */

interface Operation {
  responses?: Record<string, { content?: Record<string, unknown> }>;
  security?: unknown[];
  "x-permission"?: string;
}
type Doc = { openapi: string; paths: Record<string, Record<string, Operation>>; components: { schemas: Record<string, unknown> } };

let ts: TestServer;
let doc: Doc;

beforeAll(async () => {
  ts = await startTestServer();
  const res = await fetch(`${ts.url}/openapi.json`);
  expect(res.status).toBe(200);
  doc = (await res.json()) as Doc;
});
afterAll(async () => ts?.stop());

/** Fastify's `/a/:b` as OpenAPI's `/a/{b}`. */
const openApiPath = (url: string): string => url.replace(/:([A-Za-z0-9_]+)/g, "{$1}");

describe("OpenAPI document", () => {
  it("validates as OpenAPI 3.1", async () => {
    expect(doc.openapi).toMatch(/^3\.1\./);
    const result = await new Validator().validate(doc as never);
    expect(result.errors ?? []).toEqual([]);
    expect(result.valid).toBe(true);
  });

  it("has the shared schemas as components and a bearer security scheme", () => {
    for (const id of ["streamName", "problem", "sessionId", "recordingId", "clipId"]) expect(doc.components.schemas).toHaveProperty(id);
    expect(JSON.stringify(doc)).toContain('"scheme":"bearer"');
  });

  it("lists every registered route with response schemas, its permission, and problem+json errors", () => {
    // Collected by createApp's onRoute hook: HEAD twins and hidden routes (docs, the document) are not API.
    const expected = registeredRoutes(ts.server.app).filter((r) => !r.hidden);
    expect(expected.length).toBeGreaterThan(30);
    for (const { method, url } of expected) {
      const op = doc.paths[openApiPath(url)]?.[method.toLowerCase()];
      expect(op, `${method} ${url}`).toBeDefined();
      const responses = op?.responses ?? {};
      const success = Object.keys(responses).filter((s) => /^[123]/.test(s));
      expect(success.length, `${method} ${url} success responses`).toBeGreaterThan(0);
      expect(responses["4XX"]?.content ?? responses["4xx"]?.content, `${method} ${url} 4xx`).toHaveProperty(["application/problem+json"]);
      expect(op?.["x-permission"], `${method} ${url} permission`).toBeDefined();
      if (op?.["x-permission"] === "public") expect(op.security).toEqual([]);
    }
  });
});

describe("docs", () => {
  it("serves Swagger UI and its assets from the server itself (no CDN)", async () => {
    const page = await fetch(`${ts.url}/docs/`);
    expect(page.status).toBe(200);
    expect(page.headers.get("content-type")).toMatch(/text\/html/);
    const html = await page.text();
    expect(html).not.toMatch(/https?:\/\/(cdn|unpkg|cdnjs|jsdelivr)/);
    const assets = [...html.matchAll(/(?:src|href)="([^"]+)"/g)].map((m) => m[1]!).filter((u) => !u.startsWith("http") && !u.startsWith("data:"));
    expect(assets.length).toBeGreaterThan(0);
    for (const a of assets) {
      const res = await fetch(new URL(a, `${ts.url}/docs/`));
      expect(res.status, a).toBe(200);
      // read to the end: an unread body keeps its connection busy, and the server's close waits for it
      expect((await res.arrayBuffer()).byteLength, a).toBeGreaterThan(0);
    }
  });
});
