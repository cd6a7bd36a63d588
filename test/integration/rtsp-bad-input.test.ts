import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SUPPORTED_CODECS } from "../../src/ingest/rtsp/sdp.js";
import { ffmpegRtspPush, type RtspPush } from "../support/rtsp-ffmpeg.js";
import { h264Sdp, RawRtspClient } from "../support/rtsp-raw-client.js";
import { startTestServer, type TestServer } from "../support/server-harness.js";
import { waitFor } from "../support/wait-for.js";

const MAX_HEADER = 1024;
const MAX_BODY = 2048;

let ts: TestServer;
let port: number;
let live: RtspPush;
const clients: RawRtspClient[] = [];
/** The live publisher's figures when last checked. */
let seen = { sessionId: "", framesReceived: 0 };

interface StreamView {
  sessionId?: string;
  state: string;
  protocol: string;
  framesReceived: number;
  packetsLost: number;
  framesDropped: number;
}

async function liveStream(): Promise<StreamView | undefined> {
  const res = await fetch(`${ts.url}/api/v1/streams/live`);
  return res.status === 200 ? ((await res.json()) as StreamView) : undefined;
}

/** The other session (ffmpeg publishing "live") goes on untouched: same session, frames still coming, none lost. */
async function expectLiveUntouched(): Promise<void> {
  const before = seen.framesReceived;
  await waitFor(async () => ((await liveStream())?.framesReceived ?? 0) > before + 5, { what: "the live publisher's frames keep coming" });
  const s = await liveStream();
  expect(s).toMatchObject({ state: "live", protocol: "rtsp", sessionId: seen.sessionId, packetsLost: 0, framesDropped: 0 });
  seen = { sessionId: seen.sessionId, framesReceived: s?.framesReceived ?? 0 };
}

async function client(): Promise<RawRtspClient> {
  const c = await RawRtspClient.open(port);
  clients.push(c);
  return c;
}

const url = (path: string): string => `rtsp://127.0.0.1:${port}/${path}`;

beforeAll(async () => {
  ts = await startTestServer({ rtspMaxHeaderBytes: MAX_HEADER, rtspMaxBodyBytes: MAX_BODY });
  port = ts.server.rtsp?.port ?? 0;
  await ts.server.auth.userStore.add("ada", "admin", "ada-password-1234");
  // Long enough for the whole file; killed at the end.
  live = ffmpegRtspPush(url("live"), { transport: "tcp", width: 320, height: 240, fps: 15, seconds: 120 });
  await waitFor(async () => ((await liveStream())?.framesReceived ?? 0) > 0, { timeoutMs: 20_000, what: "the live publisher" });
  const s = await liveStream();
  seen = { sessionId: s?.sessionId ?? "", framesReceived: s?.framesReceived ?? 0 };
}, 60_000);

afterAll(async () => {
  for (const c of clients) c.close();
  await live?.kill();
  await ts?.stop();
});

