import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { rm } from "node:fs/promises";
import { availableParallelism } from "node:os";
import { promisify } from "node:util";
import { RTCPeerConnection } from "werift";
import { afterAll, describe, expect, it } from "vitest";
import { problemType } from "../../src/errors.js";
import { publishTestStream, type TestStreamPublisher } from "../helpers/publish-test-stream.js";
import { disableDefaultStun } from "../helpers/werift-ice.js";
import { viewerVideoCodecs } from "../helpers/whep-client.js";
import { publisherCodecs } from "../helpers/whip-client.js";
import { freePort } from "../support/free-port.js";
import { expectNoIngestLoss } from "../support/ingest-accounting.js";
import { assemble, decodeErrors, probeVideoFrames, readManifests } from "../support/recording-probe.js";
import { h264Sdp, RawRtspClient } from "../support/rtsp-raw-client.js";
import { spawnServer, type ServerProcess } from "../support/server-harness.js";
import { waitFor, waitForValue } from "../support/wait-for.js";

/**
 * Admission on CPU headroom (IFC_MAX_CPU_PERCENT), against a server in its own process so that
 * its meter sees the server's CPU alone (the publisher runs here). One 720p30 stream costs this
 * server some 50–100 ms of CPU per second (2.5–5 % of two cores); an idle one has no meter running
 * at all. A limit of 1 % therefore admits the first publisher and refuses newcomers once it
 * streams, while that publisher keeps recording every frame. The server is pinned to one core
 * where taskset exists (as bench/ingest-cost.ts does): its meter divides by the cores it may use,
 * so on a many-core machine one stream would otherwise read below 1 %.
 */
const LIMIT_PERCENT = 1;

let proc: ServerProcess | undefined;
let pub: TestStreamPublisher | undefined;
const peers: RTCPeerConnection[] = [];
afterAll(async () => {
  for (const pc of peers) await pc.close();
  await pub?.stop().catch(() => undefined);
  if (proc && proc.child.exitCode === null) {
    proc.child.kill("SIGTERM");
    await proc.exited;
  }
  if (proc) await rm(proc.dataDir, { recursive: true, force: true });
});

/** A werift offer as a publisher (sendonly) or a viewer (recvonly) would POST it; not gathered, as nothing will connect. */
async function offer(direction: "sendonly" | "recvonly"): Promise<string> {
  const pc = new RTCPeerConnection({ iceServers: [], bundlePolicy: "max-bundle", codecs: { video: direction === "sendonly" ? publisherCodecs().video : viewerVideoCodecs(), audio: [] } });
  peers.push(pc);
  pc.addTransceiver("video", { direction });
  const o = await pc.createOffer();
  disableDefaultStun(pc);
  await pc.setLocalDescription(o);
  const sdp = pc.localDescription?.sdp;
  if (!sdp) throw new Error("no local description");
  return sdp;
}

/** A single gauge or counter sample from /metrics (undefined when absent). */
async function metric(url: string, series: string): Promise<number | undefined> {
  const text = await (await fetch(`${url}/metrics`)).text();
  for (const line of text.split("\n")) {
    if (line.startsWith(`${series} `)) return Number(line.slice(series.length + 1));
  }
  return undefined;
}

async function expectCpuRefusal(res: Response): Promise<void> {
  expect(res.status).toBe(503);
  expect(Number(res.headers.get("retry-after"))).toBeGreaterThan(0);
  expect(res.headers.get("content-type")).toMatch(/^application\/problem\+json/);
  const body = (await res.json()) as Record<string, unknown>;
  expect(body).toMatchObject({ type: problemType("cpu-saturated"), status: 503, limit: "IFC_MAX_CPU_PERCENT", maxCpuPercent: LIMIT_PERCENT });
  expect(body.cpuPercent as number).toBeGreaterThan(LIMIT_PERCENT);
  expect(body.detail).toMatch(/IFC_MAX_CPU_PERCENT/);
}

