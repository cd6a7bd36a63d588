import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launchChromium, type ChromiumHandle } from "../helpers/chromium.js";
import { publishTestStream, type TestStreamPublisher } from "../helpers/publish-test-stream.js";
import { startTestServer, type TestServer } from "../support/server-harness.js";
import { waitFor } from "../support/wait-for.js";

/**
 * Issue 12, GOP cache: an HLS client starts within one segment of live. The publisher has a 4 s
 * GOP and ignores PLI (ffmpeg), so segments are 4 s long and start only at its IDRs; hls.js in
 * LL-HLS mode must start from the newest segment boundary (its parts), not three target
 * durations back, and not wait for the publisher's next keyframe.
 */
const SEGMENT_S = 4;
let ts: TestServer;
let browser: ChromiumHandle;
let pub: TestStreamPublisher | undefined;

beforeAll(async () => {
  ts = await startTestServer({ segmentDurationMs: SEGMENT_S * 1000, partDurationMs: 500 });
  browser = await launchChromium();
});
afterAll(async () => {
  await pub?.stop().catch(() => undefined);
  await browser?.close();
  await ts?.stop();
});

describe("an HLS client joining a live stream with a 4 s GOP", () => {
  it("starts within one segment of the live edge", async () => {
    const server = ts.server;
    pub = await publishTestStream(`${ts.url}/whip/hlsstart`, { width: 320, height: 240, fps: 30, gopSeconds: SEGMENT_S, durationSeconds: 40, audio: false });
    // Two whole segments stored, then join in the middle of the third GOP.
    await waitFor(() => (server.recorder.liveManifest("hlsstart")?.segments.length ?? 0) >= 2, { what: "two segments stored", timeoutMs: 30_000 });
    const closedAt = Date.now();
    await waitFor(() => Date.now() - closedAt >= (SEGMENT_S * 1000) / 2, { what: "mid-GOP", timeoutMs: 10_000 });

    const page = await browser.newPage();
    const openedAt = Date.now();
    await page.goto(`${ts.url}/streams/hlsstart?hls=1`);
    const read = () => page.evaluate(() => {
      const w = (globalThis as unknown as { __watch: { firstFrameAt?: number | null; hls?: { latency: number }; hlsErrors: string[] } }).__watch;
      return { firstFrameAt: w.firstFrameAt, latency: w.hls?.latency ?? NaN, errors: [...w.hlsErrors] };
    });
    let at = await read();
    await waitFor(async () => (at = await read()).firstFrameAt != null, { what: "hls.js's first frame", timeoutMs: 20_000, intervalMs: 100 });
    const ttffMs = (at.firstFrameAt ?? 0) - openedAt;
    console.log(`HLS join mid-GOP: first frame ${ttffMs} ms after opening the page, ${at.latency.toFixed(2)} s behind live`);
    // Behind the live edge by at most one segment: it started at the newest segment boundary.
    expect(at.latency).toBeLessThanOrEqual(SEGMENT_S);
    expect(at.errors.filter((e) => e.endsWith("(fatal)"))).toEqual([]);
    await page.close();
  }, 90_000);
});
