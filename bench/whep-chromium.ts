/**
 * WHEP time to first frame with a browser publisher: Debian's Chromium publishes its fake camera
 * over WHIP (the test page test/e2e/pages/whip-publish.html); werift viewers join one at a time
 * on loopback. Chromium sends no periodic IDR but answers PLI, and the server asks for a
 * keyframe when a viewer joins, so a join waits for a requested IDR, not for the next GOP.
 * Reported: WHEP POST → connected, connected → first complete keyframe, and their sum.
 *   npx tsx bench/whep-chromium.ts [joins=12]   (--short: 4 joins)
 */
import { rm } from "node:fs/promises";
import { launchChromium } from "../test/helpers/chromium.js";
import { startStaticServer } from "../test/helpers/static-server.js";
import { whepWatch } from "../test/helpers/whep-client.js";
import { spawnServer } from "../test/support/server-harness.js";
import { machine, numArg, pollFor, sleep, writeResults } from "./lib/results.js";
import { max, pct } from "./lib/stats.js";

const joins = numArg(0, 12, 4);
const m = machine();
const STREAM = "chromium";

interface PageStats {
  frameWidth?: number;
  frameHeight?: number;
  framesPerSecond?: number;
  keyFramesEncoded?: number;
}

const server = await spawnServer({ IFC_RECORD: "false", IFC_AI_ENABLED: "false" });
const pages = await startStaticServer();
const browser = await launchChromium();
try {
  const page = await browser.newPage();
  await page.goto(pages.pageUrl("whip-publish.html", { whip: `${server.url}/whip/${STREAM}`, video: "1", audio: "1" }));
  await page.waitForFunction(() => (globalThis as unknown as { __whip?: { state: string } }).__whip?.state === "connected", undefined, { timeout: 60_000 });
  const pageStats = (): Promise<PageStats> => page.evaluate(() => (globalThis as unknown as { __whip: { stats(): Promise<PageStats> } }).__whip.stats());
  // The stream is live once the server has its video track's first keyframe.
  await pollFor("the stream's first keyframe at the server", async () => {
    const r = await fetch(`${server.url}/api/v1/streams/${STREAM}`);
    return r.status === 200 && ((await r.json()) as { video?: { width?: number } }).video?.width ? true : undefined;
  });

  const ttff: { connectMs: number; keyframeMs: number; totalMs: number; publisher: string }[] = [];
  for (let i = 0; i < joins; i++) {
    const s = await pageStats();
    const v = await whepWatch(`${server.url}/whep/${STREAM}`, { audio: true, connectTimeoutMs: 30_000 });
    await v.waitUnits(1, 15_000);
    const t = v.timings;
    const first = t.firstKeyframeAt as number;
    ttff.push({ connectMs: t.connectedAt - t.postSentAt, keyframeMs: first - t.connectedAt, totalMs: first - t.postSentAt, publisher: `${s.frameWidth}x${s.frameHeight}` });
    await v.close();
    // joins land at random points of the publisher's stream
    await sleep(200 + Math.random() * 800);
  }
  const last = await pageStats();
  await page.evaluate(() => (globalThis as unknown as { __whip: { stop(): Promise<void> } }).__whip.stop());
  await page.close();

  const totals = ttff.map((x) => x.totalMs);
  const row = {
    "joins": joins,
    "POST→first keyframe median ms": pct(totals, 50),
    "p95 ms": pct(totals, 95),
    "min ms": Math.min(...totals),
    "max ms": max(totals),
    "POST→connected median ms": pct(ttff.map((x) => x.connectMs), 50),
    "connected→keyframe median ms": pct(ttff.map((x) => x.keyframeMs), 50),
  };
  console.log(`WHEP bench, Chromium publisher, publishing ${last.frameWidth}x${last.frameHeight} at the end, ${last.keyFramesEncoded} keyframes encoded; werift viewers on loopback`);
  console.table([row]);
  console.log(`wrote ${await writeResults("whep-chromium", m, { publisher: { browser: "Debian Chromium, fake camera 30 fps", last }, timeToFirstFrame: row, joinsMs: ttff })}`);
} finally {
  await browser.close();
  await pages.close();
  server.child.kill("SIGTERM");
  await server.exited;
  await rm(server.dataDir, { recursive: true, force: true });
}
