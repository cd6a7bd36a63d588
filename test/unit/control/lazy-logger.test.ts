import { Writable } from "node:stream";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { createApp } from "../../../src/control/app.js";
import { LazyChildLogger } from "../../../src/control/lazy-logger.js";

function capture(level: string) {
  const lines: Record<string, unknown>[] = [];
  const sink = new Writable({ write(chunk, _e, done) { lines.push(JSON.parse(String(chunk))); done(); } });
  return { log: pino({ level }, sink), lines };
}

describe("LazyChildLogger", () => {
  it("makes the child on the first enabled log only, with its bindings", () => {
    const { log, lines } = capture("info");
    let children = 0;
    const parent = new Proxy(log, { get: (t, p) => (p === "child" ? (...a: Parameters<typeof log.child>) => (children++, t.child(...a)) : Reflect.get(t, p)) });
    const lazy = new LazyChildLogger(parent, { reqId: "req-1" }, {});
    lazy.debug("not written");
    expect(children).toBe(0);
    expect(lazy.level).toBe("info");
    lazy.info({ a: 1 }, "written");
    lazy.warn("again");
    expect(children).toBe(1);
    expect(lines.map((l) => [l.msg, l.reqId])).toEqual([["written", "req-1"], ["again", "req-1"]]);
  });

  it("is what Fastify hands a request: its log lines carry reqId", async () => {
    const { log, lines } = capture("info");
    const app = createApp({ logger: log, bodyLimit: 1024, corsOrigins: [] });
    app.get("/x", { config: { auth: { permission: "public" } } }, async (req) => {
      req.log.info("in handler");
      return { ok: true };
    });
    const res = await app.inject({ method: "GET", url: "/x" });
    expect(res.statusCode).toBe(200);
    expect(lines.find((l) => l.msg === "in handler")?.reqId).toMatch(/^req-/);
    await app.close();
  });
});
