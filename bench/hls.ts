/**
 * LL-HLS latency behind live, server in its own process:
 *  - part availability: a client holding blocking reloads (`_HLS_msn`/`_HLS_part`) learns of
 *    each new part at time T; the part's media ends at E (the segment's PROGRAM-DATE-TIME plus
 *    the durations of the parts before it, on the recording's clock = first frame's arrival +
 *    media time). T − E is how long after its last frame arrived a part can be fetched.
 * This is the server's side only; how far behind live a real player shows the picture is
 * measured by bench/hls-player.ts (hls.js in Chromium).
 *   npx tsx bench/hls.ts [seconds=20]   (--short: 6 s)
 */
import { execFile } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { publishTestStream } from "../test/helpers/publish-test-stream.js";
import { spawnServer } from "../test/support/server-harness.js";
import { machine, numArg, pollFor, writeResults } from "./lib/results.js";
import { pct } from "./lib/stats.js";

const seconds = numArg(0, 20, 6);
const m = machine();

interface Parsed {
  msn: number;
  part: number;
  partEndMs: number;
  holdBackS: number;
}

/** The newest listed part: its media sequence number, index and media end (epoch ms). */
function newestPart(text: string): Parsed | undefined {
  const lines = text.split("\n");
  let seq = Number(/#EXT-X-MEDIA-SEQUENCE:(\d+)/.exec(text)?.[1]) - 1;
  let pdt = 0;
  let parts: number[] = [];
  let last: Parsed | undefined;
  const holdBackS = Number(/PART-HOLD-BACK=([\d.]+)/.exec(text)?.[1]);
  for (const l of lines) {
    if (l.startsWith("#EXT-X-PROGRAM-DATE-TIME:")) {
      seq++;
      pdt = Date.parse(l.slice("#EXT-X-PROGRAM-DATE-TIME:".length));
      parts = [];
    } else if (l.startsWith("#EXT-X-PART:")) {
      parts.push(Number(/DURATION=([\d.]+)/.exec(l)?.[1]) * 1000);
      last = { msn: seq, part: parts.length - 1, partEndMs: pdt + parts.reduce((a, b) => a + b, 0), holdBackS };
    }
  }
  return last;
}

// A pre-encoded clip sent as it is: an encoder in the loop falls behind real time on a busy
// machine, and its frames would then arrive late for their media time, which is not the server's lag.
const scratch = await mkdtemp(path.join(tmpdir(), "ifc-hls-bench-"));
const clip = path.join(scratch, "clip.ts");
await promisify(execFile)("ffmpeg", ["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30", "-t", "10",
  "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-bf", "0", "-g", "30", "-keyint_min", "30", "-sc_threshold", "0", "-pix_fmt", "yuv420p", "-b:v", "3M", clip]);
const server = await spawnServer({ IFC_AI_ENABLED: "false" });
try {
  const pub = await publishTestStream(`${server.url}/whip/hlsb`, { width: 1280, height: 720, fps: 30, gopSeconds: 1, durationSeconds: seconds + 6, audio: false, input: clip, videoCopy: true, connectTimeoutMs: 60_000 });
  const base = `${server.url}/hls/hlsb/index.m3u8`;
  // wait for the playlist
  let p: Parsed | undefined = await pollFor("a live playlist", async () => {
    const r = await fetch(base);
    return r.status === 200 ? newestPart(await r.text()) : undefined;
  }, 20_000, 200);
  const lags: number[] = [];
  const end = Date.now() + seconds * 1000;
  let holdBackS = p.holdBackS;
  while (Date.now() < end) {
    // ask for the part after the newest one (next segment's part 0 is also accepted by the server)
    const r = await fetch(`${base}?_HLS_msn=${p.msn}&_HLS_part=${p.part + 1}`);
    const t = Date.now();
    if (r.status !== 200) {
      p = newestPart(await (await fetch(base)).text()) ?? p;
      continue;
    }
    const next = newestPart(await r.text());
    if (!next) break;
    if (next.msn !== p.msn || next.part !== p.part) lags.push(t - next.partEndMs);
    holdBackS = next.holdBackS;
    p = next;
  }
  await pub.stop();
  const row = {
    "parts observed": lags.length,
    "part available after its media end p50 ms": pct(lags, 50),
    "p95 ms": pct(lags, 95),
    "PART-HOLD-BACK s": holdBackS,
  };
  console.log(`hls bench: ${seconds} s of 720p30 (pre-encoded, sent as it is), 1 s parts (IFC_PART_DURATION_MS default), blocking reloads on loopback`);
  console.table([row]);
  console.log(`wrote ${await writeResults("hls", m, { seconds, row, lagsMs: lags })}`);
} finally {
  server.child.kill("SIGTERM");
  await server.exited;
  await rm(server.dataDir, { recursive: true, force: true });
  await rm(scratch, { recursive: true, force: true });
}
