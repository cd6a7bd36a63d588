import { Writable } from "node:stream";
import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { loggerRedaction, redactUrl } from "../../../src/control/log-redaction.js";

function captured() {
  let text = "";
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      text += chunk.toString();
      cb();
    },
  });
  return { logger: pino({ level: "trace", ...loggerRedaction() }, stream), text: () => text };
}

describe("log redaction", () => {
  it("censors secret fields up to three objects deep, in arrays too, and keeps the rest", () => {
    const { logger, text } = captured();
    logger.info({ password: "pw-top", body: { username: "alice", password: "pw-body" }, tokens: { access_token: "at-1", refresh_token: "rt-1" } }, "login");
    logger.info({ headers: { authorization: "Bearer hdr-token", cookie: "ifc_session=cookie-1", "set-cookie": "a=cookie-2", accept: "text/html" } }, "headers");
    logger.info({ user: { credentials: { token: "tok-3" } }, keys: [{ id: "k1", key: "secret-key-1" }] }, "deep");
    logger.info({ req: { method: "GET", url: "/hls/cam1/index.m3u8?token=view-1&_HLS_msn=3", headers: { authorization: "Bearer req-token" } } }, "req");
    const out = text();
    for (const s of ["pw-top", "pw-body", "at-1", "rt-1", "hdr-token", "cookie-1", "cookie-2", "tok-3", "secret-key-1", "view-1", "req-token"]) expect(out).not.toContain(s);
    expect(out).toContain('"username":"alice"');
    expect(out).toContain('"accept":"text/html"');
    expect(out).toContain('"id":"k1"');
    expect(out).toContain("_HLS_msn=3");
    expect(out.match(/\[redacted\]/g)?.length).toBeGreaterThanOrEqual(10);
  });

  it("documents its limit: a secret four objects deep is not reached", () => {
    const { logger, text } = captured();
    logger.info({ a: { b: { c: { password: "three-deep" } } } }, "deep");
    logger.info({ a: { b: { c: { d: { password: "too-deep" } } } } }, "deeper");
    expect(text()).not.toContain("three-deep");
    expect(text()).toContain("too-deep");
  });

  it("masks credential query parameters in URLs", () => {
    expect(redactUrl("/hls/a/vod.m3u8?from=1&token=abc.def&x=1")).toBe("/hls/a/vod.m3u8?from=1&token=[redacted]&x=1");
    expect(redactUrl("/x?access_token=1#f")).toBe("/x?access_token=[redacted]#f");
    expect(redactUrl("/x?tokens=1")).toBe("/x?tokens=1");
  });
});
