import { createSocket } from "node:dgram";
import { afterEach, describe, expect, it } from "vitest";
import { ffmpegRtspPush, type RtspPush } from "../support/rtsp-ffmpeg.js";
import { h264Sdp, RawRtspClient } from "../support/rtsp-raw-client.js";
import { startTestServer, type TestServer } from "../support/server-harness.js";
import { waitFor } from "../support/wait-for.js";

let ts: TestServer | undefined;
const clients: RawRtspClient[] = [];
const pushes: RtspPush[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await Promise.all(pushes.splice(0).map((p) => p.kill()));
  await ts?.stop();
  ts = undefined;
});

async function client(port: number): Promise<RawRtspClient> {
  const c = await RawRtspClient.open(port);
  clients.push(c);
  return c;
}

/** ANNOUNCE + SETUP (one H.264 track, the given transport) + RECORD from a scripted client; returns the session id. */
async function recordSession(c: RawRtspClient, base: string, transport: string): Promise<{ session: string; transport: string }> {
  const ann = await c.request("ANNOUNCE", base, { "Content-Type": "application/sdp" }, h264Sdp());
  expect(ann.status).toBe(200);
  const session = ann.headers.get("Session")?.split(";")[0] ?? "";
  const setup = await c.request("SETUP", `${base}/streamid=0`, { Session: session, Transport: transport });
  expect(setup.status).toBe(200);
  expect((await c.request("RECORD", base, { Session: session })).status).toBe(200);
  return { session, transport: setup.headers.get("Transport") ?? "" };
}

