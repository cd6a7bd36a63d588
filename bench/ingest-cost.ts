/**
 * Cost per stream of the whole server (issue 17's table), the server in its own process pinned
 * to core 0 and the publishers in another pinned to core 1, so their SRTP and ffmpeg cost stays
 * out of the server's figure. Per N publishers of one 1280×720@30 H.264 clip at ~3 Mbit/s sent
 * as it is (no encoder in the loop), joining 250 ms apart, recording on (fMP4, 1 s parts, 4 s
 * segments), AI feed off:
 *  - idle CPU (ms/s) before any stream;
 *  - server CPU per stream (ms per second of video per stream) over the steady window;
 *  - RSS: base (idle), steady, per stream;
 *  - WHIP POST → connected (median, max);
 *  - the event loop's longest stall during the joins (the server's own
 *    ifc_nodejs_eventloop_lag_max_seconds, reset by the scrape before the joins);
 *  - frames recorded / frames sent (ffprobe of every recording), RTP packets the server counted
 *    lost, and datagrams the kernel dropped on the server's UDP sockets (/proc/net/udp).
 * With --profile, a CPU profile of the server over the joins and the steady window at N=8
 * (IFC_BENCH_PROFILE_N)
 * (Chrome DevTools protocol on the inspector), split by stage (bench/lib/cpuprofile.ts).
 * The server runs as `npm start` runs it: compiled (`npm run build:server`, done here first),
 * `node dist/main.js`. --tsx runs src/main.ts under tsx instead (~70 MiB more resident);
 * the --profile run always does, so its stages map to src/.
 * Attribution (stalls): IFC_BENCH_NODE_ARGS and IFC_BENCH_SERVER_LOG, below.
 *   npx tsx bench/ingest-cost.ts [counts=1,4,8,16] [seconds=30] [--profile] [--no-pin] [--short] [--tsx]
 * (--no-pin writes ingest-cost-unpinned.json)
 */
import { execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, mkdtemp, rm, writeFile } from "node:fs/promises";
import { homedir, tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import WebSocket from "ws";
import { spawnServer, type ServerProcess } from "../test/support/server-harness.js";
import { assemble, probeStreams, readManifests } from "../test/support/recording-probe.js";
import type { SentStats } from "../test/helpers/ffmpeg-rtp-source.js";
import { whepWatch } from "../test/helpers/whep-client.js";
import { cpuMs, rssBytes, threadCpu, udpDrops } from "./lib/proc.js";
import { summarizeProfile, type ProfileSummary } from "./lib/cpuprofile.js";
import type { FleetReport, FleetStart } from "./lib/publisher-fleet.js";
import { listArg, machine, numArg, pollFor, SHORT, sleep, writeResults } from "./lib/results.js";
import { max, median, round } from "./lib/stats.js";

const run = promisify(execFile);
const counts = listArg(0, [1, 4, 8, 16], [1, 4]);
const seconds = numArg(1, 30, 12);
const PROFILE = process.argv.includes("--profile");
/** The N profiled (IFC_BENCH_PROFILE_N, default 8, the issue's). */
const PROFILE_N = Number(process.env.IFC_BENCH_PROFILE_N ?? 8);
const TSX = process.argv.includes("--tsx");
/**
 * IFC_BENCH_NODE_ARGS: extra node flags for the server, space-separated (attribution runs:
 * "--trace-gc", "--cpu-prof --cpu-prof-dir=/tmp/x"); IFC_BENCH_SERVER_LOG: a directory that
 * gets each server's stdout+stderr (where --trace-gc writes).
 */
const EXTRA_NODE_ARGS = (process.env.IFC_BENCH_NODE_ARGS ?? "").split(" ").filter((a) => a !== "");
const SERVER_LOG_DIR = process.env.IFC_BENCH_SERVER_LOG;
const JOIN_INTERVAL_MS = 250;
const WHEP_VIEWERS = 8;
const IDLE_WINDOW_MS = SHORT ? 3000 : 10_000;
const WIDTH = 1280;
const HEIGHT = 720;
const m = machine();
const MiB = 1024 * 1024;
/** --no-pin: server and publishers share every core, as on a machine that runs out of CPU (the "saturated" row). */
const pinned = existsSync("/usr/bin/taskset") && m.nproc >= 2 && !process.argv.includes("--no-pin");

/** The clip, encoded once and kept in a cache: 10 s of testsrc2 at 3 Mbit/s, IDR every second, no B-frames; MPEG-TS repeats SPS/PPS in-band. */
async function clip(): Promise<string> {
  const dir = path.join(process.env.XDG_CACHE_HOME ?? path.join(homedir(), ".cache"), "ifc-bench");
  const file = path.join(dir, `clip-${WIDTH}x${HEIGHT}p30-3M.ts`);
  if (existsSync(file)) return file;
  await mkdir(dir, { recursive: true });
  const tmp = `${file}.${process.pid}.ts`;
  await run("ffmpeg", ["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", `testsrc2=size=${WIDTH}x${HEIGHT}:rate=30`, "-t", "10",
    "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-bf", "0", "-g", "30", "-keyint_min", "30", "-sc_threshold", "0",
    "-pix_fmt", "yuv420p", "-b:v", "3M", "-maxrate", "3M", "-bufsize", "1M", tmp]);
  await run("mv", [tmp, file]);
  return file;
}

/** One scrape (each resets the server's event-loop window): the loop's longest stall and the count of stalls over 20 ms. */
async function loopScrape(url: string): Promise<{ maxS: number; over20: number }> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const num = (re: RegExp): number => Number(re.exec(text)?.[1] ?? NaN);
  // Buckets count delays beyond the 10 ms sample period: le=0.01 is an interval of 20 ms.
  return {
    maxS: num(/^ifc_nodejs_eventloop_lag_max_seconds ([0-9.eE+-]+)$/m),
    over20: num(/^ifc_event_loop_delay_seconds_count ([0-9.eE+-]+)$/m) - num(/^ifc_event_loop_delay_seconds_bucket\{le="0.01"\} ([0-9.eE+-]+)$/m),
  };
}

