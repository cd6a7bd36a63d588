import { rm } from "node:fs/promises";
import { afterAll, afterEach, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { MediaStreamTrack, RTCPeerConnection, RTCRtpCodecParameters } from "werift";
import type { MediaFrame } from "../../src/media/types.js";
import { STREAM_EVENTS_TOPIC, type StreamLifecycleEvent } from "../../src/ports/event-bus.js";
import { publishTestStream, type TestStreamOptions, type TestStreamPublisher } from "../helpers/publish-test-stream.js";
import { restartIce } from "../helpers/ice-restart-client.js";
import { readManifests } from "../support/recording-probe.js";
import { startTestServer, type TestServer } from "../support/server-harness.js";
import { waitFor, waitForValue } from "../support/wait-for.js";

/**
 * Wearables drop and come back (issue 12, points 1-2), with real werift publishers fed by
 * ffmpeg: a publisher that goes silent leaves its stream `reconnecting`; the same credentials
 * come back by a new POST (resume), by a POST while still live (takeover) or by an ICE restart
 * on the session; other credentials get 409; a grace that runs out ends the stream.
 * Small timeouts keep it fast: RTP silence 1 s, grace 10 s (1.5 s where expiry is the subject).
 */
const SOURCE: TestStreamOptions = { width: 320, height: 240, fps: 15, gopSeconds: 1, durationSeconds: 60, audio: false, preset: "ultrafast" };

interface StreamView {
  state: string;
  reconnects: number;
  reconnectingSince?: string;
  framesReceived: number;
  sessionId?: string;
}

const publishers: TestStreamPublisher[] = [];
async function publish(ts: TestServer, stream: string, opts: TestStreamOptions = {}): Promise<TestStreamPublisher> {
  const pub = await publishTestStream(`${ts.url}/whip/${stream}`, { ...SOURCE, ...opts });
  publishers.push(pub);
  return pub;
}

/** The network is gone: the PeerConnection closes without a DELETE, and the source stops. */
async function lose(pub: TestStreamPublisher): Promise<void> {
  await pub.publication.drop();
  await pub.stop();
}

async function streamView(ts: TestServer, stream: string): Promise<StreamView | undefined> {
  const res = await fetch(`${ts.url}/api/v1/streams/${stream}`);
  if (res.status === 404) return undefined;
  return (await res.json()) as StreamView;
}

function eventsOf(ts: TestServer): StreamLifecycleEvent[] {
  const events: StreamLifecycleEvent[] = [];
  ts.server.bus.subscribe(STREAM_EVENTS_TOPIC, (e) => events.push(e.value as StreamLifecycleEvent));
  return events;
}

/** A real werift offer for a raw POST (status and body are the subject). */
async function rawOffer(): Promise<{ sdp: string; pc: RTCPeerConnection }> {
  const pc = new RTCPeerConnection({
    iceUseIpv6: false,
    codecs: { video: [new RTCRtpCodecParameters({ mimeType: "video/H264", clockRate: 90000, payloadType: 96, parameters: "packetization-mode=1;profile-level-id=42e01f" })] },
  });
  pc.addTransceiver(new MediaStreamTrack({ kind: "video" }), { direction: "sendonly" });
  await pc.setLocalDescription(await pc.createOffer());
  return { sdp: pc.localDescription?.sdp ?? "", pc };
}

afterEach(async () => {
  for (const p of publishers.splice(0)) await p.stop().catch(() => undefined);
});

describe("a publisher that drops and comes back keeps its stream", () => {
  let ts: TestServer;
  let events: StreamLifecycleEvent[];
  let admin: Record<string, string>;
  beforeAll(async () => {
    ts = await startTestServer({ rtpSilenceTimeoutMs: 1000, reconnectGraceMs: 10_000, wsStatsIntervalMs: 100 });
    events = eventsOf(ts);
    await ts.server.auth.userStore.add("ada", "admin", "ada-password-1234");
    const login = await fetch(`${ts.url}/api/v1/auth/login`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ username: "ada", password: "ada-password-1234" }) });
    admin = { authorization: `Bearer ${((await login.json()) as { access_token: string }).access_token}` };
  }, 60_000);
  afterAll(async () => {
    await ts?.stop();
  });

  it("goes reconnecting when RTP stops; other credentials get 409; a new POST with the same ones resumes the same recording and hub", async () => {
    const a = await publish(ts, "cam");
    const recordingId = await waitForValue(() => ts.server.recorder.liveManifest("cam")?.recordingId, { what: "the recording to start" });
    await waitFor(async () => ((await streamView(ts, "cam"))?.framesReceived ?? 0) >= 15, { what: "a second of frames" });
    const live = ts.server.registry.get("cam");
    if (!live) throw new Error("cam not live");
    const hub = live.hub;
    // A reader attached before the break (as a viewer or the recorder is) must see frames after it.
    const seen: MediaFrame[] = [];
    const reader = hub.attach("test-viewer", (f) => {
      seen.push(f);
    });
    await waitFor(() => seen.filter((f) => f.kind === "video").length >= 5, { what: "frames on the reader before the break" });

    // A dashboard on the WebSocket feed sees the state too.
    const ws = new WebSocket(`${ts.url.replace(/^http/, "ws")}/ws/streams/cam`);
    const stats: Record<string, unknown>[] = [];
    ws.on("message", (d: Buffer) => {
      const m = JSON.parse(d.toString()) as Record<string, unknown>;
      if (m.type === "stream_stats") stats.push(m);
    });
    await waitFor(() => stats.some((m) => m.state === "live"), { what: "stream_stats of the live stream" });

    const droppedAt = Date.now();
    await lose(a);
    const waiting = await waitForValue(async () => {
      const v = await streamView(ts, "cam");
      return v?.state === "reconnecting" ? v : undefined;
    }, { what: "cam reconnecting" });
    expect(Date.parse(waiting.reconnectingSince ?? "")).toBeGreaterThanOrEqual(droppedAt);
    expect(events.find((e) => e.stream === "cam" && e.type === "reconnecting")?.reason).toMatch(/^(rtp-timeout|ice-disconnected|ice-failed|dtls-closed)$/);
    expect(hub.isClosed).toBe(false);
    await waitFor(() => stats.some((m) => m.state === "reconnecting" && typeof m.reconnecting_since === "string"), { what: "stream_stats: reconnecting" });

    const { sdp, pc } = await rawOffer();
    try {
      const other = await fetch(`${ts.url}/whip/cam`, { method: "POST", headers: { ...admin, "content-type": "application/sdp" }, body: sdp });
      expect(other.status).toBe(409);
      expect(other.headers.get("content-type")).toMatch(/^application\/problem\+json/);
      expect(((await other.json()) as { type: string }).type).toMatch(/stream-busy$/);
    } finally {
      await pc.close();
    }
    expect((await streamView(ts, "cam"))?.state).toBe("reconnecting");

    const framesBefore = seen.length;
    await publish(ts, "cam");
    const back = await waitForValue(async () => {
      const v = await streamView(ts, "cam");
      return v?.state === "live" ? v : undefined;
    }, { what: "cam live again" });
    expect(back.reconnects).toBe(1);
    expect(back.reconnectingSince).toBeUndefined();
    expect(ts.server.registry.get("cam")?.hub).toBe(hub);
    await waitFor(() => seen.length >= framesBefore + 15, { what: "frames after the resume on the reader attached before" });
    const firstAfter = seen.slice(framesBefore).find((f) => f.kind === "video");
    expect(firstAfter?.discontinuity).toBe(true);
    // stream time went on across the break by about its wall-clock length, never backwards
    const lastBefore = seen.slice(0, framesBefore).filter((f) => f.kind === "video").at(-1);
    expect(firstAfter && lastBefore && firstAfter.rtpTime > lastBefore.rtpTime).toBe(true);
    expect(ts.server.recorder.liveManifest("cam")?.recordingId).toBe(recordingId);
    const lifecycle = new Set(["published", "reconnecting", "resumed", "unpublished"]);
    expect(events.filter((e) => e.stream === "cam" && lifecycle.has(e.type)).map((e) => [e.type, e.reason ?? ""])).toEqual([
      ["published", ""],
      ["reconnecting", expect.any(String)],
      ["resumed", "re-post"],
    ]);
    // one recording across the break: started once, never stopped
    expect(events.filter((e) => e.stream === "cam" && e.type.startsWith("recording-")).map((e) => [e.type, e.recordingId])).toEqual([["recording-started", recordingId]]);
    await waitFor(() => stats.some((m) => m.state === "live" && m.reconnects === 1), { what: "stream_stats: live again after one reconnect" });
    ws.close();
    reader.detach();
  }, 60_000);

  it("a POST with the same credentials while the stream is still live takes it over at once: 201, old session gone, same recording", async () => {
    const a = await publish(ts, "dock");
    const recordingId = await waitForValue(() => ts.server.recorder.liveManifest("dock")?.recordingId, { what: "the recording to start" });
    const oldSession = ts.server.registry.get("dock")?.sessionId;
    const hub = ts.server.registry.get("dock")?.hub;
    const b = await publish(ts, "dock"); // publishTestStream asserts the 201
    const newSession = ts.server.registry.get("dock")?.sessionId;
    expect(newSession).not.toBe(oldSession);
    // The old session resource is gone: its PATCH is 404 now
    const stale = await fetch(a.publication.resourceUrl, { method: "PATCH", headers: { "content-type": "application/trickle-ice-sdpfrag" }, body: "a=end-of-candidates\r\n" });
    expect(stale.status).toBe(404);
    const view = await waitForValue(async () => {
      const v = await streamView(ts, "dock");
      return v?.state === "live" && v.framesReceived >= 15 ? v : undefined;
    }, { what: "dock live on the new session with frames", timeoutMs: 20_000 });
    expect(view.reconnects).toBe(1);
    expect(ts.server.registry.get("dock")?.hub).toBe(hub);
    expect(ts.server.recorder.liveManifest("dock")?.recordingId).toBe(recordingId);
    expect(events.filter((e) => e.stream === "dock" && e.type === "resumed").map((e) => [e.reason, e.sessionId])).toEqual([["takeover", newSession]]);
    expect(events.some((e) => e.stream === "dock" && e.type === "unpublished")).toBe(false);
    await b.stop();
  }, 60_000);

  it("an ICE restart by PATCH, completed by the client, keeps the stream live and its media flowing", async () => {
    const a = await publish(ts, "roam");
    await waitFor(async () => ((await streamView(ts, "roam"))?.framesReceived ?? 0) >= 15, { what: "a second of frames" });
    const session = ts.server.registry.get("roam")?.sessionId;
    await restartIce(a.publication);
    const before = (await streamView(ts, "roam"))?.framesReceived ?? 0;
    const after = await waitForValue(async () => {
      const v = await streamView(ts, "roam");
      return v && v.state === "live" && v.framesReceived >= before + 30 ? v : undefined;
    }, { what: "two seconds of frames after the restart", timeoutMs: 20_000 });
    expect(after.sessionId ?? session).toBe(session);
    expect(ts.server.registry.get("roam")?.sessionId).toBe(session);
    expect(events.some((e) => e.stream === "roam" && e.type === "unpublished")).toBe(false);
  }, 60_000);
});

