import { afterEach, describe, expect, it } from "vitest";
import { MediaStreamTrack, RTCPeerConnection, RTCRtpCodecParameters } from "werift";
import { loadConfig } from "../../src/config.js";
import { problemType } from "../../src/errors.js";
import { icePortsPerSession } from "../../src/rtc/werift-peer.js";
import { publishTestStream } from "../helpers/publish-test-stream.js";
import { whipPublish } from "../helpers/whip-client.js";
import { expectNoIngestLoss } from "../support/ingest-accounting.js";
import { assemble, decodeErrors, probeVideoFrames, readManifests } from "../support/recording-probe.js";
import { startTestServer, type TestServer } from "../support/server-harness.js";
import { waitFor } from "../support/wait-for.js";

let ts: TestServer | undefined;
afterEach(async () => {
  await ts?.stop();
  ts = undefined;
});

/** A real offer from werift, without ever completing the connection. */
async function werifOffer(): Promise<{ sdp: string; pc: RTCPeerConnection }> {
  const pc = new RTCPeerConnection({
    iceUseIpv6: false,
    codecs: { video: [new RTCRtpCodecParameters({ mimeType: "video/H264", clockRate: 90000, payloadType: 96, parameters: "packetization-mode=1;profile-level-id=42e01f" })] },
  });
  pc.addTransceiver(new MediaStreamTrack({ kind: "video" }), { direction: "sendonly" });
  await pc.setLocalDescription(await pc.createOffer());
  return { sdp: pc.localDescription?.sdp ?? "", pc };
}

function post(url: string, sdp: string): Promise<Response> {
  return fetch(url, { method: "POST", headers: { "content-type": "application/sdp" }, body: sdp });
}

