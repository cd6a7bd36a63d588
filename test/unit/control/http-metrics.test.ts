import { pino } from "pino";
import { describe, expect, it } from "vitest";
import { createApp } from "../../../src/control/app.js";
import { httpMetrics } from "../../../src/control/http-metrics.js";
import { NotFoundError } from "../../../src/errors.js";
import { waitFor } from "../../support/wait-for.js";

describe("httpMetrics", () => {
  it("labels request durations by route template, method and status (unmatched for unknown routes), never by raw URL", async () => {
    const app = createApp({ logger: pino({ level: "silent" }), bodyLimit: 1024, corsOrigins: [] });
    const reg = httpMetrics(app);
    app.get<{ Params: { stream: string } }>("/api/v1/streams/:stream", async (req) => {
      if (req.params.stream === "gone") throw new NotFoundError("not live");
      return { name: req.params.stream };
    });
    await app.ready();
    for (const s of ["cam1", "cam2", "cam3"]) await app.inject({ method: "GET", url: `/api/v1/streams/${s}?token=secret` });
    await app.inject({ method: "GET", url: "/api/v1/streams/gone" });
    await app.inject({ method: "GET", url: "/some/random/path-123" });
    await app.inject({ method: "DELETE", url: "/another-random-path" });
    const count = (text: string, labels: string) => new RegExp(`^ifc_http_request_duration_seconds_count\\{${labels}\\} (\\d+)$`, "m").exec(text)?.[1];
    let text = "";
    await waitFor(async () => count((text = await reg.metrics()), 'route="unmatched",method="DELETE",status="404"') === "1", { what: "all six observed" });
    expect(count(text, 'route="/api/v1/streams/:stream",method="GET",status="200"')).toBe("3");
    expect(count(text, 'route="/api/v1/streams/:stream",method="GET",status="404"')).toBe("1");
    expect(count(text, 'route="unmatched",method="GET",status="404"')).toBe("1");
    expect(text).not.toMatch(/cam1|random|secret/);
    expect(text).toMatch(/^ifc_http_requests_in_flight 0$/m);
    await app.close();
  });

  it("counts a request in flight while its handler runs", async () => {
    const app = createApp({ logger: pino({ level: "silent" }), bodyLimit: 1024, corsOrigins: [] });
    const reg = httpMetrics(app);
    let release: () => void = () => undefined;
    const held = new Promise<void>((r) => (release = r));
    let entered = false;
    app.get("/slow", async () => {
      entered = true;
      await held;
      return { ok: true };
    });
    await app.ready();
    const pending = app.inject({ method: "GET", url: "/slow" });
    await waitFor(() => entered, { what: "the handler entered" });
    expect(await reg.metrics()).toMatch(/^ifc_http_requests_in_flight 1$/m);
    release();
    await pending;
    await waitFor(async () => /^ifc_http_requests_in_flight 0$/m.test(await reg.metrics()), { what: "the gauge back at 0" });
    await app.close();
  });
});
