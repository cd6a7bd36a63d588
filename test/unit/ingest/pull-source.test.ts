/**
 * PullSource's retry schedule with an injected clock and random (no real waiting), and the RTSP
 * client's typed errors, against scripted cameras on loopback (real sockets, scripted answers).
 */
import { createServer, type Server, type Socket } from "node:net";
import { pino } from "pino";
import { afterEach, describe, expect, it } from "vitest";
import { StreamRegistry } from "../../../src/core/stream-registry.js";
import { PullSource, type PullSourceSettings } from "../../../src/ingest/pull-source.js";
import { retryDelay } from "../../../src/ingest/retry-backoff.js";
import { RtspClient, RtspClientError } from "../../../src/ingest/rtsp/client.js";
import { freePort } from "../../support/free-port.js";
import { waitFor } from "../../support/wait-for.js";
import { ManualTimers } from "../../support/manual-timers.js";

const log = pino({ level: "silent" });
const settings: PullSourceSettings = {
  connectTimeoutMs: 2000, retryMinMs: 1000, retryMaxMs: 30_000, rtpSilenceTimeoutMs: 5000,
  limits: { maxHeaderBytes: 16_384, maxBodyBytes: 65_536 }, udpRecvBufferBytes: 0,
  ingest: { reorderWindowPackets: 64, clockDriftToleranceMs: 100 },
};

/** A camera that answers each request with what `answer` returns (a status line and headers, `\r\n`-joined). */
async function scriptedCamera(answer: (method: string, headers: Record<string, string>, socket: Socket) => string | undefined): Promise<{ url: string; server: Server; requests: string[] }> {
  const requests: string[] = [];
  const server = createServer((socket) => {
    let buf = "";
    socket.on("data", (d: Buffer) => {
      buf += d.toString("latin1");
      for (;;) {
        const end = buf.indexOf("\r\n\r\n");
        if (end < 0) return;
        const head = buf.slice(0, end);
        buf = buf.slice(end + 4);
        const [line, ...rest] = head.split("\r\n");
        const headers = Object.fromEntries(rest.map((h) => [h.slice(0, h.indexOf(":")).toLowerCase(), h.slice(h.indexOf(":") + 1).trim()]));
        const method = line!.split(" ")[0]!;
        requests.push(`${method}${headers.authorization ? " +auth" : ""}`);
        const out = answer(method, headers, socket);
        if (out !== undefined) socket.write(`${out.replace("{cseq}", headers.cseq ?? "0")}\r\n\r\n`);
      }
    });
    socket.on("error", () => undefined);
  });
  const port = await freePort();
  await new Promise<void>((r) => server.listen(port, "127.0.0.1", r));
  servers.push(server);
  return { url: `rtsp://127.0.0.1:${port}/cam`, server, requests };
}

const servers: Server[] = [];
afterEach(async () => {
  await Promise.all(servers.splice(0).map((s) => new Promise((r) => s.close(r))));
});

function client(url: string, timeoutMs = 2000): RtspClient {
  return new RtspClient({ url, transport: "tcp", timeoutMs, limits: settings.limits, udpRecvBufferBytes: 0 }, { onRtp: () => undefined, onRtcp: () => undefined, onClose: () => undefined });
}

async function describeError(url: string, timeoutMs?: number): Promise<RtspClientError> {
  const c = client(url, timeoutMs);
  try {
    await c.describe();
  } catch (err) {
    return err as RtspClientError;
  } finally {
    await c.close();
  }
  throw new Error("describe succeeded");
}

