import { afterEach, describe, expect, it } from "vitest";
import type { RTCDtlsTransport } from "werift";
import { dtlsTransports } from "../../src/rtc/werift-internals.js";
import { publishTestStream, type TestStreamPublisher } from "../helpers/publish-test-stream.js";
import { whepWatch, type WhepViewer } from "../helpers/whep-client.js";
import { countByes } from "../support/rtcp-bye.js";
import { startTestServer, type TestServer } from "../support/server-harness.js";
import { waitFor } from "../support/wait-for.js";

/**
 * Server-side ends reach werift peers at once (issue 12). A WHEP viewer: the publisher leaving, and the
 * server shutting down, each close the viewer's DTLS transport (close_notify) within 1 s, after
 * an RTCP BYE for the stream's SSRC. A WHIP publisher: a kick and a shutdown do the same.
 */
let ts: TestServer | undefined;
let pub: TestStreamPublisher | undefined;
let viewer: WhepViewer | undefined;
afterEach(async () => {
  await viewer?.close().catch(() => undefined);
  await pub?.stop().catch(() => undefined);
  await ts?.stop();
  viewer = undefined;
  pub = undefined;
  ts = undefined;
});

interface Goodbye {
  closedAt: Promise<number>;
  byes(): number;
}

/** Watches a peer's transport: when it closes, and the RTCP BYEs it decrypted. */
function watchGoodbye(t: RTCDtlsTransport): Goodbye {
  const byes = countByes(t);
  const closedAt = new Promise<number>((resolve) => t.onStateChange.subscribe((s) => s === "closed" && resolve(Date.now())));
  return { closedAt, byes };
}

async function liveViewer(stream: string): Promise<Goodbye> {
  if (!ts) throw new Error("no server");
  pub = await publishTestStream(`${ts.url}/whip/${stream}`, { width: 320, height: 240, fps: 30, gopSeconds: 1, durationSeconds: 30, audio: false });
  viewer = await whepWatch(`${ts.url}/whep/${stream}`, { audio: false });
  await viewer.waitUnits(5, 20_000);
  const [t] = dtlsTransports(viewer.pc);
  if (!t) throw new Error("no viewer transport");
  return watchGoodbye(t);
}

describe("server-side ends reach the WHEP viewer", () => {
  it("the publisher leaving: BYE and close_notify within 1 s of its DELETE", async () => {
    ts = await startTestServer({ recordByDefault: false });
    const goodbye = await liveViewer("bye1");
    const t0 = Date.now();
    await pub?.stop();
    pub = undefined;
    expect((await goodbye.closedAt) - t0).toBeLessThan(1000);
    expect(goodbye.byes()).toBeGreaterThanOrEqual(1);
  });

  it("server shutdown: close_notify within 1 s", async () => {
    ts = await startTestServer({ recordByDefault: false });
    const goodbye = await liveViewer("bye2");
    const t0 = Date.now();
    const stopping = ts.stop();
    ts = undefined;
    expect((await goodbye.closedAt) - t0).toBeLessThan(1000);
    await stopping;
  });
});

describe("server-side ends reach the WHIP publisher", () => {
  async function livePublisher(stream: string): Promise<Goodbye> {
    if (!ts) throw new Error("no server");
    const server = ts.server;
    pub = await publishTestStream(`${ts.url}/whip/${stream}`, { width: 320, height: 240, fps: 30, gopSeconds: 1, durationSeconds: 30, audio: false });
    await waitFor(() => (server.registry.get(stream)?.stats().framesReceived ?? 0) > 5, { what: "frames from the publisher", timeoutMs: 20_000 });
    const [t] = dtlsTransports(pub.publication.pc);
    if (!t) throw new Error("no publisher transport");
    return watchGoodbye(t);
  }

  it("a kick: BYE and close_notify within 1 s of the DELETE", async () => {
    ts = await startTestServer({ recordByDefault: false });
    const goodbye = await livePublisher("bye3");
    const t0 = Date.now();
    const res = await fetch(`${ts.url}/api/v1/streams/bye3`, { method: "DELETE" });
    expect(res.status).toBe(204);
    expect((await goodbye.closedAt) - t0).toBeLessThan(1000);
    expect(goodbye.byes()).toBeGreaterThanOrEqual(1);
  });

  it("server shutdown: close_notify within 1 s", async () => {
    ts = await startTestServer({ recordByDefault: false });
    const goodbye = await livePublisher("bye4");
    const t0 = Date.now();
    const stopping = ts.stop();
    ts = undefined;
    expect((await goodbye.closedAt) - t0).toBeLessThan(1000);
    await stopping;
  });
});