describe("RTSP publisher lifecycle", () => {
  it("a TCP publisher dropping without TEARDOWN leaves the stream reconnecting; the same identity resumes it", async () => {
    ts = await startTestServer({ reconnectGraceMs: 30_000 });
    const port = ts.server.rtsp?.port ?? 0;
    const registry = ts.server.registry;
    const first = ffmpegRtspPush(`rtsp://127.0.0.1:${port}/cam`, { transport: "tcp", width: 320, height: 240, fps: 15, seconds: 60 });
    pushes.push(first);
    await waitFor(() => (registry.get("cam")?.stats().framesReceived ?? 0) > 5, { timeoutMs: 20_000, what: "cam live" });
    await first.kill(); // SIGKILL: no TEARDOWN
    await waitFor(() => registry.get("cam")?.state === "reconnecting", { what: "cam reconnecting" });
    const second = ffmpegRtspPush(`rtsp://127.0.0.1:${port}/cam`, { transport: "tcp", width: 320, height: 240, fps: 15, seconds: 2 });
    pushes.push(second);
    await waitFor(() => registry.get("cam")?.state === "live", { timeoutMs: 20_000, what: "cam resumed" });
    expect(registry.get("cam")?.stats()).toMatchObject({ protocol: "rtsp", reconnects: 1 });
    expect((await second.done).code).toBe(0);
    await waitFor(() => registry.get("cam") === undefined, { what: "TEARDOWN ended the stream" });
  }, 60_000);

  it("no request and no media for IFC_RTSP_SESSION_TIMEOUT_MS ends the session: the stream waits out the grace, then ends", async () => {
    ts = await startTestServer({ rtspSessionTimeoutMs: 1500, reconnectGraceMs: 1000 });
    const port = ts.server.rtsp?.port ?? 0;
    const c = await client(port);
    const base = `rtsp://127.0.0.1:${port}/quiet`;
    const { session } = await recordSession(c, base, "RTP/AVP/TCP;unicast;interleaved=0-1;mode=record");
    const registry = ts.server.registry;
    // Keep-alives every ~500 ms hold it well past the 1.5 s timeout.
    const until = Date.now() + 2500;
    while (Date.now() < until) {
      expect((await c.request("GET_PARAMETER", base, { Session: session })).status).toBe(200);
      const next = Date.now() + 500;
      await waitFor(() => Date.now() >= next, { intervalMs: 50, what: "the next keep-alive time" });
    }
    expect(registry.get("quiet")?.state).toBe("live");
    await waitFor(() => registry.get("quiet")?.state === "reconnecting", { what: "timed out: reconnecting" });
    await c.waitClosed();
    await waitFor(() => registry.get("quiet") === undefined, { what: "grace expired" });
    expect(ts.server.rtsp?.stats().timedOut).toBe(1);
  }, 30_000);

  it("a recording publisher sending no RTP for IFC_RTP_SILENCE_TIMEOUT_MS is gone, keep-alives or not (as over WHIP)", async () => {
    ts = await startTestServer({ rtpSilenceTimeoutMs: 1000, reconnectGraceMs: 0 });
    const port = ts.server.rtsp?.port ?? 0;
    const c = await client(port);
    const base = `rtsp://127.0.0.1:${port}/mute`;
    const { session } = await recordSession(c, base, "RTP/AVP/TCP;unicast;interleaved=0-1;mode=record");
    const registry = ts.server.registry;
    const started = Date.now();
    // Keep-alives every ~300 ms do not hold a publisher that sends nothing.
    while (registry.get("mute")) {
      await c.request("GET_PARAMETER", base, { Session: session });
      const next = Date.now() + 300;
      await waitFor(() => Date.now() >= next, { intervalMs: 50, what: "the next keep-alive time" });
      expect(Date.now() - started, "ended within the silence timeout and a sweep").toBeLessThan(5000);
    }
    expect(Date.now() - started).toBeGreaterThanOrEqual(1000);
    await c.waitClosed();
  }, 30_000);

  it("a kick (DELETE /api/v1/streams/{stream}) ends an RTSP publisher: its stream at once, its TCP connection closed", async () => {
    ts = await startTestServer();
    const port = ts.server.rtsp?.port ?? 0;
    const c = await client(port);
    await recordSession(c, `rtsp://127.0.0.1:${port}/kicked`, "RTP/AVP/TCP;unicast;interleaved=0-1;mode=record");
    expect(ts.server.registry.get("kicked")?.state).toBe("live");
    const res = await fetch(`${ts.url}/api/v1/streams/kicked`, { method: "DELETE" });
    expect(res.status).toBe(204);
    expect(ts.server.registry.get("kicked")).toBeUndefined();
    await c.waitClosed();
    expect(ts.server.rtsp?.stats().sessions).toBe(0);
  });

  it("UDP: server port pairs from the range, packets only from the client's address; UDP off → 461", async () => {
    ts = await startTestServer();
    const port = ts.server.rtsp?.port ?? 0;
    const c = await client(port);
    const base = `rtsp://127.0.0.1:${port}/udp`;
    const { transport } = await recordSession(c, base, "RTP/AVP;unicast;client_port=40000-40001;mode=record");
    const m = /server_port=(\d+)-(\d+)/.exec(transport);
    const rtpPort = Number(m?.[1]);
    expect(rtpPort % 2).toBe(0);
    expect(Number(m?.[2])).toBe(rtpPort + 1);
    expect(rtpPort).toBeGreaterThanOrEqual(30_000);
    expect(rtpPort).toBeLessThanOrEqual(30_999);
    // A stranger (another loopback address) is ignored; the client's own packet is counted.
    const rtp = Buffer.alloc(20);
    rtp[0] = 0x80;
    rtp[1] = 96;
    for (const from of ["127.0.0.2", "127.0.0.1"]) {
      const s = createSocket("udp4");
      await new Promise<void>((resolve) => s.bind({ address: from, port: 0 }, resolve));
      await new Promise<void>((resolve) => s.send(rtp, rtpPort, "127.0.0.1", () => resolve()));
      s.close();
    }
    await waitFor(() => ts?.server.registry.get("udp")?.stats().packetsReceived === 1, { what: "the client's packet counted" });
    const session = [...(ts.server.rtsp?.sessions.values() ?? [])][0];
    await waitFor(() => session?.counters.udpForeign === 1, { what: "the stranger's packet counted as foreign" });
    c.close();
    await ts.stop();

    ts = await startTestServer({ rtspUdpPortMin: 0, rtspUdpPortMax: 0 });
    const d = await client(ts.server.rtsp?.port ?? 0);
    const b2 = `rtsp://127.0.0.1:${ts.server.rtsp?.port ?? 0}/udp`;
    const ann = await d.request("ANNOUNCE", b2, { "Content-Type": "application/sdp" }, h264Sdp());
    const res = await d.request("SETUP", `${b2}/streamid=0`, { Session: ann.headers.get("Session") ?? "", Transport: "RTP/AVP;unicast;client_port=40000-40001;mode=record" });
    expect(res.status).toBe(461);
    expect(res.body.toString()).toMatch(/TCP/);
  }, 30_000);

  it("IFC_RTSP_MAX_CONNECTIONS: one more connection gets 503 and is closed", async () => {
    ts = await startTestServer({ rtspMaxConnections: 2 });
    const port = ts.server.rtsp?.port ?? 0;
    const a = await client(port);
    const b = await client(port);
    expect((await a.request("OPTIONS", `rtsp://127.0.0.1:${port}/x`)).status).toBe(200);
    expect((await b.request("OPTIONS", `rtsp://127.0.0.1:${port}/x`)).status).toBe(200);
    const c = await client(port);
    expect((await c.next()).status).toBe(503);
    await c.waitClosed();
    a.close();
    await waitFor(() => ts?.server.rtsp?.stats().connections === 1, { what: "a slot freed" });
    const d = await client(port);
    expect((await d.request("OPTIONS", `rtsp://127.0.0.1:${port}/x`)).status).toBe(200);
    expect(ts.server.rtsp?.stats().refusedConnections).toBe(1);
    const metrics = await (await fetch(`${ts.url}/metrics`)).text();
    expect(metrics).toMatch(/^ifc_rtsp_refused_connections 1$/m);
    expect(metrics).toMatch(/^ifc_rtsp_connections 2$/m);
  });
});