describe("RTSP bad input: a clear status, and the other live session untouched", () => {
  it("malformed request line and header: 400, and the connection goes on", async () => {
    const c = await client();
    c.write("HELLO THERE\r\n\r\n");
    expect((await c.next()).status).toBe(400);
    c.write(`OPTIONS ${url("x")} RTSP/1.0\r\nCSeq: 7\r\nthis line has no colon\r\n\r\n`);
    const bad = await c.next();
    expect(bad.status).toBe(400);
    expect(bad.headers.get("CSeq")).toBe("7");
    const ok = await c.request("OPTIONS", url("x"));
    expect(ok.status).toBe(200);
    expect(ok.headers.get("Public")).toContain("ANNOUNCE");
    await expectLiveUntouched();
  });

  it("missing or non-numeric CSeq: 400", async () => {
    const c = await client();
    c.write(`OPTIONS ${url("x")} RTSP/1.0\r\n\r\n`);
    const missing = await c.next();
    expect(missing.status).toBe(400);
    expect(missing.body.toString()).toMatch(/CSeq/);
    const wrong = await c.request("OPTIONS", url("x"), { CSeq: "abc" });
    expect(wrong.status).toBe(400);
    expect(wrong.headers.has("CSeq")).toBe(false);
    expect((await c.request("OPTIONS", url("x"))).status).toBe(200);
    await expectLiveUntouched();
  });

  it("unknown method: 501 naming the methods served", async () => {
    const c = await client();
    const res = await c.request("BREW", url("live"));
    expect(res.status).toBe(501);
    expect(res.headers.get("Public")).toBe("OPTIONS, DESCRIBE, ANNOUNCE, SETUP, PLAY, RECORD, PAUSE, TEARDOWN, GET_PARAMETER, SET_PARAMETER");
    expect(res.headers.get("CSeq")).toBe("1");
    await expectLiveUntouched();
  });

  it(`headers at IFC_RTSP_MAX_HEADER_BYTES (${MAX_HEADER}) pass; one byte more is refused and the connection closed`, async () => {
    const head = (total: number): string => {
      const start = `OPTIONS ${url("x")} RTSP/1.0\r\nCSeq: 1\r\nX-Pad: `;
      return `${start}${"a".repeat(total - start.length - 4)}\r\n\r\n`;
    };
    expect(head(MAX_HEADER)).toHaveLength(MAX_HEADER);
    const c = await client();
    c.write(head(MAX_HEADER));
    expect((await c.next()).status).toBe(200);
    const d = await client();
    d.write(head(MAX_HEADER + 1));
    expect((await d.next()).status).toBe(400);
    await d.waitClosed();
    await expectLiveUntouched();
  });

  it(`an SDP at IFC_RTSP_MAX_BODY_BYTES (${MAX_BODY}) is announced; one byte more gets 413`, async () => {
    const sdpOf = (size: number): string => {
      const base = h264Sdp(["a=x-pad:"]);
      return base.replace("a=x-pad:", `a=x-pad:${"p".repeat(size - base.length)}`);
    };
    expect(sdpOf(MAX_BODY)).toHaveLength(MAX_BODY);
    const c = await client();
    const ok = await c.request("ANNOUNCE", url("edge"), { "Content-Type": "application/sdp" }, sdpOf(MAX_BODY));
    expect(ok.status).toBe(200);
    await c.request("TEARDOWN", url("edge"), { Session: ok.headers.get("Session") ?? "" });
    const d = await client();
    const big = await d.request("ANNOUNCE", url("edge2"), { "Content-Type": "application/sdp" }, sdpOf(MAX_BODY + 1));
    expect(big.status).toBe(413);
    await d.waitClosed();
    await expectLiveUntouched();
  });

  it("unsupported codecs: 415 naming the supported ones", async () => {
    const c = await client();
    const sdp = ["v=0", "o=- 0 0 IN IP4 127.0.0.1", "s=x", "t=0 0", "m=video 0 RTP/AVP 96", "a=rtpmap:96 H265/90000", "a=control:streamid=0", ""].join("\r\n");
    const res = await c.request("ANNOUNCE", url("hevc"), { "Content-Type": "application/sdp" }, sdp);
    expect(res.status).toBe(415);
    expect(res.body.toString()).toContain("H265/90000");
    expect(res.body.toString()).toContain(SUPPORTED_CODECS);
    expect(ts.server.registry.get("hevc")).toBeUndefined();
    await expectLiveUntouched();
  });

  it("a second publisher with other credentials for a live name: 400 Stream Already Published", async () => {
    const c = await client();
    const auth = `Basic ${Buffer.from("ada:ada-password-1234").toString("base64")}`;
    const res = await c.request("ANNOUNCE", url("live"), { "Content-Type": "application/sdp", Authorization: auth }, h264Sdp());
    expect(res.status).toBe(400);
    expect(res.reason).toBe("Stream Already Published");
    expect(res.body.toString()).toMatch(/already has a live publisher/);
    await expectLiveUntouched();
  });

  it("SETUP of a track that was not announced: 404; RECORD before any SETUP: 455; an unusable transport: 461", async () => {
    const c = await client();
    const ann = await c.request("ANNOUNCE", url("tracks"), { "Content-Type": "application/sdp" }, h264Sdp());
    expect(ann.status).toBe(200);
    const session = ann.headers.get("Session")?.split(";")[0] ?? "";
    expect(ann.headers.get("Session")).toMatch(/;timeout=60$/);
    const res = await c.request("SETUP", url("tracks/streamid=5"), { Session: session, Transport: "RTP/AVP/TCP;unicast;interleaved=0-1;mode=record" });
    expect(res.status).toBe(404);
    expect((await c.request("RECORD", url("tracks"), { Session: session })).status).toBe(455);
    const unsupported = await c.request("SETUP", url("tracks/streamid=0"), { Session: session, Transport: "RTP/SAVP;unicast;client_port=5000-5001" });
    expect(unsupported.status).toBe(461);
    expect((await c.request("TEARDOWN", url("tracks"), { Session: session })).status).toBe(200);
    await expectLiveUntouched();
  });

  it("interleaved frames on a channel not set up, empty or not RTP: counted and dropped, the session lives", async () => {
    const c = await client();
    const ann = await c.request("ANNOUNCE", url("junk"), { "Content-Type": "application/sdp" }, h264Sdp());
    const session = ann.headers.get("Session")?.split(";")[0] ?? "";
    expect((await c.request("SETUP", url("junk/streamid=0"), { Session: session, Transport: "RTP/AVP/TCP;unicast;interleaved=0-1;mode=record" })).status).toBe(200);
    expect((await c.request("RECORD", url("junk"), { Session: session })).status).toBe(200);
    const before = ts.server.rtsp?.stats().input ?? { unknownChannelFrames: 0, badFrames: 0, refusedRequests: 0 };
    const frame = (channel: number, payload: Buffer): Buffer => {
      const h = Buffer.from([0x24, channel, 0, 0]);
      h.writeUInt16BE(payload.length, 2);
      return Buffer.concat([h, payload]);
    };
    c.write(Buffer.concat([frame(9, Buffer.alloc(40, 0x80)), frame(0, Buffer.alloc(0)), frame(0, Buffer.from([1, 2, 3])), frame(0, Buffer.alloc(30, 0x40))]));
    const ok = await c.request("GET_PARAMETER", url("junk"), { Session: session });
    expect(ok.status).toBe(200);
    const after = ts.server.rtsp?.stats().input;
    expect(after?.unknownChannelFrames).toBe(before.unknownChannelFrames + 1);
    expect(after?.badFrames).toBe(before.badFrames + 1);
    // Not RTP (too short, version 1): counted by the stream, nothing published.
    const junk = (await (await fetch(`${ts.url}/api/v1/streams/junk`)).json()) as StreamView;
    expect(junk).toMatchObject({ state: "live", protocol: "rtsp", packetsReceived: 2, framesReceived: 0 });
    expect((await c.request("TEARDOWN", url("junk"), { Session: session })).status).toBe(200);
    await expectLiveUntouched();
  });
});
