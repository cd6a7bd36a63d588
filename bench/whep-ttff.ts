/**
 * WHEP time to first frame with and without the GOP cache (issue 12, point 5), all in one run:
 * for 1 s and 4 s GOPs (ffmpeg x264 through a werift WHIP client, which ignores PLI, 30 fps),
 * viewers join at random points of the GOP under three join policies, rotated join by join:
 *   - next-keyframe: wait for the publisher's next IDR (IFC_WHEP_JOIN=next-keyframe);
 *   - cached-gop, burst: the cached GOP as fast as the send path takes it, own timestamps;
 *   - cached-gop, fast-forward: paced at ≥ 4× the stream's rate, timestamps squeezed (the default).
 * Each join is measured with a werift viewer (POST → first complete keyframe; connected → 30th
 * frame, which shows a burst's losses) and, unless --no-chromium, with Debian's Chromium (POST →
 * first rendered frame; playout delay of the 30th rendered frame: presentation − receive time).
 * The server runs in this process (the policy is switched between joins on the live egress).
 *   npx tsx bench/whep-ttff.ts [joins=10] [--no-chromium]   (--short: 3 joins)
 */
import type { Page } from "playwright-core";
import { launchChromium, type ChromiumHandle } from "../test/helpers/chromium.js";
import { browserFrames, closeChromiumWatch, watchInChromium } from "../test/helpers/chromium-whep.js";
import { publishTestStream, type TestStreamPublisher } from "../test/helpers/publish-test-stream.js";
import { whepWatch } from "../test/helpers/whep-client.js";
import { startTestServer } from "../test/support/server-harness.js";
import type { CatchUp, WhepJoin } from "../src/distributor/whep/viewer-forwarder.js";
import { machine, numArg, pollFor, sleep, writeResults } from "./lib/results.js";
import { pct } from "./lib/stats.js";

const joins = numArg(0, 10, 3);
const withChromium = !process.argv.includes("--no-chromium");
const m = machine();
const GOPS = [1, 4];
const WIDTH = 960;
const HEIGHT = 540;
const MODES: { name: string; join: WhepJoin; catchUp: CatchUp }[] = [
  { name: "next-keyframe", join: "next-keyframe", catchUp: "fast-forward" },
  { name: "cached-gop burst", join: "cached-gop", catchUp: "burst" },
  { name: "cached-gop fast-forward", join: "cached-gop", catchUp: "fast-forward" },
];

interface WeriftJoin { connectMs: number; firstFrameMs: number; totalMs: number; to30Ms: number | null; packetsLost: number; nacks: number }
interface ChromiumJoin { totalMs: number | null; playoutDelayMs: number | null; to30Ms: number | null; freezes: number; nacks: number }

const ts = await startTestServer({ recordByDefault: false, aiEnabled: false, whepJoin: "cached-gop" });
const browser: ChromiumHandle | undefined = withChromium ? await launchChromium() : undefined;
const results: { gopSeconds: number; mode: string; werift: WeriftJoin[]; chromium: ChromiumJoin[]; failures: string[] }[] = [];

async function weriftJoin(url: string, gop: number): Promise<WeriftJoin> {
  const v = await whepWatch(url, { audio: true, connectTimeoutMs: 30_000 });
  try {
    await v.waitUnits(1, gop * 1000 + 15_000);
    await v.waitUnits(30, gop * 1000 + 5_000).catch(() => undefined);
    const t = v.timings;
    const first = t.firstKeyframeAt as number;
    const u30 = v.units[29];
    return { connectMs: t.connectedAt - t.postSentAt, firstFrameMs: first - t.connectedAt, totalMs: first - t.postSentAt, to30Ms: u30 ? u30.arrivalMs - t.connectedAt : null, packetsLost: v.depacketizer.packetsLost, nacks: v.nacksSent() };
  } finally {
    await v.close();
  }
}

async function chromiumJoin(b: ChromiumHandle, url: string, gop: number): Promise<ChromiumJoin> {
  const page: Page = await b.newPage();
  try {
    await page.goto(`${ts.url}/streams/none`); // an origin of the server's: same-origin POST
    const w = await watchInChromium(page, url);
    if (w.status !== 201) throw new Error(`Chromium WHEP POST: ${w.status} ${w.answer.slice(0, 200)}`);
    const first = await pollFor("Chromium's first frame", async () => ((await browserFrames(page)).firstFrameAt ?? undefined), gop * 1000 + 15_000, 20);
    const at30 = await pollFor("Chromium's 30th frame", async () => {
      const f = await browserFrames(page);
      return f.rendered >= 30 ? { f, at: Date.now() } : undefined;
    }, gop * 1000 + 8_000, 20).catch(() => undefined);
    const f = at30?.f ?? (await browserFrames(page));
    return { totalMs: first - w.postAt, playoutDelayMs: f.playoutDelayMs, to30Ms: at30 ? at30.at - w.postAt : null, freezes: f.freezeCount, nacks: f.nackCount };
  } finally {
    await closeChromiumWatch(page).catch(() => undefined);
    await page.close();
  }
}