describe("admission on CPU headroom", () => {
  it("a new publisher or viewer gets 503 with Retry-After while the live publisher keeps recording every frame", async () => {
    const rtspPort = await freePort();
    proc = await spawnServer({ IFC_MAX_CPU_PERCENT: String(LIMIT_PERCENT), IFC_RTSP_PORT: String(rtspPort) });
    const url = proc.url;
    if (existsSync("/usr/bin/taskset") && availableParallelism() > 1) await promisify(execFile)("taskset", ["-a", "-p", "-c", "0", String(proc.child.pid)]);
    // Idle: nothing live, the meter sleeps and reads 0, so the first publisher is admitted.
    expect(await metric(url, "ifc_cpu_percent")).toBe(0);
    pub = await publishTestStream(`${url}/whip/first`, { width: 1280, height: 720, fps: 30, gopSeconds: 1, durationSeconds: 10, audio: true });
    // The server's own meter, not a sleep: wait until it reads the stream's cost above the limit.
    const reading = await waitForValue(async () => {
      const v = await metric(url, "ifc_cpu_percent");
      return v !== undefined && v > LIMIT_PERCENT ? v : undefined;
    }, { timeoutMs: 20_000, intervalMs: 100, what: `ifc_cpu_percent above ${LIMIT_PERCENT}` });
    expect(reading).toBeGreaterThan(LIMIT_PERCENT);

    await expectCpuRefusal(await fetch(`${url}/whip/second`, { method: "POST", headers: { "content-type": "application/sdp" }, body: await offer("sendonly") }));
    await expectCpuRefusal(await fetch(`${url}/whep/first`, { method: "POST", headers: { "content-type": "application/sdp" }, body: await offer("recvonly") }));
    const rtsp = await RawRtspClient.open(rtspPort);
    try {
      const res = await rtsp.request("ANNOUNCE", `rtsp://127.0.0.1:${rtspPort}/third`, { "Content-Type": "application/sdp" }, h264Sdp());
      expect(res.status).toBe(503);
      expect(Number(res.headers.get("Retry-After"))).toBeGreaterThan(0);
      expect(res.body.toString()).toMatch(/IFC_MAX_CPU_PERCENT/);
    } finally {
      rtsp.close();
    }
    // Nothing of the refused ones was claimed.
    const live = (await (await fetch(`${url}/api/v1/streams`)).json()) as { streams: { name: string }[] };
    expect(live.streams.map((s) => s.name)).toEqual(["first"]);
    // Every refusal is counted by kind.
    expect(await metric(url, 'ifc_admission_refused_total{kind="whip"}')).toBe(1);
    expect(await metric(url, 'ifc_admission_refused_total{kind="whep"}')).toBe(1);
    expect(await metric(url, 'ifc_admission_refused_total{kind="rtsp"}')).toBe(1);

    // The publisher already live lost nothing: every packet reached the server, every frame is in the recording.
    await pub.done;
    await expectNoIngestLoss(url, "first", pub.stats);
    // Every drop on its media path is counted on /metrics, and none happened.
    for (const series of [
      'ifc_stream_frames_dropped_total{stream="first"}', 'ifc_stream_socket_drops_total{stream="first"}',
      'ifc_reader_frames_dropped_total{stream="first",reader="recorder"}', "ifc_recording_frames_dropped_total", "ifc_recording_breaks_total",
    ]) expect(await metric(url, series), series).toBe(0);
    const sent = pub.stats.videoFrames;
    await pub.stop();
    pub = undefined;
    const m = await waitForValue(async () => {
      const [manifest] = await readManifests(proc!.dataDir, "first");
      return manifest?.endedAt ? manifest : undefined;
    }, { timeoutMs: 15_000, what: "the recording closed" });
    const file = await assemble(proc.dataDir, m);
    expect((await probeVideoFrames(file)).length).toBe(sent);
    expect(await decodeErrors(file)).toBe("");
    // With nothing live the meter stops again (no timer while idle).
    await waitFor(async () => (await metric(url, "ifc_cpu_percent")) === 0, { timeoutMs: 10_000, what: "the meter stopped" });
  });
});