describe("RtspClient errors", () => {
  it("answers a Digest challenge once with the URL's credentials; a second refusal is `auth`", async () => {
    const cam = await scriptedCamera((method) => {
      if (method === "OPTIONS") return "RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nPublic: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, GET_PARAMETER";
      return 'RTSP/1.0 401 Unauthorized\r\nCSeq: {cseq}\r\nWWW-Authenticate: Digest realm="cam", nonce="abc123"';
    });
    const err = await describeError(cam.url.replace("rtsp://", "rtsp://user:pw@"));
    expect(err).toBeInstanceOf(RtspClientError);
    expect(err.kind).toBe("auth");
    expect(cam.requests).toEqual(["OPTIONS", "DESCRIBE", "DESCRIBE +auth"]);
    // Without credentials in the URL there is nothing to answer with.
    expect((await describeError(cam.url)).kind).toBe("auth");
  });

  it("answers a Basic challenge with the URL's (percent-decoded) credentials", async () => {
    const seen: string[] = [];
    const cam = await scriptedCamera((method, headers) => {
      if (method !== "DESCRIBE") return "RTSP/1.0 200 OK\r\nCSeq: {cseq}";
      if (!headers.authorization) return 'RTSP/1.0 401 Unauthorized\r\nCSeq: {cseq}\r\nWWW-Authenticate: Basic realm="cam"';
      seen.push(headers.authorization);
      return "RTSP/1.0 404 Not Found\r\nCSeq: {cseq}";
    });
    const err = await describeError(cam.url.replace("rtsp://", "rtsp://admin:p%40ss@"));
    // Past the challenge: the camera's own answer (404) is what comes back.
    expect(err.kind).toBe("not-found");
    expect(seen).toEqual([`Basic ${Buffer.from("admin:p@ss").toString("base64")}`]);
  });

  it("types 404 as not-found, a camera of other codecs as unsupported, silence as timeout, a refused port as network", async () => {
    const notFound = await scriptedCamera(() => "RTSP/1.0 404 Not Found\r\nCSeq: {cseq}");
    expect((await describeError(notFound.url)).kind).toBe("not-found");

    const sdp = "v=0\r\no=- 0 0 IN IP4 127.0.0.1\r\ns=cam\r\nt=0 0\r\nm=audio 0 RTP/AVP 0\r\na=control:trackID=0\r\n";
    const pcmu = await scriptedCamera((method) => method === "DESCRIBE"
      ? `RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nContent-Type: application/sdp\r\nContent-Length: ${sdp.length}\r\n\r\n${sdp}`.replace(/\r\n\r\n$/, "")
      : "RTSP/1.0 200 OK\r\nCSeq: {cseq}");
    const unsupported = await describeError(pcmu.url);
    expect(unsupported.kind).toBe("unsupported");
    expect(unsupported.message).toMatch(/PCMU/);

    const mute = await scriptedCamera(() => undefined);
    expect((await describeError(mute.url, 200)).kind).toBe("timeout");

    expect((await describeError(`rtsp://127.0.0.1:${await freePort()}/cam`)).kind).toBe("network");
  });
});

describe("PullSource retries", () => {
  it("retries a failing camera with exponential backoff and the injected jitter, and stops cleanly", async () => {
    const timers = new ManualTimers();
    const registry = new StreamRegistry({ maxStreams: 4, readerQueueFrames: 8, timers });
    const cam = await scriptedCamera(() => "RTSP/1.0 404 Not Found\r\nCSeq: {cseq}");
    const random = (): number => 0.9;
    const backoff = { minMs: settings.retryMinMs, maxMs: settings.retryMaxMs };
    const source = new PullSource({ id: "s1", name: "cam", url: cam.url, transport: "tcp" }, { registry, settings, log, timers, random });
    const t0 = timers.now();
    source.start();
    expect(source.status()).toMatchObject({ state: "connecting", retries: 0 });
    await waitFor(() => source.status().state === "retrying", { what: "first failure" });
    expect(source.status()).toMatchObject({ state: "retrying", retries: 1, lastError: { kind: "not-found" }, nextRetryAt: t0 + retryDelay(1, backoff, random) });
    expect(retryDelay(1, backoff, random)).toBe(1200);
    // Nothing tries again before the delay is up; then exactly one try.
    timers.advance(1199);
    expect(cam.requests.filter((r) => r === "DESCRIBE")).toHaveLength(1);
    timers.advance(1);
    await waitFor(() => source.status().retries === 2, { what: "second failure" });
    expect(cam.requests.filter((r) => r === "DESCRIBE")).toHaveLength(2);
    expect(source.status().nextRetryAt).toBe(timers.now() + 2400);
    // No stream was ever claimed for a camera that never answered DESCRIBE.
    expect(registry.list()).toHaveLength(0);

    await source.stop();
    expect(source.status()).toMatchObject({ state: "idle" });
    expect(timers.armed).toBe(0);
    timers.advance(60_000);
    expect(cam.requests.filter((r) => r === "DESCRIBE")).toHaveLength(2);
  });
});

/** A camera that plays: an H.264 SDP, SETUP with a short session timeout, PLAY; then it sends nothing. */
async function silentCamera(sessionTimeoutS: number) {
  const sdp = [
    "v=0", "o=- 0 0 IN IP4 127.0.0.1", "s=cam", "t=0 0",
    "m=video 0 RTP/AVP 96", "a=rtpmap:96 H264/90000", "a=fmtp:96 packetization-mode=1;profile-level-id=42c01f", "a=control:trackID=0", "",
  ].join("\r\n");
  return scriptedCamera((method, headers) => {
    switch (method) {
      case "OPTIONS":
        return "RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nPublic: OPTIONS, DESCRIBE, SETUP, PLAY, TEARDOWN, GET_PARAMETER";
      case "DESCRIBE":
        return `RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nContent-Base: rtsp://127.0.0.1/cam/\r\nContent-Type: application/sdp\r\nContent-Length: ${sdp.length}\r\n\r\n${sdp}`.replace(/\r\n\r\n$/, "");
      case "SETUP":
        return `RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nSession: 12345678;timeout=${sessionTimeoutS}\r\nTransport: ${headers.transport}`;
      default:
        return "RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nSession: 12345678";
    }
  });
}

