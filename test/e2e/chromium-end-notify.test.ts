import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launchChromium, type ChromiumHandle } from "../helpers/chromium.js";
import { startTestServer, type TestServer } from "../support/server-harness.js";

/**
 * A server-side end reaches a Chromium WHEP viewer at once (issue 12): when the publisher (also
 * Chromium) leaves, the server's RTCP BYE and DTLS close_notify close the viewer's DTLS transport within
 * 1 s, instead of a frozen picture until consent expires (10+ s).
 */
let ts: TestServer;
let browser: ChromiumHandle;

beforeAll(async () => {
  ts = await startTestServer({ recordByDefault: false });
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await ts?.stop();
});

/** The parts of the browser's RTCPeerConnection used here (no DOM typings in this project). */
interface BrowserPeer {
  connectionState: string;
  getReceivers(): { transport: { state: string; addEventListener(type: string, fn: () => void): void } | null }[];
  addEventListener(type: string, fn: () => void): void;
}

interface EndWatch {
  pc: BrowserPeer | null;
  firstFrameAt: number | null;
  __endedAt?: number;
  __how?: string;
}

describe("Chromium WHEP viewer", () => {
  it("learns within 1 s that the publisher left (DTLS closed)", async () => {
    // Chromium publishes too (the built-in page): its H.264 is one a Chromium viewer accepts.
    const publisher = await browser.newPage();
    await publisher.goto(`${ts.url}/publish/cend`);
    await publisher.waitForFunction(() => (globalThis as unknown as { __whip?: { state: string } }).__whip?.state === "connected", undefined, { timeout: 30_000 });
    const page = await browser.newPage();
    await page.goto(`${ts.url}/streams/cend`);
    await page.waitForFunction(() => (globalThis as unknown as { __watch?: EndWatch }).__watch?.firstFrameAt != null, undefined, { timeout: 30_000 });
    // Listeners in the page record when (browser clock = host clock) and how the end was seen.
    await page.evaluate(() => {
      const w = (globalThis as unknown as { __watch: EndWatch }).__watch;
      const pc = w.pc;
      if (!pc) throw new Error("no peer connection on the watch page");
      const ended = (how: string) => {
        if (w.__endedAt === undefined) {
          w.__endedAt = Date.now();
          w.__how = how;
        }
      };
      const transport = pc.getReceivers()[0]?.transport;
      transport?.addEventListener("statechange", () => {
        if (transport.state === "closed") ended(`dtls ${transport.state}`);
      });
      pc.addEventListener("connectionstatechange", () => {
        if (pc.connectionState !== "connected") ended(`pc ${pc.connectionState}`);
      });
    });
    const t0 = Date.now();
    await publisher.evaluate(() => (globalThis as unknown as { __whip: { stop(): Promise<void> } }).__whip.stop());
    await page.waitForFunction(() => (globalThis as unknown as { __watch: EndWatch }).__watch.__endedAt !== undefined, undefined, { timeout: 20_000 });
    const { endedAt, how } = await page.evaluate(() => {
      const w = (globalThis as unknown as { __watch: EndWatch }).__watch;
      return { endedAt: w.__endedAt ?? 0, how: w.__how ?? "" };
    });
    console.log(`Chromium saw the end after ${endedAt - t0} ms (${how})`);
    expect(endedAt - t0).toBeLessThan(1000);
    await page.close();
    await publisher.close();
  });
});