describe("WHIP session lifecycle", () => {
  it("a publisher that never connects is dropped after IFC_WHIP_CONNECT_TIMEOUT_MS and the name is free again", async () => {
    ts = await startTestServer({ whipConnectTimeoutMs: 1000 });
    const { sdp, pc } = await werifOffer();
    const t0 = Date.now();
    const first = await post(`${ts.url}/whip/cam1`, sdp);
    expect(first.status).toBe(201);
    expect((await fetch(`${ts.url}/api/v1/streams/cam1`)).status).toBe(200);
    // The same (anonymous) credentials again take the unconnected stream over: the first session is gone
    const second = await post(`${ts.url}/whip/cam1`, sdp);
    expect(second.status).toBe(201);
    expect((await fetch(new URL(first.headers.get("location") ?? "", ts.url), { method: "DELETE" })).status).toBe(404);
    const url = `${ts.url}/api/v1/streams/cam1`;
    await waitFor(async () => (await fetch(url)).status === 404, { what: "the unconnected session dropped" });
    // dropped at the timeout, not before it (a busy machine can only make it later)
    expect(Date.now() - t0).toBeGreaterThanOrEqual(1000 - 5);
    const again = await post(`${ts.url}/whip/cam1`, sdp);
    expect(again.status).toBe(201);
    await fetch(new URL(again.headers.get("location") ?? "", ts.url), { method: "DELETE" });
    await pc.close();
  });

  it("RTP silence past IFC_RTP_SILENCE_TIMEOUT_MS ends the session and closes its recording cleanly", async () => {
    // No reconnect grace: the stream ends with its session (whip-reconnect.test.ts covers the grace).
    ts = await startTestServer({ rtpSilenceTimeoutMs: 1500, reconnectGraceMs: 0 });
    const pub = await publishTestStream(`${ts.url}/whip/quiet`, { width: 320, height: 240, fps: 30, gopSeconds: 1, durationSeconds: 3, audio: true });
    await pub.done; // ffmpeg stops sending; the PeerConnection stays up
    // (read while the session still lives: the silence timeout is counted from the last packet)
    await expectNoIngestLoss(ts.url, "quiet", pub.stats);
    const sent = pub.stats.videoFrames;
    const url = `${ts.url}/api/v1/streams/quiet`;
    await waitFor(async () => (await fetch(url)).status === 404, { what: "the silent session ended" });
    await ts.server.recorder.flush();
    const [m] = await readManifests(ts.dataDir, "quiet");
    expect(m?.endedAt).not.toBeNull();
    const file = await assemble(ts.dataDir, m!);
    expect((await probeVideoFrames(file)).length).toBe(sent);
    expect(await decodeErrors(file)).toBe("");
    await pub.stop().catch(() => undefined); // its session is already gone
  });

  it("trickle ICE (204) and ICE restart (200 with new credentials and ETag) on a live session", async () => {
    ts = await startTestServer();
    const pub = await whipPublish(`${ts.url}/whip/cam2`, { audio: false });
    const oldUfrag = /a=ice-ufrag:(\S+)/.exec(pub.answerSdp)?.[1];
    const trickle = await fetch(pub.resourceUrl, {
      method: "PATCH",
      headers: { "content-type": "application/trickle-ice-sdpfrag", "if-match": pub.etag ?? "" },
      body: `a=ice-ufrag:${/a=ice-ufrag:(\S+)/.exec(pub.pc.localDescription?.sdp ?? "")?.[1]}\r\na=ice-pwd:${/a=ice-pwd:(\S+)/.exec(pub.pc.localDescription?.sdp ?? "")?.[1]}\r\na=mid:0\r\na=candidate:2 1 udp 2113937151 127.0.0.1 50001 typ host\r\na=end-of-candidates\r\n`,
    });
    expect(trickle.status).toBe(204);
    const restart = await fetch(pub.resourceUrl, {
      method: "PATCH",
      headers: { "content-type": "application/trickle-ice-sdpfrag", "if-match": pub.etag ?? "" },
      body: "a=ice-ufrag:rstU\r\na=ice-pwd:restartpasswordrestart1\r\na=mid:0\r\na=candidate:1 1 udp 2113937151 127.0.0.1 50000 typ host\r\n",
    });
    expect(restart.status).toBe(200);
    expect(restart.headers.get("content-type")).toBe("application/trickle-ice-sdpfrag");
    const frag = await restart.text();
    const newUfrag = /a=ice-ufrag:(\S+)/.exec(frag)?.[1];
    expect(newUfrag).toBeDefined();
    expect(newUfrag).not.toBe(oldUfrag);
    expect(frag).toMatch(/a=ice-pwd:\S+/);
    expect(frag).toMatch(/a=candidate:/);
    expect(restart.headers.get("etag")).not.toBe(pub.etag);
    // the old ETag is now stale
    const stale = await fetch(pub.resourceUrl, { method: "PATCH", headers: { "content-type": "application/trickle-ice-sdpfrag", "if-match": pub.etag ?? "" }, body: "a=end-of-candidates\r\n" });
    expect(stale.status).toBe(412);
    expect((await fetch(`${ts.url}/api/v1/streams/cam2`)).status).toBe(200);
    await pub.close();
    expect((await fetch(`${ts.url}/api/v1/streams/cam2`)).status).toBe(404);
  });
});

describe("limits at their edges", () => {
  it("IFC_MAX_PUBLISHERS: the last allowed publisher is accepted, one more gets 503 with Retry-After", async () => {
    ts = await startTestServer({ maxPublishers: 1 });
    const a = await whipPublish(`${ts.url}/whip/one`, { audio: false });
    const { sdp, pc } = await werifOffer();
    const res = await post(`${ts.url}/whip/two`, sdp);
    expect(res.status).toBe(503);
    expect(res.headers.get("retry-after")).toBe("5");
    expect(((await res.json()) as { type: string }).type).toBe(problemType("too-many-publishers"));
    await a.close();
    const ok = await post(`${ts.url}/whip/two`, sdp);
    expect(ok.status).toBe(201);
    await fetch(new URL(ok.headers.get("location") ?? "", ts.url), { method: "DELETE" });
    await pc.close();
  });

  it("IFC_WHIP_MAX_OFFER_BYTES: an offer of exactly the limit is accepted, one byte more is 413", async () => {
    const { sdp, pc } = await werifOffer();
    ts = await startTestServer({ whipMaxOfferBytes: Buffer.byteLength(sdp) });
    const ok = await post(`${ts.url}/whip/edge`, sdp);
    expect(ok.status).toBe(201);
    await fetch(new URL(ok.headers.get("location") ?? "", ts.url), { method: "DELETE" });
    const over = await post(`${ts.url}/whip/edge`, `${sdp}\n`);
    expect(over.status).toBe(413);
    expect(((await over.json()) as { type: string }).type).toBe(problemType("payload-too-large"));
    await pc.close();
  });
});

