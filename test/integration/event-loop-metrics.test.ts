/**
 * The event-loop delay on /metrics: sampled (a histogram with counts) while a stream is live,
 * and its monitor stopped again when the last stream ends, so an idle server is not woken by it.
 */
import { afterAll, describe, expect, it } from "vitest";
import { publishTestStream } from "../helpers/publish-test-stream.js";
import { startTestServer, type TestServer } from "../support/server-harness.js";
import { waitFor, waitForValue } from "../support/wait-for.js";

describe("event-loop delay metrics", () => {
  let s: TestServer | undefined;
  afterAll(async () => {
    await s?.stop();
  });

  const scrape = async (): Promise<string> => {
    const res = await s!.server.app.inject({ method: "GET", url: "/metrics", remoteAddress: "127.0.0.1" });
    expect(res.statusCode).toBe(200);
    return res.body;
  };
  const value = (text: string, series: string): number | undefined => {
    const m = new RegExp(`^${series.replace(/[{}+."]/g, "\\$&")} (\\S+)$`, "m").exec(text);
    return m?.[1] === undefined ? undefined : Number(m[1]);
  };

  it("samples only while a stream is live, as a histogram with a per-scrape max", async () => {
    s = await startTestServer({ metricsNetworks: ["127.0.0.1/32"] });
    const idle = await scrape();
    expect(value(idle, "ifc_event_loop_monitor_active")).toBe(0);
    expect(value(idle, "ifc_event_loop_delay_seconds_count")).toBe(0);
    // prom-client's own 10 ms monitor is replaced, not doubled
    expect(idle.match(/^# TYPE ifc_nodejs_eventloop_lag_max_seconds /gm)).toHaveLength(1);
    expect(idle).toMatch(/^ifc_nodejs_eventloop_lag_seconds \d/m);

    const pub = await publishTestStream(`${s.url}/whip/loop`, { durationSeconds: 30, audio: false });
    try {
      await waitFor(() => s!.server.registry.get("loop")?.stats().framesReceived !== undefined && s!.server.registry.get("loop")!.stats().framesReceived > 10, { what: "frames of the live stream" });
      const live = await waitForValue(async () => {
        const t = await scrape();
        return (value(t, "ifc_event_loop_delay_seconds_count") ?? 0) > 0 ? t : undefined;
      }, { what: "event-loop samples while live" });
      expect(value(live, "ifc_event_loop_monitor_active")).toBe(1);
      const count = value(live, "ifc_event_loop_delay_seconds_count")!;
      expect(value(live, 'ifc_event_loop_delay_seconds_bucket{le="+Inf"}')).toBe(count);
      expect(value(live, 'ifc_event_loop_delay_seconds_bucket{le="1"}')).toBeLessThanOrEqual(count);
      expect(value(live, 'ifc_event_loop_delay_seconds_bucket{le="0.001"}')).toBeLessThanOrEqual(value(live, 'ifc_event_loop_delay_seconds_bucket{le="0.01"}')!);
      expect(value(live, "ifc_nodejs_eventloop_lag_max_seconds")).toBeGreaterThan(0);
      expect(value(live, "ifc_event_loop_delay_max_seconds")).toBeGreaterThanOrEqual(0);
    } finally {
      await pub.stop();
    }
    await waitFor(() => s!.server.registry.list().length === 0, { what: "the stream to end" });
    const after = await scrape();
    expect(value(after, "ifc_event_loop_monitor_active")).toBe(0);
    // counts stay (cumulative), the window figures are reset by the scrape before
    expect(value(after, "ifc_event_loop_delay_seconds_count")).toBeGreaterThan(0);
    const again = await scrape();
    expect(value(again, "ifc_nodejs_eventloop_lag_max_seconds")).toBe(0);
    expect(value(again, "ifc_event_loop_delay_seconds_count")).toBe(value(after, "ifc_event_loop_delay_seconds_count"));
  });
});