try {
  for (const gop of GOPS) {
    const stream = `gop${gop}`;
    let pub: TestStreamPublisher | undefined;
    /** (Re)publishes when the stream is not live (a publisher can drop on a loaded machine), then fills the cache with a GOP. */
    const ensureLive = async (): Promise<void> => {
      if (ts.server.registry.get(stream)?.hub.tracks.video?.sps && pub) return;
      await pub?.stop().catch(() => undefined);
      pub = await publishTestStream(`${ts.url}/whip/${stream}`, { width: WIDTH, height: HEIGHT, fps: 30, gopSeconds: gop, durationSeconds: 3600, audio: true });
      await pollFor("the stream live", async () => ts.server.registry.get(stream)?.hub.tracks.video?.sps);
      await sleep(gop * 1000 + 500); // a whole GOP in the cache
    };
    try {
      const byMode = MODES.map((mode) => ({ gopSeconds: gop, mode: mode.name, werift: [] as WeriftJoin[], chromium: [] as ChromiumJoin[], failures: [] as string[] }));
      for (let i = 0; i < joins; i++) {
        for (let k = 0; k < MODES.length; k++) {
          const idx = (i + k) % MODES.length;
          const mode = MODES[idx] as (typeof MODES)[number];
          const row = byMode[idx] as (typeof byMode)[number];
          ts.server.whep.join = mode.join;
          ts.server.whep.catchUp = mode.catchUp;
          try {
            await ensureLive();
            await sleep(Math.random() * gop * 1000); // a random point of the GOP
            row.werift.push(await weriftJoin(`${ts.url}/whep/${stream}`, gop));
            if (browser) row.chromium.push(await chromiumJoin(browser, `${ts.url}/whep/${stream}`, gop));
            process.stdout.write(".");
          } catch (err) {
            row.failures.push(String(err).slice(0, 200));
            process.stdout.write("x");
          }
        }
      }
      results.push(...byMode);
    } finally {
      await pub?.stop();
    }
  }
  process.stdout.write("\n");
  const nums = (xs: (number | null)[]): number[] => xs.filter((x): x is number => x !== null);
  const table = results.map((r) => ({
    "GOP s": r.gopSeconds,
    "join": r.mode,
    "werift POST→frame med ms": pct(r.werift.map((j) => j.totalMs), 50),
    "p95": pct(r.werift.map((j) => j.totalMs), 95),
    "connected→frame med": pct(r.werift.map((j) => j.firstFrameMs), 50),
    "connected→30 frames med": pct(nums(r.werift.map((j) => j.to30Ms)), 50),
    "lost pkts": r.werift.reduce((a, j) => a + j.packetsLost, 0),
    "Chromium POST→frame med ms": pct(nums(r.chromium.map((j) => j.totalMs)), 50),
    "Chr p95": pct(nums(r.chromium.map((j) => j.totalMs)), 95),
    "Chr playout delay med ms": pct(nums(r.chromium.map((j) => j.playoutDelayMs)), 50),
    "Chr freezes": r.chromium.reduce((a, j) => a + j.freezes, 0),
    "failed joins": r.failures.length,
  }));
  console.log(`WHEP time to first frame, ${WIDTH}x${HEIGHT} 30 fps x264 (PLI ignored), ${joins} joins per GOP and policy, in one run`);
  console.table(table);
  console.log(`wrote ${await writeResults("whep-ttff", m, {
    publisher: { width: WIDTH, height: HEIGHT, fps: 30, encoder: "ffmpeg libx264 veryfast, zerolatency, no B-frames, ignores PLI", gops: GOPS },
    viewers: { werift: "in-process werift viewer, loopback", chromium: withChromium ? "Debian Chromium headless, loopback, video only" : "not run" },
    server: "in this process (startTestServer); policy switched on the live egress between joins",
    table,
    joins: results,
  })}`);
} finally {
  await browser?.close();
  await ts.stop();
}
