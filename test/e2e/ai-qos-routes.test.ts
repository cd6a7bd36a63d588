import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { VIDEO_ANALYSIS_TOPIC, type BusEvent } from "../../src/ports/event-bus.js";
import { publishTestStream, type TestStreamPublisher } from "../helpers/publish-test-stream.js";
import { startTestServer, type TestServer } from "../support/server-harness.js";
import { waitFor, waitForValue } from "../support/wait-for.js";

/**
 * The AI feed's operator surface through a real server and its embedded reference worker (a
 * child process): `PUT /api/v1/streams/{stream}/qos` and `GET /api/v1/ai/workers`.
 * IFC_AI_MAX_PRESET=medium, one AI session: the second stream is live but waits for a slot.
 */
let ts: TestServer;
const pubs: TestStreamPublisher[] = [];
const events: BusEvent[] = [];

interface AiStats { preset: string; override: string | null; state: string; results: number; worker?: string }
interface Problem { type: string; status: number; detail: string }
interface Workers { enabled: boolean; sessions: number; workers: { address: string; healthy: boolean; breaker: string; outstanding: number }[] }

const publish = async (stream: string): Promise<void> => {
  pubs.push(await publishTestStream(`${ts.url}/whip/${stream}`, { width: 320, height: 240, fps: 30, gopSeconds: 1, durationSeconds: 60, audio: false, preset: "ultrafast", connectTimeoutMs: 30_000 }));
};

const putQos = (stream: string, preset: string): Promise<Response> =>
  fetch(`${ts.url}/api/v1/streams/${stream}/qos`, { method: "PUT", headers: { "content-type": "application/json" }, body: JSON.stringify({ preset }) });

const aiStats = async (stream: string): Promise<AiStats | undefined> => {
  const res = await fetch(`${ts.url}/api/v1/streams/${stream}/ai`);
  return res.status === 200 ? ((await res.json()) as AiStats) : undefined;
};

beforeAll(async () => {
  ts = await startTestServer({ aiEnabled: true, aiMaxPreset: "medium", aiMaxSessions: 1, recordByDefault: false });
  ts.server.bus.subscribe(VIDEO_ANALYSIS_TOPIC, (e) => events.push(e));
  await publish("fed");
  // the first stream holds the only AI slot before the second one comes
  await waitFor(async () => (await aiStats("fed"))?.state === "streaming", { timeoutMs: 30_000, what: "the AI feed of 'fed' to stream" });
  await publish("waits");
}, 120_000);

afterAll(async () => {
  await Promise.all(pubs.map((p) => p.stop()));
  await ts?.stop();
});

describe("GET /api/v1/ai/workers", () => {
  it("lists the embedded worker: healthy, breaker closed, outstanding frames, and the session count", async () => {
    const res = await fetch(`${ts.url}/api/v1/ai/workers`);
    expect(res.status).toBe(200);
    const body = (await res.json()) as Workers;
    expect(body.enabled).toBe(true);
    expect(body.sessions).toBe(1); // 'waits' is waiting for a slot
    expect(body.workers.length).toBe(1);
    const w = body.workers[0] as Workers["workers"][number];
    expect(w.address).toBe(ts.server.embeddedWorker?.address);
    expect(w.address).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(w.healthy).toBe(true);
    expect(w.breaker).toBe("closed");
    expect(Number.isInteger(w.outstanding)).toBe(true);
    expect(w.outstanding).toBeGreaterThanOrEqual(0);
    // the streaming session is on that worker
    expect((await aiStats("fed"))?.worker).toBe(w.address);
  });
});

describe("PUT /api/v1/streams/{stream}/qos", () => {
  it("refuses a preset above IFC_AI_MAX_PRESET with 400 problem+json, changing nothing", async () => {
    const res = await putQos("fed", "high");
    expect(res.status).toBe(400);
    expect(res.headers.get("content-type")).toMatch(/^application\/problem\+json/);
    const p = (await res.json()) as Problem;
    expect(p.type).toBe("urn:imageflowcanvas:problem:qos-above-maximum");
    expect(p.detail).toMatch(/IFC_AI_MAX_PRESET/);
    expect((await aiStats("fed"))?.override).toBeNull();
  });

  it("refuses an unknown preset name with 400", async () => {
    const res = await putQos("fed", "ultra");
    expect(res.status).toBe(400);
    expect(res.headers.get("content-type")).toMatch(/^application\/problem\+json/);
  });

  it("answers 404 for a live stream that is not fed (waiting for a slot) and for a stream that is not live", async () => {
    await waitFor(() => ts.server.registry.get("waits")?.stats().state === "live", { what: "'waits' to be live" });
    expect((await aiStats("waits"))?.state).toBe("waiting-for-slot");
    const waiting = await putQos("waits", "low");
    expect(waiting.status).toBe(404);
    expect(((await waiting.json()) as Problem).type).toBe("urn:imageflowcanvas:problem:ai-session-not-found");
    const gone = await putQos("nobody", "low");
    expect(gone.status).toBe(404);
    expect(((await gone.json()) as Problem).type).toBe("urn:imageflowcanvas:problem:stream-not-found");
  });

  it("pins low, then medium, and 'auto' hands the preset back to the controller", async () => {
    const low = await putQos("fed", "low");
    expect(low.status).toBe(200);
    expect(await low.json()).toMatchObject({ preset: "low", override: "low" });
    // results of frames sent after the pin say so
    const mark = events.length;
    await waitForValue(() => events.slice(mark).find((e) => (e.value.frame as { preset?: string } | undefined)?.preset === "low"), { timeoutMs: 20_000, what: "a result of a frame sent at 'low'" });
    // pinned: the automatic controller does not move it
    expect((await aiStats("fed"))?.preset).toBe("low");

    const medium = await putQos("fed", "medium");
    expect(medium.status).toBe(200);
    expect(await medium.json()).toMatchObject({ preset: "medium", override: "medium" });
    const mark2 = events.length;
    await waitForValue(() => events.slice(mark2).find((e) => (e.value.frame as { preset?: string } | undefined)?.preset === "medium"), { timeoutMs: 20_000, what: "a result of a frame sent at 'medium'" });

    const auto = await putQos("fed", "auto");
    expect(auto.status).toBe(200);
    const stats = (await auto.json()) as AiStats;
    expect(stats.override).toBeNull();
    expect(["high", "medium", "low"]).toContain(stats.preset);
    // never above the configured maximum, override or not
    expect(stats.preset).not.toBe("high");
  });
});