/** The inspector's WebSocket URL, printed on the server's stderr when started with --inspect=0. */
async function inspectorUrl(server: ServerProcess): Promise<string> {
  return pollFor("the inspector URL on the server's stderr", () => Promise.resolve(/Debugger listening on (ws:\/\/\S+)/.exec(server.output())?.[1]), 10_000);
}

/** Profiler.start / Profiler.stop over the Chrome DevTools protocol. */
async function startProfiler(wsUrl: string): Promise<() => Promise<unknown>> {
  const ws = new WebSocket(wsUrl);
  await new Promise((resolve, reject) => {
    ws.once("open", resolve);
    ws.once("error", reject);
  });
  let id = 0;
  const call = (method: string, params: Record<string, unknown> = {}): Promise<Record<string, unknown>> =>
    new Promise((resolve, reject) => {
      const my = ++id;
      const onMessage = (d: Buffer): void => {
        const msg = JSON.parse(d.toString()) as { id?: number; result?: Record<string, unknown>; error?: unknown };
        if (msg.id !== my) return;
        ws.off("message", onMessage);
        if (msg.error) reject(new Error(JSON.stringify(msg.error)));
        else resolve(msg.result ?? {});
      };
      ws.on("message", onMessage);
      ws.send(JSON.stringify({ id: my, method, params }));
    });
  await call("Profiler.enable");
  await call("Profiler.setSamplingInterval", { interval: 500 });
  await call("Profiler.start");
  return async () => {
    const r = await call("Profiler.stop");
    ws.close();
    return r.profile;
  };
}

interface Fleet {
  next(type: FleetReport["type"]): Promise<FleetReport>;
  stop(): void;
  exited: Promise<void>;
}

