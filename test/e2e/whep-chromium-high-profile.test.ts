import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { launchChromium, type ChromiumHandle } from "../helpers/chromium.js";
import { browserFrames, watchInChromium } from "../helpers/chromium-whep.js";
import { publishTestStream, type TestStreamPublisher } from "../helpers/publish-test-stream.js";
import { startTestServer, type TestServer } from "../support/server-harness.js";
import { waitFor, waitForValue } from "../support/wait-for.js";

/**
 * Issue 12, point 3: Debian's Chromium offers no High-profile H.264 (42001f, 42e01f, 4d001f,
 * f4001f), yet decodes High in software. A High-profile publisher (x264 -profile:v high) is
 * watched by Chromium: by default (IFC_WHEP_STRICT_PROFILE=false) the server answers with one
 * of Chromium's own H.264 variants and forwards the stream as it is, and Chromium decodes
 * frames; with the strict option it answers 406.
 */
let lenient: TestServer;
let strict: TestServer;
const publishers: TestStreamPublisher[] = [];
let browser: ChromiumHandle;

beforeAll(async () => {
  [lenient, strict] = await Promise.all([
    startTestServer({ recordByDefault: false, aiEnabled: false }),
    startTestServer({ recordByDefault: false, aiEnabled: false, whepStrictProfile: true }),
  ]);
  for (const ts of [lenient, strict]) {
    publishers.push(await publishTestStream(`${ts.url}/whip/high`, { width: 640, height: 360, fps: 30, gopSeconds: 1, durationSeconds: 40, audio: false, profile: "high" }));
  }
  browser = await launchChromium();
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await Promise.all(publishers.map((p) => p.stop()));
  await Promise.all([lenient?.stop(), strict?.stop()]);
});

describe("WHEP: a High-profile stream to Debian's Chromium", () => {
  it("lenient (default): answered with one of Chromium's H.264 variants, and Chromium decodes the High stream", async () => {
    const sps = await waitForValue(() => lenient.server.registry.get("high")?.hub.tracks.video?.sps, { what: "the publisher's SPS" });
    expect(sps.profileIdc).toBe(100); // High
    const page = await browser.newPage();
    try {
      await page.goto(`${lenient.url}/streams/none`); // any page of the server's origin
      const w = await watchInChromium(page, `${lenient.url}/whep/high`);
      expect(w.status).toBe(201);
      expect(w.error).toBeUndefined();
      const offered = [...w.offer.matchAll(/profile-level-id=([0-9a-f]{6})/g)].map((m) => m[1]);
      console.log(`Chromium offered profile-level-ids ${[...new Set(offered)].join(", ")}`);
      // one H.264 in the answer, a variant Chromium offered (it offers no High here, so no 64xxxx)
      const answered = [...w.answer.matchAll(/a=rtpmap:(\d+) H264\/90000/g)];
      expect(answered.length).toBe(1);
      const answeredPli = /profile-level-id=([0-9a-f]{6})/.exec(w.answer)?.[1] as string;
      expect(offered).toContain(answeredPli);
      if (!offered.some((p) => p?.startsWith("64"))) expect(answeredPli.startsWith("64")).toBe(false);
      let frames = await browserFrames(page);
      await waitFor(async () => (frames = await browserFrames(page)).decoded >= 30 && frames.rendered >= 10, { what: "Chromium decoding 30 frames", timeoutMs: 30_000, intervalMs: 200 });
      console.log(`Chromium, answered ${answeredPli}: ${frames.decoded} frames decoded, ${frames.rendered} rendered`);
      expect(frames.decoded).toBeGreaterThanOrEqual(30);
    } finally {
      await page.close();
    }
  }, 60_000);

  it("strict (IFC_WHEP_STRICT_PROFILE=true): 406 problem+json naming what Chromium offered", async () => {
    await waitForValue(() => strict.server.registry.get("high")?.hub.tracks.video?.sps, { what: "the publisher's SPS" });
    const page = await browser.newPage();
    try {
      await page.goto(`${strict.url}/streams/none`);
      const w = await watchInChromium(page, `${strict.url}/whep/high`);
      const offered = [...w.offer.matchAll(/profile-level-id=([0-9a-f]{6})/g)].map((m) => m[1]);
      // a Chromium that offers High would be served; Debian's does not
      if (offered.some((p) => p?.startsWith("64"))) {
        expect(w.status).toBe(201);
        return;
      }
      expect(w.status).toBe(406);
      expect(JSON.parse(w.answer)).toMatchObject({ status: 406 });
      expect(w.answer).toMatch(/IFC_WHEP_STRICT_PROFILE/);
    } finally {
      await page.close();
    }
  }, 60_000);
});
