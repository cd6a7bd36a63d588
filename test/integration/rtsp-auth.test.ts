import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { ffmpegRtspPush, type RtspPush } from "../support/rtsp-ffmpeg.js";
import { h264Sdp, RawRtspClient } from "../support/rtsp-raw-client.js";
import { startTestServer, type TestServer } from "../support/server-harness.js";
import { waitFor } from "../support/wait-for.js";

let ts: TestServer;
let port: number;
const clients: RawRtspClient[] = [];
const pushes: RtspPush[] = [];

const url = (path: string, userinfo = ""): string => `rtsp://${userinfo}127.0.0.1:${port}/${path}`;
const basic = (user: string, password: string): string => `Basic ${Buffer.from(`${user}:${password}`).toString("base64")}`;

async function client(): Promise<RawRtspClient> {
  const c = await RawRtspClient.open(port);
  clients.push(c);
  return c;
}

/** ffmpeg publishes 3 s with credentials in the URL (it answers the Basic challenge with them); the stream must go live under them. */
async function publishWith(stream: string, userinfo: string): Promise<void> {
  const push = ffmpegRtspPush(url(stream, userinfo), { transport: "tcp", width: 320, height: 240, fps: 15, seconds: 3 });
  pushes.push(push);
  await waitFor(() => (ts.server.registry.get(stream)?.stats().framesReceived ?? 0) > 10, { timeoutMs: 20_000, what: `${stream} live with frames` });
  const s = ts.server.registry.get(stream)?.stats();
  expect(s).toMatchObject({ protocol: "rtsp", state: "live" });
  const { code, stderr } = await push.done;
  expect(code, stderr).toBe(0);
}

beforeAll(async () => {
  // No anonymous network: every RTSP request needs credentials.
  ts = await startTestServer({ authAnonymousNetworks: [] });
  port = ts.server.rtsp?.port ?? 0;
  await ts.server.auth.userStore.add("olga", "operator", "olga-password-1234");
  await ts.server.auth.userStore.add("vera", "viewer", "vera-password-1234");
}, 60_000);

afterAll(async () => {
  for (const c of clients) c.close();
  await Promise.all(pushes.map((p) => p.kill()));
  await ts?.stop();
});

describe("RTSP auth: the permission model of WHIP", () => {
  it("a stream's publish key as the password (ffmpeg URL credentials) publishes", async () => {
    const key = await ts.server.auth.publishKeys.create("keyed", { createdBy: "admin" });
    await publishWith("keyed", `cam:${encodeURIComponent(key.key)}@`);
    expect(ts.server.registry.get("keyed")).toBeUndefined(); // TEARDOWN ended it
  }, 60_000);

  it("a user's own password publishes", async () => {
    await publishWith("by-user", "olga:olga-password-1234@");
  }, 60_000);

  it("no credentials from a network that is not anonymous: 401 with a Basic challenge; a wrong password: 401", async () => {
    const c = await client();
    const none = await c.request("ANNOUNCE", url("nobody"), { "Content-Type": "application/sdp" }, h264Sdp());
    expect(none.status).toBe(401);
    expect(none.headers.get("WWW-Authenticate")).toBe('Basic realm="ifc"');
    const wrong = await c.request("ANNOUNCE", url("nobody"), { "Content-Type": "application/sdp", Authorization: basic("olga", "not-her-password") }, h264Sdp());
    expect(wrong.status).toBe(401);
    const describe401 = await c.request("DESCRIBE", url("nobody"));
    expect(describe401.status).toBe(401);
    expect(ts.server.registry.get("nobody")).toBeUndefined();
  });

  it("valid credentials without stream:publish: 403 (a viewer, or a publish key of another stream)", async () => {
    const c = await client();
    const viewer = await c.request("ANNOUNCE", url("viewed"), { "Content-Type": "application/sdp", Authorization: basic("vera", "vera-password-1234") }, h264Sdp());
    expect(viewer.status).toBe(403);
    expect(viewer.body.toString()).toMatch(/stream:publish/);
    const key = await ts.server.auth.publishKeys.create("other", { createdBy: "admin" });
    const foreign = await c.request("ANNOUNCE", url("viewed"), { "Content-Type": "application/sdp", Authorization: basic("x", key.key) }, h264Sdp());
    expect(foreign.status).toBe(403);
    expect(ts.server.registry.get("viewed")).toBeUndefined();
  });
});
