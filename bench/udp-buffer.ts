/**
 * Packets lost at the server's own UDP socket on a busy machine, with the kernel's default
 * receive buffer (IFC_RTC_RECV_BUFFER_BYTES=0) and with 4 MiB (the default), issue 12:
 *  - one werift publisher sends a pre-encoded 1280x720 3 Mbit/s H.264 clip (no encoder in the
 *    loop) for `seconds`, while `yes > /dev/null` keeps one core busy;
 *  - socket drops: the `drops` column of /proc/net/udp for the server's ports (from the answer's
 *    candidates), read while the session is live;
 *  - what NACK could not repair: the server's packetsLost, and frames sent vs frames received.
 * The server runs in its own process (as deployed). Rounds alternate the two settings.
 *   npx tsx bench/udp-buffer.ts [seconds=30] [rounds=2]   (--short: 8 s, 1 round)
 */
import { execFile, spawn } from "node:child_process";
import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { readUdpDrops } from "../src/rtc/socket-buffer.js";
import { publishTestStream } from "../test/helpers/publish-test-stream.js";
import { spawnServer } from "../test/support/server-harness.js";
import { machine, numArg, sleep, writeResults } from "./lib/results.js";

const seconds = numArg(0, 30, 8);
const rounds = numArg(1, 2, 1);
const m = machine();
const run = promisify(execFile);

interface StreamFigures {
  packetsReceived: number;
  packetsLost: number;
  framesReceived: number;
}

async function streamFigures(url: string, stream: string): Promise<StreamFigures> {
  const res = await fetch(`${url}/api/v1/streams/${stream}`);
  if (res.status !== 200) throw new Error(`GET stream ${stream}: ${res.status}`);
  const s = (await res.json()) as StreamFigures;
  return { packetsReceived: s.packetsReceived, packetsLost: s.packetsLost, framesReceived: s.framesReceived };
}

function serverPorts(answerSdp: string): number[] {
  return [...answerSdp.matchAll(/^a=candidate:\S+ \d+ udp \d+ \S+ (\d+) typ/gim)].map((x) => Number(x[1]));
}

function drops(ports: number[]): number {
  const table = readUdpDrops();
  if (!table) return Number.NaN;
  return ports.reduce((sum, p) => sum + (table.get(p) ?? 0), 0);
}

/** The server start is slow on a loaded machine (tsx compiles it): one more try before giving up. */
async function startServer(env: Record<string, string>): Promise<Awaited<ReturnType<typeof spawnServer>>> {
  try {
    return await spawnServer(env);
  } catch (err) {
    console.error(`server start failed, retrying: ${(err as Error).message.split("\n")[0]}`);
    return spawnServer(env);
  }
}

const scratch = await mkdtemp(path.join(tmpdir(), "ifc-udp-bench-"));
let burner: ReturnType<typeof spawn> | undefined;
const rows: Record<string, unknown>[] = [];
try {
  // MPEG-TS: x264 repeats SPS/PPS before every IDR, which the copied RTP must carry.
  const clip = path.join(scratch, "clip.ts");
  await run("ffmpeg", ["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", "testsrc2=size=1280x720:rate=30", "-t", "10",
    "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-bf", "0", "-g", "30", "-keyint_min", "30", "-sc_threshold", "0",
    "-pix_fmt", "yuv420p", "-b:v", "3M", "-maxrate", "3M", "-bufsize", "1M", clip]);
  for (let r = 0; r < rounds; r++) {
    for (const bytes of [0, 4 * 1024 * 1024]) {
      const server = await startServer({ IFC_RTC_RECV_BUFFER_BYTES: String(bytes), IFC_RECORD: "false" });
      // One core kept busy by an unrelated process while media flows, as in the issue.
      burner = spawn("yes", [], { stdio: ["ignore", "ignore", "ignore"] });
      try {
        const stream = `udp${r}-${bytes}`;
        const pub = await publishTestStream(`${server.url}/whip/${stream}`, { width: 1280, height: 720, fps: 30, gopSeconds: 1, durationSeconds: seconds, audio: false, input: clip, videoCopy: true });
        const ports = serverPorts(pub.publication.answerSdp);
        const dropsBefore = drops(ports);
        await pub.done;
        // Let NACK round trips and the last datagrams settle before reading (the session stays up).
        await sleep(1500);
        const f = await streamFigures(server.url, stream);
        const socketDrops = drops(ports) - dropsBefore;
        rows.push({
          "round": r + 1,
          "IFC_RTC_RECV_BUFFER_BYTES": bytes,
          "seconds": seconds,
          "video Mbit/s sent": Math.round((pub.stats.videoBytes * 8) / seconds / 1e4) / 100,
          "packets sent": pub.stats.videoPackets,
          "server socket drops": socketDrops,
          "server packets lost (after NACK)": f.packetsLost,
          "frames sent": pub.stats.videoFrames,
          "frames received": f.framesReceived,
          "frames missing": pub.stats.videoFrames - f.framesReceived,
        });
        console.log(JSON.stringify(rows[rows.length - 1]));
        await pub.stop();
      } finally {
        burner.kill("SIGKILL");
        burner = undefined;
        server.child.kill("SIGTERM");
        await server.exited;
        await rm(server.dataDir, { recursive: true, force: true });
      }
    }
  }
} finally {
  burner?.kill("SIGKILL");
  await rm(scratch, { recursive: true, force: true });
}
const file = await writeResults("udp-buffer", m, { load: "one `yes > /dev/null` process while media flows, on top of the machine's own load", rows });
console.log(`wrote ${file}`);