describe("a publisher that does not come back", () => {
  let ts: TestServer;
  afterAll(async () => {
    await ts?.stop();
  });

  it("that DELETEs its old session while the stream waits ends it at once (it meant to stop)", async () => {
    ts = await startTestServer({ rtpSilenceTimeoutMs: 1000, reconnectGraceMs: 60_000 });
    const events = eventsOf(ts);
    const a = await publish(ts, "bye");
    await waitFor(async () => ((await streamView(ts, "bye"))?.framesReceived ?? 0) >= 15, { what: "a second of frames" });
    await lose(a);
    await waitFor(async () => (await streamView(ts, "bye"))?.state === "reconnecting", { what: "reconnecting" });
    const res = await fetch(a.publication.resourceUrl, { method: "DELETE" });
    expect(res.status).toBe(200);
    expect(await streamView(ts, "bye")).toBeUndefined();
    expect(events.find((e) => e.type === "unpublished")).toMatchObject({ stream: "bye", reason: "deleted" });
    await ts.stop();
  }, 60_000);

  it("waiting at shutdown: the stream ends at once with reason shutdown and its recording is finalised", async () => {
    const srv = await startTestServer({ rtpSilenceTimeoutMs: 1000, reconnectGraceMs: 60_000 });
    let closed = false;
    try {
      const events = eventsOf(srv);
      const a = await publish(srv, "late");
      const recordingId = await waitForValue(() => srv.server.recorder.liveManifest("late")?.recordingId, { what: "the recording to start" });
      await waitFor(async () => ((await streamView(srv, "late"))?.framesReceived ?? 0) >= 15, { what: "a second of frames" });
      await lose(a);
      await waitFor(async () => (await streamView(srv, "late"))?.state === "reconnecting", { what: "reconnecting" });
      const stopping = Date.now();
      closed = true;
      await srv.server.close();
      expect(Date.now() - stopping).toBeLessThan(30_000); // not held for the 60 s grace
      expect(events.find((e) => e.type === "unpublished")).toMatchObject({ stream: "late", reason: "shutdown" });
      const [m] = (await readManifests(srv.dataDir, "late")).filter((x) => x.recordingId === recordingId);
      expect(m?.endedAt).not.toBeNull();
    } finally {
      if (closed) await rm(srv.dataDir, { recursive: true, force: true });
      else await srv.stop();
    }
  }, 60_000);

  it("is given up after IFC_RECONNECT_GRACE_MS: stream gone, recording closed, unpublished with the reason", async () => {
    ts = await startTestServer({ rtpSilenceTimeoutMs: 1000, reconnectGraceMs: 1500 });
    const events = eventsOf(ts);
    const a = await publish(ts, "gone");
    const recordingId = await waitForValue(() => ts.server.recorder.liveManifest("gone")?.recordingId, { what: "the recording to start" });
    await waitFor(async () => ((await streamView(ts, "gone"))?.framesReceived ?? 0) >= 30, { what: "two seconds of frames" });
    await lose(a);
    await waitFor(async () => (await streamView(ts, "gone"))?.state === "reconnecting", { what: "reconnecting" });
    const since = events.find((e) => e.type === "reconnecting")?.at ?? 0;
    expect(ts.server.recorder.isRecording("gone")).toBe(true);
    await waitFor(async () => (await streamView(ts, "gone")) === undefined, { what: "the stream released", timeoutMs: 15_000 });
    const unpublished = events.find((e) => e.type === "unpublished");
    expect(unpublished).toMatchObject({ stream: "gone", reason: "grace-expired" });
    expect((unpublished?.at ?? 0) - since).toBeGreaterThanOrEqual(1500 - 5);
    await waitFor(() => !ts.server.recorder.isRecording("gone"), { what: "the recording closed" });
    // The recording is listed as ended (its manifest is written after the close).
    await waitFor(async () => {
      const { recordings } = (await (await fetch(`${ts.url}/api/v1/recordings?stream=gone`)).json()) as { recordings: { recordingId: string; live: boolean }[] };
      return recordings.some((r) => r.recordingId === recordingId && !r.live);
    }, { what: "the recording listed as ended" });
  }, 60_000);
});