describe("RtspClient session", () => {
  it("SETUPs over TCP, PLAYs, keeps alive with GET_PARAMETER every timeout/2, and TEARs DOWN on close", async () => {
    const cam = await silentCamera(2);
    const c = client(cam.url);
    const d = await c.describe();
    expect(d.tracks.map((t) => t.codec)).toEqual(["h264"]);
    await c.play();
    expect(c.lower).toBe("tcp");
    expect(c.keepAliveIntervalMs).toBe(1000);
    await waitFor(() => cam.requests.includes("GET_PARAMETER"), { timeoutMs: 5000, what: "a keep-alive" });
    await c.close();
    expect(cam.requests).toEqual(["OPTIONS", "DESCRIBE", "SETUP", "PLAY", ...cam.requests.slice(4, -1).map(() => "GET_PARAMETER"), "TEARDOWN"]);
  });
});

describe("PullSource liveness", () => {
  it("a camera that plays but sends no RTP for IFC_RTP_SILENCE_TIMEOUT_MS is gone: the stream waits reconnecting, the source retries", async () => {
    const cam = await silentCamera(60);
    const registry = new StreamRegistry({ maxStreams: 4, readerQueueFrames: 8, reconnectGraceMs: 30_000 });
    const source = new PullSource({ id: "s2", name: "mute", url: cam.url, transport: "tcp" }, { registry, settings: { ...settings, rtpSilenceTimeoutMs: 500, retryMinMs: 60_000, retryMaxMs: 60_000 }, log });
    source.start();
    await waitFor(() => source.status().state === "live", { what: "live" });
    expect(registry.get("mute")?.state).toBe("live");
    await waitFor(() => source.status().state === "retrying", { timeoutMs: 5000, what: "silence noticed" });
    expect(source.status().lastError?.kind).toBe("silence");
    expect(registry.get("mute")?.state).toBe("reconnecting");
    await source.stop();
    // Stopping the source ends the stream for good.
    expect(registry.get("mute")).toBeUndefined();
    // The silent session was torn down, and no second try came within the (long) retry delay.
    await waitFor(() => cam.requests.includes("TEARDOWN"), { what: "TEARDOWN of the silent session" });
    expect(cam.requests.filter((r) => r === "PLAY")).toHaveLength(1);
  });
});

describe("RtspClient transport auto", () => {
  it("asks for UDP (an even/odd client port pair) and falls back to TCP interleaved on 461", async () => {
    const sdp = ["v=0", "o=- 0 0 IN IP4 127.0.0.1", "s=cam", "t=0 0", "m=video 0 RTP/AVP 96", "a=rtpmap:96 H264/90000", "a=control:trackID=0", ""].join("\r\n");
    const transports: string[] = [];
    const cam = await scriptedCamera((method, headers) => {
      if (method === "DESCRIBE") return `RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nContent-Type: application/sdp\r\nContent-Length: ${sdp.length}\r\n\r\n${sdp}`.replace(/\r\n\r\n$/, "");
      if (method === "SETUP") {
        transports.push(headers.transport ?? "");
        if (!headers.transport?.includes("TCP")) return "RTSP/1.0 461 Unsupported Transport\r\nCSeq: {cseq}";
        return `RTSP/1.0 200 OK\r\nCSeq: {cseq}\r\nSession: abc\r\nTransport: ${headers.transport}`;
      }
      return "RTSP/1.0 200 OK\r\nCSeq: {cseq}";
    });
    const c = new RtspClient({ url: cam.url, transport: "auto", timeoutMs: 2000, limits: settings.limits, udpRecvBufferBytes: 1 << 20 }, { onRtp: () => undefined, onRtcp: () => undefined, onClose: () => undefined });
    try {
      await c.describe();
      await c.play();
      expect(c.lower).toBe("tcp");
      expect(transports).toHaveLength(2);
      const [rtp, rtcp] = /client_port=(\d+)-(\d+)/.exec(transports[0]!)!.slice(1).map(Number);
      expect(rtp! % 2).toBe(0);
      expect(rtcp).toBe(rtp! + 1);
      expect(transports[1]).toMatch(/RTP\/AVP\/TCP.*interleaved=0-1/);
    } finally {
      await c.close();
    }
  });
});
