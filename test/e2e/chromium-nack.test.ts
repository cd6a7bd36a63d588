import { afterEach, describe, expect, it } from "vitest";
import { launchChromium, type ChromiumHandle } from "../helpers/chromium.js";
import { startStaticServer, type StaticServer } from "../helpers/static-server.js";
import { NetRelay } from "../support/net-relay.js";
import { assemble, decodeErrors, probeVideoFrames, readManifests } from "../support/recording-probe.js";
import { startTestServer, type TestServer } from "../support/server-harness.js";
import { waitFor } from "../support/wait-for.js";
import { startWhipRelayProxy, type WhipRelayProxy } from "../support/whip-relay-proxy.js";

/**
 * NACK repair with Chromium as the publisher (issue 12, point 3): the test page publishes the
 * fake camera through a WHIP proxy that puts a NetRelay in the media path (the page and the
 * product's publish page stay as they are), and the relay drops 5 % of the upstream datagrams
 * for 10 s once connected. Chromium's own stats say how many NACKs it got and how many packets it
 * resent (plain, on the media SSRC: our answer has no rtx); the server must have used them.
 */
let ts: TestServer | undefined;
let pages: StaticServer | undefined;
let browser: ChromiumHandle | undefined;
let relay: NetRelay | undefined;
let proxy: WhipRelayProxy | undefined;
afterEach(async () => {
  await browser?.close();
  await proxy?.close();
  await relay?.close();
  await pages?.close();
  await ts?.stop();
  browser = undefined;
  proxy = undefined;
  relay = undefined;
  pages = undefined;
  ts = undefined;
});

interface SenderStats {
  framesSent: number;
  packetsSent: number;
  nackCount: number;
  retransmittedPacketsSent: number;
  answerHasRtx: boolean;
}

const LOSSY_FRAMES = 10 * 30;

/** The page's RTCPeerConnection, as far as this test uses it (the test is compiled without the DOM lib). */
interface PagePeer {
  getSenders(): { replaceTrack(track: null): Promise<void> }[];
  getStats(): Promise<Map<string, Record<string, unknown>>>;
}

describe("Chromium publisher on a lossy path", () => {
  it("losses are NACKed, Chromium's resends are used, and the recording has every frame received", async () => {
    pages = await startStaticServer();
    ts = await startTestServer({ corsOrigins: [new URL(pages.url).origin], recordByDefault: true });
    relay = await NetRelay.start({ seed: 21 });
    proxy = await startWhipRelayProxy(ts.url, relay);
    browser = await launchChromium();
    const page = await browser.newPage();
    await page.goto(`${pages.url}/whip-publish.html?whip=${encodeURIComponent(proxy.url("/whip/crnack"))}&video=1&audio=0`);
    await page.waitForFunction(() => (globalThis as unknown as { __whip?: { state: string } }).__whip?.state === "connected", undefined, { timeout: 20_000 });
    const senderStats = (): Promise<SenderStats> =>
      page.evaluate(async () => {
        const whip = (globalThis as unknown as { __whip: { pc: PagePeer; answerSdp: string } }).__whip;
        const out = { framesSent: 0, packetsSent: 0, nackCount: 0, retransmittedPacketsSent: 0, answerHasRtx: /rtx\/90000/i.test(whip.answerSdp) };
        (await whip.pc.getStats()).forEach((s) => {
          if (s.type === "outbound-rtp" && s.kind === "video") {
            out.framesSent = Number(s.framesSent ?? 0);
            out.packetsSent = Number(s.packetsSent ?? 0);
            out.nackCount = Number(s.nackCount ?? 0);
            out.retransmittedPacketsSent = Number(s.retransmittedPacketsSent ?? 0);
          }
        });
        return out;
      });
    const stats = () => ts?.server.registry.get("crnack")?.stats();
    await waitFor(() => (stats()?.framesReceived ?? 0) >= 30, { what: "the first second of frames", timeoutMs: 20_000 });

    relay.set({ lossPercent: 5 }, "up");
    const lossFrom = stats()?.framesReceived ?? 0;
    await waitFor(() => (stats()?.framesReceived ?? 0) >= lossFrom + LOSSY_FRAMES, { what: "10 s of frames under loss", timeoutMs: 40_000 });
    relay.set({ lossPercent: 0 }, "up");
    const cleanFrom = stats()?.framesReceived ?? 0;
    await waitFor(() => (stats()?.framesReceived ?? 0) >= cleanFrom + 30, { what: "a clean second", timeoutMs: 10_000 });
    // no more frames: what Chromium sent is final, and the server can catch up with it
    await page.evaluate(async () => {
      const whip = (globalThis as unknown as { __whip: { pc: PagePeer } }).__whip;
      for (const s of whip.pc.getSenders()) await s.replaceTrack(null);
    });
    // settled: Chromium's count stopped and the server's stopped too (it may lack a frame or two)
    let sent = await senderStats();
    let received = -1;
    await waitFor(async () => {
      const now = await senderStats();
      const got = stats()?.framesReceived ?? 0;
      const settled = now.framesSent === sent.framesSent && got === received;
      sent = now;
      received = got;
      return settled;
    }, { what: "Chromium and the server done with the last frames", timeoutMs: 10_000, intervalMs: 300 });
    const server = stats();
    const up = relay.counters("up");
    console.log(JSON.stringify({ sent, server, droppedRtp: up.droppedByKind.rtp, dropped: up.droppedByKind, forwardedUp: up.forwardedByKind }));

    await page.evaluate(() => (globalThis as unknown as { __whip: { stop(): Promise<void> } }).__whip.stop());
    await ts.server.recorder.flush();
    const [m] = await readManifests(ts.dataDir, "crnack");
    if (!m) throw new Error("no recording");
    const file = await assemble(ts.dataDir, m);
    const frames = await probeVideoFrames(file);
    console.log(JSON.stringify({ recordedFrames: frames.length, segments: m.segments.length, inits: m.inits.length, gaps: m.gaps?.length ?? 0 }));

    // Chromium's fake camera is light (about 2.5 packets a frame at 720p): 5 % of its packets
    // is a few dozen in 10 s
    expect(sent.answerHasRtx).toBe(false);
    expect(up.droppedByKind.rtp).toBeGreaterThan(20);
    expect(sent.nackCount).toBeGreaterThan(0);
    expect(sent.retransmittedPacketsSent).toBeGreaterThanOrEqual(up.droppedByKind.rtp);
    // used: nearly nothing the relay dropped stayed lost, nearly every frame arrived (a resend
    // can come after the server's reorder window on a loaded machine: see the aiortc test)
    expect(server?.packetsLost ?? Infinity).toBeLessThanOrEqual(Math.floor(up.droppedByKind.rtp / 10));
    expect(server?.framesReceived ?? 0).toBeGreaterThanOrEqual(Math.floor(sent.framesSent * 0.9));
    // and every frame that arrived is in the recording
    expect(frames.length).toBe(server?.framesReceived);
    expect(await decodeErrors(file)).toBe("");
  }, 90_000);
});
