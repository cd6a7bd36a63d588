import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launchChromium, type ChromiumHandle } from "../helpers/chromium.js";
import { startStaticServer, type StaticServer } from "../helpers/static-server.js";
import { assemble, decodeErrors, probeVideoFrames, readManifests } from "../support/recording-probe.js";
import { startTestServer, type TestServer } from "../support/server-harness.js";
import { waitFor } from "../support/wait-for.js";

/**
 * A real browser publishes: Debian's Chromium sends its fake camera and microphone over WHIP for
 * 15 s. Chromium sends IDRs only at start, on PLI and at resolution steps, and ramps up only on
 * bandwidth feedback, so this exercises the server's REMB, PLI and mid-stream SPS handling.
 */
let ts: TestServer;
let pages: StaticServer;
let browser: ChromiumHandle;

beforeAll(async () => {
  pages = await startStaticServer();
  // The test page is served from another origin: the server must allow it (CORS allow-list).
  ts = await startTestServer({ corsOrigins: [new URL(pages.url).origin] });
  browser = await launchChromium();
});

afterAll(async () => {
  await browser?.close();
  await pages?.close();
  await ts?.stop();
});

interface WhipPageStats {
  frameWidth?: number;
  frameHeight?: number;
  framesEncoded?: number;
  framesSent?: number;
  keyFramesEncoded?: number;
  bytesSent?: number;
}

describe("Chromium publishes over WHIP", () => {
  it("records 15 s of its fake camera: decodable, IDR-aligned, and reports the resolution ramp", async () => {
    const page = await browser.newPage();
    const whip = `${ts.url}/whip/browser1`;
    await page.goto(`${pages.url}/whip-publish.html?whip=${encodeURIComponent(whip)}&video=1&audio=1`);
    await page.waitForFunction(() => (globalThis as unknown as { __whip?: { state: string } }).__whip?.state === "connected", undefined, { timeout: 20_000 });

    // The page's encoder stats, sampled once a second until 15 s of frames were encoded (counted
    // in frames, not seconds: a busy machine encodes fewer per second), give the ramp.
    const ramp: string[] = [];
    let last: WhipPageStats = {};
    await waitFor(
      async () => {
        last = await page.evaluate(() => (globalThis as unknown as { __whip: { stats(): Promise<WhipPageStats> } }).__whip.stats());
        const res = `${last.frameWidth}x${last.frameHeight}`;
        if (last.frameWidth && ramp[ramp.length - 1] !== res) ramp.push(res);
        return (last.framesEncoded ?? 0) >= 15 * 30;
      },
      { intervalMs: 1000, timeoutMs: 90_000, what: "15 s of frames encoded by Chromium" },
    );
    const live = (await (await fetch(`${ts.url}/api/v1/streams/browser1`)).json()) as { video: { width: number; height: number; fps: number }; bitrateBps: number; packetsLost: number };
    console.log(`Chromium resolution ramp: ${ramp.join(" → ")}; server sees ${live.video.width}x${live.video.height} @ ${live.video.fps} fps, ${(live.bitrateBps / 1e6).toFixed(2)} Mbit/s; page stats ${JSON.stringify(last)}`);
    await page.evaluate(() => (globalThis as unknown as { __whip: { stop(): Promise<void> } }).__whip.stop());
    await page.close();
    await ts.server.recorder.flush();

    expect(last.framesEncoded ?? 0).toBeGreaterThan(200);
    const [m] = await readManifests(ts.dataDir, "browser1");
    expect(m).toBeDefined();
    expect(m!.segments.length).toBeGreaterThanOrEqual(2);
    for (const seg of m!.segments) {
      expect(seg.parts[0]?.independent).toBe(true);
      const first = await probeVideoFrames(await assemble(ts.dataDir, m!, [seg]));
      expect(first[0]?.keyFrame).toBe(true);
    }
    const file = await assemble(ts.dataDir, m!);
    const frames = await probeVideoFrames(file);
    expect(frames.length).toBeGreaterThan(200);
    expect(await decodeErrors(file)).toBe("");
    // the largest resolution recorded is what Chromium ramped up to
    const widest = Math.max(...m!.inits.map((i) => i.width));
    expect(frames.some((f) => f.width === widest)).toBe(true);
    // The ramp, as the title promises: every resolution Chromium reported encoding was recorded
    // (a mid-stream SPS becomes a new init), it only went up, and the server saw where it ended.
    const recorded = new Set(m!.inits.map((i) => `${i.width}x${i.height}`));
    expect(ramp.length).toBeGreaterThanOrEqual(1);
    for (const res of ramp) expect(recorded.has(res), `${res} of the ramp ${ramp.join(" → ")} in the recording's inits ${[...recorded].join(", ")}`).toBe(true);
    const widths = ramp.map((r) => Number(r.split("x")[0]));
    expect(widths.every((w, i) => i === 0 || w >= (widths[i - 1] as number))).toBe(true);
    expect(widths.at(-1)).toBe(widest);
    expect(ramp).toContain(`${live.video.width}x${live.video.height}`);
    console.log(`recorded inits: ${m!.inits.map((i) => `${i.width}x${i.height}`).join(", ")}; ${frames.length} frames in ${m!.segments.length} segments`);
  });
});
