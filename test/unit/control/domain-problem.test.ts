import { pino } from "pino";
import { afterAll, describe, expect, it } from "vitest";
import { createApp } from "../../../src/control/app.js";
import { CapacityExceeded, Conflict, InvalidInput, NotFound, Unsupported, type DomainError } from "../../../src/core/errors.js";
import { problemType } from "../../../src/errors.js";

/** The edge's mapping, through the real app's error handler: status by kind, type from slug, Retry-After for limits. */
const app = createApp({ logger: pino({ level: "silent" }), bodyLimit: 1024, corsOrigins: [] });
const errors: Record<string, DomainError> = {
  invalid: new InvalidInput("invalid-stream-name", "bad name", { name: "a.b" }),
  missing: new NotFound("stream-not-found", "not live"),
  busy: new Conflict("stream-busy", "taken"),
  full: new CapacityExceeded("too-many-publishers", "full", 5),
  thrown: new InvalidInput("invalid-time", "not a time"),
  codec: new Unsupported("unsupported-codec", "no H.264", { offered: ["VP8"] }),
};
for (const [path, err] of Object.entries(errors)) app.get(`/${path}`, async () => Promise.reject(err));
app.get("/hook", { preValidation: async () => Promise.reject(errors.busy) }, async () => "never");
afterAll(() => app.close());

describe("domain errors mapped to RFC 7807 in control/", () => {
  it.each([
    ["invalid", 400, "invalid-stream-name", "Invalid stream name"],
    ["missing", 404, "stream-not-found", "Not found"],
    ["busy", 409, "stream-busy", "Conflict"],
    ["full", 503, "too-many-publishers", "Service unavailable"],
    ["thrown", 400, "invalid-time", "Bad request"],
    ["codec", 406, "unsupported-codec", "No acceptable codec"],
    ["hook", 409, "stream-busy", "Conflict"],
  ])("%s → %i %s", async (path, status, slug, title) => {
    const res = await app.inject({ method: "GET", url: `/${path}` });
    expect(res.statusCode).toBe(status);
    expect(res.headers["content-type"]).toMatch(/^application\/problem\+json/);
    const body = res.json();
    expect(body).toMatchObject({ type: problemType(slug), title, status, instance: `/${path}` });
    expect(typeof body.detail).toBe("string");
    expect(res.headers["retry-after"]).toBe(status === 503 ? "5" : undefined);
  });

  it("details become extension members", async () => {
    expect((await app.inject({ method: "GET", url: "/invalid" })).json().name).toBe("a.b");
    expect((await app.inject({ method: "GET", url: "/codec" })).json().offered).toEqual(["VP8"]);
  });
});
