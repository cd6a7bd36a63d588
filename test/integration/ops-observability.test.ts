import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { Writable } from "node:stream";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { loadConfig, type Config } from "../../src/config.js";
import { loggerRedaction } from "../../src/control/log-redaction.js";
import { AUDIT_TOPIC, type BusEvent } from "../../src/ports/event-bus.js";
import { startServer, type Server } from "../../src/server.js";
import { publishTestStream, type TestStreamPublisher } from "../helpers/publish-test-stream.js";
import { waitFor } from "../support/wait-for.js";

/** The real server with its log captured (trace level: everything it could ever write). */
async function start(overrides: Partial<Config> = {}): Promise<{ server: Server; log: () => string; stop: () => Promise<void> }> {
  const dataDir = await mkdtemp(path.join(tmpdir(), "ifc-data-"));
  let text = "";
  const stream = new Writable({
    write(chunk: Buffer, _enc, cb) {
      text += chunk.toString();
      cb();
    },
  });
  const config = loadConfig({}, { httpHost: "127.0.0.1", httpPort: 0, rtspPort: 0, dataDir, aiEnabled: false, grpcHost: "127.0.0.1", grpcPort: 0, ...overrides });
  const server = await startServer(config, pino({ level: "trace", ...loggerRedaction() }, stream));
  return {
    server,
    log: () => text,
    stop: async () => {
      await server.close();
      await rm(dataDir, { recursive: true, force: true });
    },
  };
}

let cleanup: (() => Promise<void>)[] = [];
afterEach(async () => {
  for (const c of cleanup.reverse()) await c();
  cleanup = [];
});

describe("metrics, logs and audit on the real server", () => {
  it("serves HTTP durations by route template on /metrics with process metrics, and logs none of the secrets sent to it", async () => {
    const s = await start();
    cleanup.push(s.stop);
    const url = s.server.url;
    const secrets = { bearer: "eyJhbGciOiJSUzI1NiJ9.bearer-secret.sig", cookie: "cookie-secret-123", password: "password-secret-456", view: "view-secret-789" };
    const auth = { authorization: `Bearer ${secrets.bearer}`, cookie: `ifc_session=${secrets.cookie}` };
    await fetch(`${url}/api/v1/streams`, { headers: auth });
    await fetch(`${url}/api/v1/streams/nosuchcam`, { headers: auth });
    await fetch(`${url}/api/v1/auth/login`, { method: "POST", headers: { ...auth, "content-type": "application/json" }, body: JSON.stringify({ username: "alice", password: secrets.password }) });
    await fetch(`${url}/hls/nosuchcam/index.m3u8?token=${secrets.view}`, { headers: auth });
    await fetch(`${url}/whip/cam1`, { method: "POST", headers: { ...auth, "content-type": "application/sdp" }, body: "not sdp" });
    await fetch(`${url}/random/${secrets.view}`, { headers: auth });
    const count = (text: string, labels: string) => new RegExp(`^ifc_http_request_duration_seconds_count\\{${labels}\\} (\\d+)$`, "m").exec(text)?.[1];
    let text = "";
    await waitFor(async () => count((text = await (await fetch(`${url}/metrics`)).text()), 'route="unmatched",method="GET",status="404"') === "1", { what: "the unmatched request on /metrics" });
    // the made-up credentials are refused by the auth gate (presented credentials never fall back to anonymous)
    expect(count(text, 'route="/api/v1/streams",method="GET",status="401"')).toBe("1");
    expect(count(text, 'route="/api/v1/streams/:stream",method="GET",status="401"')).toBe("1");
    expect(count(text, 'route="/whip/:stream",method="POST",status="401"')).toBe("1");
    expect(text).toMatch(/^ifc_http_requests_in_flight 1$/m); // the scrape itself
    expect(text).toMatch(/^ifc_rate_limited_total\{surface="rest"\} 0$/m);
    // Node process metrics (collectDefaultMetrics, ifc_ prefix)
    expect(text).toMatch(/^ifc_process_cpu_seconds_total \d/m);
    expect(text).toMatch(/^ifc_process_resident_memory_bytes \d/m);
    expect(text).toMatch(/^ifc_nodejs_eventloop_lag_seconds \d/m);
    expect(text).not.toContain("nosuchcam");
    expect(text).not.toContain(secrets.view);
    const log = s.log();
    expect(log.length).toBeGreaterThan(0);
    for (const secret of Object.values(secrets)) expect(log).not.toContain(secret);
  });

  it("refuses the N+1-th request of a client with 429 and counts it, while /health stays open", async () => {
    const s = await start({ restRateLimitPerMinute: 3, metricsNetworks: ["10.0.0.0/8"] });
    cleanup.push(s.stop);
    const url = s.server.url;
    for (let i = 0; i < 3; i++) expect((await fetch(`${url}/api/v1/streams`)).status).toBe(200);
    const refused = await fetch(`${url}/api/v1/streams`);
    expect(refused.status).toBe(429);
    expect(refused.headers.get("content-type")).toMatch(/^application\/problem\+json/);
    expect(Number(refused.headers.get("retry-after"))).toBeGreaterThanOrEqual(59);
    expect((await fetch(`${url}/health`)).status).toBe(200);
    expect((await fetch(`${url}/whip/cam1`, { method: "POST", headers: { "content-type": "application/sdp" }, body: "v=0" })).status).toBe(429);
    expect(await s.server.app.inject({ method: "GET", url: "/metrics", remoteAddress: "10.0.0.9" }).then((r) => r.body)).toMatch(/^ifc_rate_limited_total\{surface="rest"\} 2$/m);
  });

  it("starting and stopping a recording over REST puts recording.started and recording.stopped on the audit-events topic", async () => {
    const s = await start({ recordByDefault: false });
    cleanup.push(s.stop);
    const events: BusEvent[] = [];
    s.server.bus.subscribe(AUDIT_TOPIC, (e) => events.push(e));
    const pub: TestStreamPublisher = await publishTestStream(`${s.server.url}/whip/line1-cam`, { width: 320, height: 240, fps: 15, durationSeconds: 30, audio: false });
    cleanup.push(() => pub.stop());
    const recUrl = `${s.server.url}/api/v1/streams/line1-cam/recording`;
    expect((await fetch(recUrl, { method: "POST" })).status).toBe(201);
    expect((await fetch(recUrl, { method: "DELETE" })).status).toBe(200);
    expect((await fetch(recUrl, { method: "DELETE" })).status).toBe(404); // refused: not audited
    await waitFor(() => events.length >= 2, { what: "two audit events" });
    expect(events.map((e) => ({ topic: e.topic, key: e.key, action: e.value.action, who: e.value.who, from: e.value.from, target: e.value.target, via: e.value.via }))).toEqual([
      { topic: "audit-events", key: "line1-cam", action: "recording.started", who: "anonymous", from: "127.0.0.1", target: "line1-cam", via: "rest" },
      { topic: "audit-events", key: "line1-cam", action: "recording.stopped", who: "anonymous", from: "127.0.0.1", target: "line1-cam", via: "rest" },
    ]);
    expect(events[0]?.value).toMatchObject({ schema_version: 1 });
    expect(Date.parse(String(events[0]?.value.at))).not.toBeNaN();
    expect(s.log()).toMatch(/"audit":true,"action":"recording.started","who":"anonymous","from":"127.0.0.1","target":"line1-cam","via":"rest"/);
  }, 60_000);
});