describe("control plane basics", () => {
  it("/health is live, /ready checks the store and ffmpeg", async () => {
    ts = await startTestServer();
    expect((await fetch(`${ts.url}/health`)).status).toBe(200);
    const ready = await fetch(`${ts.url}/ready`);
    expect(ready.status).toBe(200);
    expect(await ready.json()).toEqual({ status: "ready", checks: { store: "ok", ffmpeg: "ok" } });
  });

  it("/ready answers 503 naming the failing check when ffmpeg is missing", async () => {
    ts = await startTestServer({ ffmpegPath: "/nonexistent/ffmpeg" });
    const ready = await fetch(`${ts.url}/ready`);
    expect(ready.status).toBe(503);
    const body = (await ready.json()) as { checks: Record<string, string> };
    expect(body.checks.store).toBe("ok");
    expect(body.checks.ffmpeg).toMatch(/ENOENT/);
  });

  it("advertises configured ICE servers as Link headers (RFC 9725 §4.6)", async () => {
    ts = await startTestServer({ iceServers: ["stun:stun.example.org:3478", "turn:turn.example.org:3478?transport=udp"], iceUsername: "u", iceCredential: "p", corsOrigins: ["https://obs.example"] });
    const res = await fetch(`${ts.url}/whip/cam1`, { method: "OPTIONS", headers: { origin: "https://obs.example" } });
    expect(res.status).toBe(204);
    const link = res.headers.get("link") ?? "";
    expect(link).toContain('<stun:stun.example.org:3478>; rel="ice-server"');
    expect(link).toContain('<turn:turn.example.org:3478?transport=udp>; rel="ice-server"; username="u"; credential="p"; credential-type="password"');
    expect(res.headers.get("access-control-expose-headers")).toMatch(/link/);
  });
});

describe("NAT and firewall settings", () => {
  it("binds ICE inside the configured UDP port range, advertises the public IP, and refuses once the range is used up", async () => {
    const { createSocket } = await import("node:dgram");
    const overrides = { rtcPublicIps: ["203.0.113.7"] };
    const perSession = icePortsPerSession(loadConfig({}, overrides));
    expect(perSession).toBeGreaterThanOrEqual(2); // a local interface and the public IP
    // a run of free UDP ports for exactly two sessions
    const span = 2 * perSession;
    let port = 0;
    for (let base = 41000 + Math.floor(Math.random() * 20000); port === 0; base += span) {
      const socks = [];
      let free = true;
      for (let i = 0; i < span && free; i++) {
        const s = createSocket("udp4");
        free = await new Promise<boolean>((r) => {
          s.once("error", () => r(false));
          s.bind(base + i, "0.0.0.0", () => r(true));
        });
        socks.push(s);
      }
      for (const s of socks) s.close();
      if (free) port = base;
    }
    ts = await startTestServer({ ...overrides, rtcPortMin: port, rtcPortMax: port + span - 1 });
    const pubs = [await whipPublish(`${ts.url}/whip/nat1`, { audio: true }), await whipPublish(`${ts.url}/whip/nat2`, { audio: true })];
    for (const pub of pubs) {
      const candidates = pub.answerSdp.split(/\r?\n/).filter((l) => l.startsWith("a=candidate:"));
      expect(candidates.length).toBeGreaterThan(0);
      for (const c of candidates) {
        const p = Number(c.split(" ")[5]);
        expect(p).toBeGreaterThanOrEqual(port);
        expect(p).toBeLessThan(port + span);
      }
      expect(candidates.some((c) => c.split(" ")[4] === "203.0.113.7")).toBe(true);
    }
    const { sdp, pc } = await werifOffer();
    const third = await post(`${ts.url}/whip/nat3`, sdp);
    expect(third.status).toBe(503);
    expect(((await third.json()) as { type: string }).type).toBe(problemType("rtc-ports-exhausted"));
    await pc.close();
    for (const pub of pubs) await pub.close();
  });
});