function startFleet(start: FleetStart): Fleet {
  const script = path.resolve(import.meta.dirname, "lib/publisher-fleet.ts");
  const argv = [process.execPath, "--import", "tsx", script];
  const child = spawn(pinned ? "taskset" : (argv.shift() as string), pinned ? ["-c", "1", ...argv] : argv, { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const waiting = new Map<string, (r: FleetReport) => void>();
  const got = new Map<string, FleetReport>();
  child.on("message", (r: FleetReport) => {
    const w = waiting.get(r.type);
    if (w) w(r);
    else got.set(r.type, r);
  });
  child.send(start);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  return {
    next: (type) => {
      const have = got.get(type);
      if (have) return Promise.resolve(have);
      return new Promise((resolve, reject) => {
        waiting.set(type, resolve);
        void exited.then(() => reject(new Error(`publisher fleet exited before "${type}"`)));
      });
    },
    stop: () => void child.send({ type: "stop" }),
    exited,
  };
}

interface Row {
  [k: string]: string | number | null;
}

async function measure(n: number, clipFile: string, profileDir?: string): Promise<{ row: Row; profile?: ProfileSummary }> {
  const server = await spawnServer(
    { IFC_AI_ENABLED: "false", IFC_RECORD: "true", IFC_PART_DURATION_MS: "1000", IFC_SEGMENT_DURATION_MS: "4000" },
    undefined,
    profileDir ? { nodeArgs: ["--inspect=127.0.0.1:0", ...EXTRA_NODE_ARGS] } : { compiled: !TSX, nodeArgs: EXTRA_NODE_ARGS },
  );
  const pid = server.child.pid as number;
  if (pinned) await run("taskset", ["-a", "-p", "-c", "0", String(pid)]);
  try {
    await sleep(3000); // past start-up's lazy work
    const idle0 = cpuMs(pid);
    const idleT0 = performance.now();
    await sleep(IDLE_WINDOW_MS);
    const idleMsPerS = (cpuMs(pid) - idle0) / ((performance.now() - idleT0) / 1000);
    const baseRss = rssBytes(pid);

    const names = Array.from({ length: n }, (_, i) => `cost${n}-${i}`);
    const stopProfiler = profileDir ? await startProfiler(await inspectorUrl(server)) : undefined;
    const loop0 = await loopScrape(server.url); // the scrape resets the window
    const fleet = startFleet({ type: "start", urls: names.map((s) => `${server.url}/whip/${s}`), clip: clipFile, width: WIDTH, height: HEIGHT, seconds, joinIntervalMs: JOIN_INTERVAL_MS });
    const drops = new Map<string, number>();
    let peakRss = 0;
    const sampler = setInterval(() => {
      for (const [inode, d] of udpDrops(pid)) drops.set(inode, Math.max(d, drops.get(inode) ?? 0));
      peakRss = Math.max(peakRss, rssBytes(pid));
    }, 250);
    try {
      const joined = (await fleet.next("joined")) as Extract<FleetReport, { type: "joined" }>;
      const joinLoop = await loopScrape(server.url);
      const joinLagS = joinLoop.maxS;
      // The steady window: from 2 s after the last join to 2 s before the first publisher ends.
      // At N=1, 3 s of it are left for WHEP viewers to connect while the stream is live.
      const steadyMs = Math.max(2000, seconds * 1000 - (n - 1) * JOIN_INTERVAL_MS - 6000 - (n === 1 ? WHEP_VIEWERS * 300 : 0));
      await sleep(2000);
      const steadyLoop0 = await loopScrape(server.url);
      const cpu0 = cpuMs(pid);
      const threads0 = threadCpu(pid);
      const t0 = performance.now();
      await sleep(steadyMs);
      const wallS = (performance.now() - t0) / 1000;
      const cpu = cpuMs(pid) - cpu0;
      // Where the CPU went by thread: the main loop (user/system) and the rest (V8's GC helpers
      // and libuv's pool for fs; Node 20 names them all "node", so they are one group).
      const split = new Map<string, number>();
      for (const [name, t] of threadCpu(pid)) {
        const b = threads0.get(name) ?? { user: 0, sys: 0 };
        if (name === "main") {
          split.set("main user", t.user - b.user);
          split.set("main sys", t.sys - b.sys);
        } else split.set("other threads", (split.get("other threads") ?? 0) + t.user - b.user + t.sys - b.sys);
      }
      const perStream = (k: string): number | null => round((split.get(k) ?? 0) / wallS / n, 1);
      const steadyRss = rssBytes(pid);
      // Reset at the start of the steady window, so what the 2 s after the joins held is in neither.
      const steadyLoop = await loopScrape(server.url);
      const steadyLagS = steadyLoop.maxS;
      const profile = stopProfiler ? await stopProfiler() : undefined;
      // WHEP POST → connected for a werift viewer (this process, unpinned), one after another.
      const whepMs: number[] = [];
      if (n === 1 && !profileDir) {
        for (let i = 0; i < WHEP_VIEWERS; i++) {
          const v = await whepWatch(`${server.url}/whep/${names[0]}`, { audio: false });
          whepMs.push(v.timings.connectedAt - v.timings.postSentAt);
          await v.close();
        }
      }
      const sent = ((await fleet.next("sent")) as Extract<FleetReport, { type: "sent" }>).sent;
      // Every packet accounted for (received or given up as lost) while the streams are live.
      const lost = await Promise.all(names.map(async (s, i) => {
        const want = (sent[i] as SentStats).videoPackets;
        return pollFor(`${s}: the server accounting for all ${want} packets sent`, async () => {
          const res = await fetch(`${server.url}/api/v1/streams/${s}`);
          if (res.status !== 200) throw new Error(`GET /api/v1/streams/${s}: ${res.status}`);
          const c = (await res.json()) as { packetsReceived: number; packetsLost: number };
          return c.packetsReceived + c.packetsLost >= want ? c.packetsLost : undefined;
        }, 10_000);
      }));
      clearInterval(sampler);
      fleet.stop();
      await fleet.next("stopped");
      await fleet.exited;
      // Recordings close when their publisher leaves; count the frames each holds.
      const recorded = await Promise.all(names.map(async (s) => {
        const ms = await pollFor(`${s}: its recordings closed`, async () => {
          const found = await readManifests(server.dataDir, s).catch(() => []);
          return found.length > 0 && found.every((x) => x.endedAt != null) ? found : undefined;
        }, 20_000, 200);
        let frames = 0;
        for (const mf of ms) {
          const file = await assemble(server.dataDir, mf);
          frames += Number((await probeStreams(file)).find((x) => x.codec_type === "video")?.nb_read_packets ?? 0);
          await rm(file, { force: true });
        }
        return frames;
      }));
      const framesSent = sent.reduce((k, x) => k + x.videoFrames, 0);
      const framesRecorded = recorded.reduce((a, b) => a + b, 0);
      const packetsSent = sent.reduce((k, x) => k + x.videoPackets, 0);
      let summary: ProfileSummary | undefined;
      if (profile && profileDir) {
        const file = path.join(profileDir, `server-n${n}.cpuprofile`);
        await writeFile(file, JSON.stringify(profile));
        summary = await summarizeProfile(file);
      }
      const row: Row = {
        "streams": n,
        "idle CPU ms/s": round(idleMsPerS, 1),
        "CPU ms/s per stream": round(cpu / wallS / n, 1),
        "main user": perStream("main user"),
        "main sys": perStream("main sys"),
        "other threads": perStream("other threads"),
        "server CPU % core": round((cpu / (wallS * 1000)) * 100, 0),
        "RSS base MiB": round(baseRss / MiB, 0),
        "RSS steady MiB": round(steadyRss / MiB, 0),
        "RSS peak MiB": round(peakRss / MiB, 0),
        "RSS per stream MiB": round((steadyRss - baseRss) / MiB / n, 1),
        "POST→connected median ms": round(median(joined.connectMs), 0),
        "POST→connected max ms": round(max(joined.connectMs), 0),
        "WHEP POST→connected median ms": round(median(whepMs), 0),
        "loop stall max during joins ms": round(joinLagS * 1000, 0),
        "loop stall max steady ms": round(steadyLagS * 1000, 0),
        "loop stalls >20 ms during joins": joinLoop.over20 - (Number.isNaN(loop0.over20) ? 0 : loop0.over20),
        "loop stalls >20 ms steady": steadyLoop.over20 - steadyLoop0.over20,
        "frames recorded": framesRecorded,
        "frames sent": framesSent,
        "frames lost %": round(framesSent > 0 ? ((framesSent - framesRecorded) / framesSent) * 100 : null, 2),
        "packets sent": packetsSent,
        "packets lost (server count)": lost.reduce((a, b) => a + b, 0),
        // Lost before the server: the publishers' own input from their ffmpeg (a saturated
        // machine starves them too); werift keeps those gaps in the sequence numbers it sends.
        "publisher input gaps": sent.reduce((k, x) => k + x.inputGaps, 0),
        "UDP drops (kernel)": [...drops.values()].reduce((a, b) => a + b, 0),
        "failed joins": joined.failed.length,
      };
      console.log(JSON.stringify(row));
      return { row, ...(summary ? { profile: summary } : {}) };
    } finally {
      clearInterval(sampler);
    }
  } finally {
    server.child.kill("SIGTERM");
    await server.exited;
    if (SERVER_LOG_DIR) await writeFile(path.join(SERVER_LOG_DIR, `server-n${n}${profileDir ? "-profile" : ""}.log`), server.output());
    await rm(server.dataDir, { recursive: true, force: true });
  }
}

if (!TSX) await run("npm", ["run", "--silent", "build:server"], { cwd: path.resolve(import.meta.dirname, "..") });
const clipFile = await clip();
const rows: Row[] = [];
let profile: ProfileSummary | undefined;
const profileDir = PROFILE ? await mkdtemp(path.join(tmpdir(), "ifc-prof-")) : undefined;
try {
  for (const n of counts) rows.push((await measure(n, clipFile)).row);
  if (profileDir) {
    const r = await measure(PROFILE_N, clipFile, profileDir);
    profile = r.profile;
  }
} finally {
  if (profileDir && !process.env.IFC_BENCH_KEEP_PROFILE) await rm(profileDir, { recursive: true, force: true });
}
console.log(`ingest-cost bench: ${seconds} s per publisher, joins ${JOIN_INTERVAL_MS} ms apart; ${WIDTH}x${HEIGHT}p30 ~3 Mbit/s sent as is; server ${TSX ? "under tsx" : "compiled (node dist/main.js)"}, ${pinned ? "pinned to core 0, publishers to core 1" : "not pinned"}`);
console.table(rows);
if (profile) {
  console.log(`server profile at N=${PROFILE_N} over the joins and steady window (${profile.sampledMs} ms of CPU sampled in ${profile.wallMs} ms):`);
  console.table(profile.stages);
  console.table(profile.topFunctions);
}
console.log(`wrote ${await writeResults(pinned ? "ingest-cost" : "ingest-cost-unpinned", m, { seconds, joinIntervalMs: JOIN_INTERVAL_MS, pinned, server: TSX ? "tsx src/main.ts" : "node dist/main.js", rows, ...(profile ? { profile } : {}) })}`);
