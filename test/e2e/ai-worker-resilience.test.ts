import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import type { RecordingManifest } from "../../src/recorder/manifest.js";
import { ReferenceWorker } from "../../src/worker/reference-worker.js";
import { publishTestStream } from "../helpers/publish-test-stream.js";
import { assemble, probeVideoFrames, readManifests } from "../support/recording-probe.js";
import { whepWatch } from "../helpers/whep-client.js";
import { spawnServer, type ServerProcess } from "../support/server-harness.js";
import { storedParts } from "../support/stored-parts.js";
import { waitFor } from "../support/wait-for.js";

/**
 * The AI feed against workers that misbehave. The server runs as its own process (its event
 * loop apart from the test's workers); the workers are the bundled reference worker.
 */
let srv: ServerProcess | undefined;
const workers: ReferenceWorker[] = [];
const quiet = pino({ level: "silent" });

afterEach(async () => {
  if (srv && srv.child.exitCode === null) {
    srv.child.kill("SIGTERM");
    await srv.exited;
  }
  srv = undefined;
  for (const w of workers.splice(0)) await w.close(0);
});

interface AiStats {
  preset: string;
  state: string;
  framesOffered: number;
  framesSent: number;
  framesDropped: number;
  outstanding: number;
  credits: number;
  results: number;
}

async function aiStats(url: string, stream: string): Promise<AiStats | undefined> {
  const res = await fetch(`${url}/api/v1/streams/${stream}/ai`);
  return res.status === 200 ? ((await res.json()) as AiStats) : undefined;
}

async function rssBytes(url: string): Promise<number> {
  const text = await (await fetch(`${url}/metrics`)).text();
  return Number(/^ifc_process_resident_memory_bytes (\d+)/m.exec(text)?.[1]);
}

const sleep = (ms: number): Promise<void> => new Promise((r) => setTimeout(r, ms));

