/**
 * How far behind live a real LL-HLS player shows the picture: hls.js (the server's watch page,
 * `/streams/{stream}?hls=1`, `lowLatencyMode`) in Debian's Chromium, against the server in its
 * own process with its default 1 s parts.
 * The publisher sends a clip whose every frame carries its index as a QR code; the frame's send
 * time is when its last RTP packet left the werift publisher (capture and encoding are outside
 * the figure: a camera would add its own). In the page, requestVideoFrameCallback gives each
 * frame's display time; the QR is read there (jsQR) from the frame drawn to a canvas.
 * Latency = display time − send time, one host, one clock (performance.timeOrigin + now).
 *   npx tsx bench/hls-player.ts [seconds=30]   (--short: 12 s)
 */
import { spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { RtpPacket } from "werift";
import { launchChromium } from "../test/helpers/chromium.js";
import { publishTestStream } from "../test/helpers/publish-test-stream.js";
import { grayFrameWithQr } from "../test/support/qr-frame.js";
import { spawnServer } from "../test/support/server-harness.js";
import { machine, numArg, pollFor, sleep, writeResults } from "./lib/results.js";
import { max, min, pct } from "./lib/stats.js";

const seconds = numArg(0, 30, 12);
const m = machine();
const WIDTH = 640;
const HEIGHT = 360;
const FPS = 30;
const STREAM = "hlsplayer";
/** Time for the player to start (playlist, first parts, buffering) before samples count. */
const WARMUP_S = 10;
const QR = { x: 40, y: 40, scale: 6 };

/** A clip longer than the run (ffmpeg loops its input): frame i shows QR "f<i>". */
async function qrClip(file: string, frames: number): Promise<void> {
  const ff = spawn("ffmpeg", ["-hide_banner", "-loglevel", "error", "-y", "-f", "rawvideo", "-pix_fmt", "gray", "-s", `${WIDTH}x${HEIGHT}`, "-r", String(FPS), "-i", "pipe:0",
    "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-bf", "0", "-g", String(FPS), "-keyint_min", String(FPS), "-sc_threshold", "0", "-pix_fmt", "yuv420p", "-f", "mpegts", file], { stdio: ["pipe", "ignore", "inherit"] });
  const done = new Promise<void>((resolve, reject) => ff.once("exit", (code) => (code === 0 ? resolve() : reject(new Error(`ffmpeg exited with ${code}`)))));
  for (let i = 0; i < frames; i++) {
    const { data } = grayFrameWithQr(`f${i}`, { width: WIDTH, height: HEIGHT, ...QR, background: 90 + (i % 60) });
    if (!ff.stdin.write(data)) await new Promise((r) => ff.stdin.once("drain", r));
  }
  ff.stdin.end();
  await done;
}

/**
 * Page script (a string: this project compiles without the DOM library): for displayed frames,
 * at most 10 a second, the display time (epoch ms, from requestVideoFrameCallback) and the QR
 * text read from the frame (the code and its quiet zone, in the video's own pixels).
 */
function sampleFrames(x: number, y: number, size: number): string {
  return `(() => {
    const video = document.getElementById("video");
    const canvas = document.createElement("canvas");
    canvas.width = ${size};
    canvas.height = ${size};
    const ctx = canvas.getContext("2d", { willReadFrequently: true });
    window.__samples = [];
    let lastAt = 0;
    const onFrame = (_now, meta) => {
      const displayedAt = performance.timeOrigin + meta.expectedDisplayTime;
      if (displayedAt - lastAt >= 100) {
        lastAt = displayedAt;
        ctx.drawImage(video, ${x}, ${y}, ${size}, ${size}, 0, 0, ${size}, ${size});
        const code = jsQR(ctx.getImageData(0, 0, ${size}, ${size}).data, ${size}, ${size});
        if (code) window.__samples.push({ text: code.data, displayedAt });
      }
      video.requestVideoFrameCallback(onFrame);
    };
    video.requestVideoFrameCallback(onFrame);
  })()`;
}

const scratch = await mkdtemp(path.join(tmpdir(), "ifc-hls-player-"));
const clip = path.join(scratch, "qr.ts");
const totalS = WARMUP_S + seconds + 15;
await qrClip(clip, totalS * FPS);
const server = await spawnServer({ IFC_AI_ENABLED: "false" });
const browser = await launchChromium();
try {
  const pub = await publishTestStream(`${server.url}/whip/${STREAM}`, { width: WIDTH, height: HEIGHT, fps: FPS, gopSeconds: 1, durationSeconds: totalS, audio: false, input: clip, videoCopy: true, connectTimeoutMs: 60_000 });
  // Frame k of the clip is the k-th access unit sent (its last packet carries the marker bit),
  // counting those sent before we listened.
  const sentAt: number[] = Array.from({ length: pub.stats.videoFrames }, () => NaN);
  pub.publication.videoTrack?.onReceiveRtp.subscribe((p: RtpPacket) => {
    if (p.header.marker) sentAt.push(performance.timeOrigin + performance.now());
  });
  // The page's player gives up on a playlist that is not there yet: open it once one part is listed.
  await pollFor("a live playlist with a part", async () => {
    const r = await fetch(`${server.url}/hls/${STREAM}/index.m3u8`);
    return r.status === 200 && (await r.text()).includes("#EXT-X-PART:") ? true : undefined;
  }, 60_000);
  const page = await browser.newPage();
  await page.addInitScript({ path: path.resolve(import.meta.dirname, "../node_modules/jsqr/dist/jsQR.js") });
  await page.goto(`${server.url}/streams/${STREAM}?hls=1`);
  await page.waitForFunction("document.getElementById('video')?.currentTime > 0", undefined, { timeout: 60_000 }).catch(async (err: Error) => {
    throw new Error(`the player did not start: ${err.message}; page state ${JSON.stringify(await page.evaluate("window.__watch"))}`);
  });
  await page.evaluate(sampleFrames(QR.x - 4 * QR.scale, QR.y - 4 * QR.scale, (21 + 8) * QR.scale + 12 * QR.scale));
  await sleep(WARMUP_S * 1000);
  await page.evaluate("window.__samples.length = 0");
  await sleep(seconds * 1000);
  const samples = (await page.evaluate("window.__samples")) as { text: string; displayedAt: number }[];
  const watch = (await page.evaluate(`(() => {
    const v = document.getElementById("video");
    const w = window.__watch;
    return { mode: w.mode, player: w.hlsPlayer, errors: w.hlsErrors.slice(0, 10), bufferedAheadS: v.buffered.length ? v.buffered.end(v.buffered.length - 1) - v.currentTime : 0 };
  })()`)) as { mode: string; player: string; errors: string[]; bufferedAheadS: number };
  await page.close();
  await pub.stop();

  const lags: number[] = [];
  let unmatched = 0;
  for (const s of samples) {
    const k = Number(/^f(\d+)$/.exec(s.text)?.[1]);
    const at = sentAt[k];
    if (at === undefined || Number.isNaN(at)) unmatched++;
    else lags.push(Math.round(s.displayedAt - at));
  }
  const row = {
    "frames read": lags.length,
    "send → display median ms": pct(lags, 50),
    "p95 ms": pct(lags, 95),
    "min ms": min(lags),
    "max ms": max(lags),
  };
  console.log(`hls-player bench: ${WIDTH}x${HEIGHT}@${FPS}, 1 s GOP, server default parts; hls.js (${watch.player}, mode ${watch.mode}) in Chromium; ${seconds} s after ${WARMUP_S} s warm-up; ${unmatched} QR reads without a send time`);
  console.table([row]);
  if (lags.length === 0) throw new Error(`no frame read back (${samples.length} QR reads, ${JSON.stringify(watch)})`);
  console.log(`wrote ${await writeResults("hls-player", m, { seconds, warmupSeconds: WARMUP_S, stream: { width: WIDTH, height: HEIGHT, fps: FPS, gopSeconds: 1 }, player: watch, row, unmatched, lagsMs: lags })}`);
} finally {
  await browser.close();
  server.child.kill("SIGTERM");
  await server.exited;
  await rm(server.dataDir, { recursive: true, force: true });
  await rm(scratch, { recursive: true, force: true });
}