describe("AI feed resilience", () => {
  it("a slow worker (2 fps) under a 30 fps stream: never more frames than credits, bounded, steps down and back up", async () => {
    const worker = new ReferenceWorker({ capacityFps: 2, initialCredits: 1, maxFrameBytes: 8 << 20 }, quiet);
    workers.push(worker);
    await worker.listen("127.0.0.1:0");
    srv = await spawnServer({
      IFC_AI_ENABLED: "true",
      IFC_AI_WORKERS: worker.address,
      IFC_QOS_STEP_DOWN_AFTER_MS: "1000",
      IFC_QOS_STEP_UP_AFTER_MS: "2000",
    });
    const pub = await publishTestStream(`${srv.url}/whip/slow`, { width: 640, height: 360, fps: 30, gopSeconds: 1, durationSeconds: 30, audio: false, preset: "ultrafast" });
    const timeline: (AiStats & { t: number })[] = [];
    const t0 = Date.now();
    let rssStart = 0;
    let recoveredAt = 0;
    let lowSince = 0;
    while (Date.now() - t0 < 28_000) {
      const st = await aiStats(srv.url, "slow");
      if (st) {
        timeline.push({ ...st, t: Date.now() - t0 });
        // the server never sent more than the worker allowed, and nothing piles up
        expect(st.framesSent).toBeLessThanOrEqual(worker.stats.creditsGranted);
        expect(st.outstanding).toBeLessThanOrEqual(worker.stats.creditsGranted - worker.stats.results);
        if (!rssStart && st.framesSent > 0) rssStart = await rssBytes(srv.url);
        // Once low, it stays low for as long as the worker is slow (every sample over 3 s).
        if (!recoveredAt && lowSince) expect(st.preset).toBe("low");
        if (!recoveredAt && !lowSince && st.preset === "low") lowSince = Date.now();
        if (!recoveredAt && lowSince && Date.now() - lowSince >= 3000) {
          recoveredAt = Date.now() - t0;
          worker.setCapacityFps(200);
        }
        if (recoveredAt && st.preset === "high") break;
      }
      await sleep(250);
    }
    const rssEnd = await rssBytes(srv.url);
    await pub.stop();
    const firstFrame = timeline.find((s) => s.framesSent > 0)?.t ?? NaN;
    const lowAt = timeline.find((s) => s.preset === "low")?.t ?? NaN;
    const highAgainAt = timeline.find((s) => s.t > recoveredAt && s.preset === "high")?.t ?? NaN;
    const slowPhase = timeline.filter((s) => s.t <= recoveredAt);
    console.log(`first frame ${firstFrame} ms, low at ${lowAt} ms, recovered at ${recoveredAt} ms, high again at ${highAgainAt} ms; sent ${worker.stats.framesReceived} of ${worker.stats.creditsGranted} credits; dropped ${slowPhase.at(-1)?.framesDropped}; rss ${(rssStart / 1e6).toFixed(0)} → ${(rssEnd / 1e6).toFixed(0)} MB`);
    // two steps (high → medium → low) of 1 s of lag each, measured over a 1 s window
    expect(lowAt - firstFrame).toBeLessThanOrEqual(6000);
    // every sampled frame the worker had no credit for was dropped and counted: offered =
    // sent + dropped + at most the one newest frame waiting
    const slowEnd = slowPhase.at(-1) as AiStats;
    expect(slowEnd.framesDropped).toBeGreaterThan(0);
    expect(slowEnd.framesOffered - slowEnd.framesSent - slowEnd.framesDropped).toBeGreaterThanOrEqual(0);
    expect(slowEnd.framesOffered - slowEnd.framesSent - slowEnd.framesDropped).toBeLessThanOrEqual(1);
    // at 2 fps most of what the decoder sampled could not go
    expect(slowEnd.framesDropped).toBeGreaterThan(slowEnd.framesSent);
    expect(worker.stats.framesReceived).toBeLessThanOrEqual(worker.stats.creditsGranted);
    // two steps up after 2 s of quiet each (plus the window)
    expect(highAgainAt - recoveredAt).toBeLessThanOrEqual(9000);
    // memory: one waiting frame per stream, whatever the lag
    expect(rssEnd - rssStart).toBeLessThan(64 * 1024 * 1024);
  }, 90_000);

  it("a worker killed mid-stream and restarted: breaker open → half-open → closed, frames resume, no ingest or recording loss", async () => {
    const first = new ReferenceWorker({ capacityFps: 30, initialCredits: 4, maxFrameBytes: 8 << 20 }, quiet);
    workers.push(first);
    const port = await first.listen("127.0.0.1:0");
    srv = await spawnServer({
      IFC_AI_ENABLED: "true",
      IFC_AI_WORKERS: `127.0.0.1:${port}`,
      IFC_AI_MAX_PRESET: "low",
      IFC_AI_BREAKER_OPEN_MS: "2000",
      IFC_AI_HEALTH_INTERVAL_MS: "300",
      IFC_AI_HEALTH_TIMEOUT_MS: "250",
      IFC_AI_RECONNECT_MIN_MS: "100",
      IFC_AI_RECONNECT_MAX_MS: "500",
    });
    const pub = await publishTestStream(`${srv.url}/whip/kill`, { width: 640, height: 360, fps: 30, gopSeconds: 1, durationSeconds: 16, audio: true, preset: "ultrafast" });
    const viewer = await whepWatch(`${srv.url}/whep/kill`, { audio: false, connectTimeoutMs: 30_000 });
    await waitFor(() => first.stats.results >= 10, { timeoutMs: 20_000, what: "10 results from the first worker" });
    await first.close(0);
    // Health checks fail every 300 ms: wait for the breaker to open.
    await waitFor(async () => {
      const { workers } = (await (await fetch(`${srv!.url}/api/v1/ai/workers`)).json()) as { workers: { breaker: string }[] };
      return workers[0]?.breaker === "open";
    }, { timeoutMs: 20_000, intervalMs: 100, what: "the worker's breaker open" });
    // The worker is down: the viewer keeps receiving and the recording keeps growing (a second of each).
    const whileDown = { units: viewer.units.length, parts: (await storedParts(srv.dataDir, "kill")).length };
    await waitFor(() => viewer.units.length >= whileDown.units + 30, { timeoutMs: 10_000, what: "30 frames at the viewer with the worker down" });
    await waitFor(async () => (await storedParts(srv!.dataDir, "kill")).length >= whileDown.parts + 2, { timeoutMs: 10_000, what: "2 more parts stored with the worker down" });
    const { workers: stillDown } = (await (await fetch(`${srv.url}/api/v1/ai/workers`)).json()) as { workers: { breaker: string; healthy: boolean }[] };
    expect(stillDown[0]?.breaker).not.toBe("closed"); // all of it happened while the worker was away
    await viewer.close();
    const second = new ReferenceWorker({ capacityFps: 30, initialCredits: 4, maxFrameBytes: 8 << 20 }, quiet);
    workers.push(second);
    await second.listen(`127.0.0.1:${port}`);
    await waitFor(() => second.stats.results >= 10, { timeoutMs: 20_000, what: "10 results from the second worker" });
    await pub.done;
    const sent = { ...pub.stats };
    const streamStats = async () => (await (await fetch(`${srv!.url}/api/v1/streams/kill`)).json()) as { packetsLost: number; framesReceived: number };
    // The last frames are in flight: wait until every frame sent is counted, or a loss says it never will be.
    await waitFor(async () => {
      const st = await streamStats();
      return st.framesReceived >= sent.videoFrames || st.packetsLost > 0;
    }, { timeoutMs: 10_000, intervalMs: 100, what: "every frame sent received" });
    const live = await streamStats();
    await pub.stop();
    srv.child.kill("SIGTERM");
    expect(await srv.exited).toBe(0);

    const transitions = srv.output().split("\n").filter((l) => l.includes('"msg":"AI worker circuit breaker"')).map((l) => {
      const j = JSON.parse(l) as { from: string; to: string };
      return `${j.from}→${j.to}`;
    });
    console.log(`breaker: ${transitions.join(", ")}; results before ${first.stats.results}, after ${second.stats.results}`);
    const opened = transitions.indexOf("closed→open");
    const halfOpen = transitions.indexOf("open→half-open", opened);
    const closed = transitions.indexOf("half-open→closed", halfOpen);
    expect(opened).toBeGreaterThanOrEqual(0);
    expect(halfOpen).toBeGreaterThan(opened);
    expect(closed).toBeGreaterThan(halfOpen);
    expect(second.stats.results).toBeGreaterThanOrEqual(10);

    expect(live.packetsLost).toBe(0);
    expect(live.framesReceived).toBe(sent.videoFrames);
    const manifests = await readManifests(srv.dataDir, "kill");
    expect(manifests.length).toBe(1);
    const frames = await probeVideoFrames(await assemble(srv.dataDir, manifests[0] as RecordingManifest));
    expect(frames.length).toBe(sent.videoFrames);
  }, 90_000);
});
