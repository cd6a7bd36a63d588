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
 *   npx tsx bench/ingest-cost.ts [counts=1,4,8,16] [seconds=30] [--profile] [--no-pin] [--short] [--tsx] [--repeat=K]
 * (--no-pin writes ingest-cost-unpinned.json)
 * With MEDIAMTX_BIN set (a MediaMTX binary built outside this repository; --mediamtx insists on
 * it), each N runs against MediaMTX too, right after ours and under the same conditions (same
 * pinning, publishers, clip, recording settings, WHEP viewers; bench/lib/mediamtx.ts), and a
 * side-by-side table gives ours/MediaMTX per N; written to ingest-cost-mediamtx.json. Columns
 * that only our server has (its event-loop stalls, its thread split) are "n/a" for MediaMTX.
 */
import { execFile } from "node:child_process";
import { existsSync, rmSync } from "node:fs";
import { mkdtemp, rm, writeFile } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import WebSocket from "ws";
import { spawnServer, type ServerProcess } from "../test/support/server-harness.js";
import { assemble, probeStreams, readManifests } from "../test/support/recording-probe.js";
import type { SentStats } from "../test/helpers/ffmpeg-rtp-source.js";
import { whepWatch } from "../test/helpers/whep-client.js";
import { cpuMs, rssBytes, threadCpu, udpDrops } from "./lib/proc.js";
import { startMediamtx } from "./lib/mediamtx.js";
import { summarizeProfile, type ProfileSummary } from "./lib/cpuprofile.js";
import type { FleetReport } from "./lib/publisher-fleet.js";
import { benchClip, CLIP_HEIGHT, CLIP_WIDTH, startFleet, type Fleet } from "./lib/fleet.js";
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
 * --repeat=K: K runs per N (ours and MediaMTX alternating), each row then the median of its
 * runs per column, with every run's CPU figure kept: at N=1 one run's CPU per stream varied
 * from 28 to 46 ms/s for the same code (GC and JIT timing inside a 22 s window).
 */
const REPEAT = Math.max(1, Number(process.argv.find((a) => a.startsWith("--repeat="))?.slice("--repeat=".length) ?? 1) || 1);
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
const WIDTH = CLIP_WIDTH;
const HEIGHT = CLIP_HEIGHT;
const m = machine();
const MiB = 1024 * 1024;
/** --no-pin: server and publishers share every core, as on a machine that runs out of CPU (the issue's "saturated" row). */
const pinned = existsSync("/usr/bin/taskset") && m.nproc >= 2 && !process.argv.includes("--no-pin");

/** What one scrape of our /metrics gives the sweep. */
interface LoopScrape {
  /** The loop's longest stall since the previous scrape (each resets the window). */
  maxS: number;
  /** Stalls over 20 ms so far (a counter). */
  over20: number;
  /** Full (mark-compact) collections so far, from prom-client's GC histogram (a counter). */
  majorGcs: number;
  /** Seconds the main thread spent in GC pauses and incremental steps so far, all kinds (a counter). */
  gcPauseS: number;
}

/** One scrape (each resets the server's event-loop window): the loop's longest stall, the count of stalls over 20 ms, and GC counters. */
async function loopScrape(url: string): Promise<LoopScrape> {
  const text = await (await fetch(`${url}/metrics`)).text();
  const num = (re: RegExp): number => Number(re.exec(text)?.[1] ?? NaN);
  let gcPauseS = 0;
  for (const m of text.matchAll(/^ifc_nodejs_gc_duration_seconds_sum\{kind="[a-z]+"\} ([0-9.eE+-]+)$/gm)) gcPauseS += Number(m[1]);
  // Buckets count delays beyond the 10 ms sample period: le=0.01 is an interval of 20 ms.
  return {
    maxS: num(/^ifc_nodejs_eventloop_lag_max_seconds ([0-9.eE+-]+)$/m),
    over20: num(/^ifc_event_loop_delay_seconds_count ([0-9.eE+-]+)$/m) - num(/^ifc_event_loop_delay_seconds_bucket\{le="0.01"\} ([0-9.eE+-]+)$/m),
    majorGcs: num(/^ifc_nodejs_gc_duration_seconds_count\{kind="major"\} ([0-9.eE+-]+)$/m) || 0,
    gcPauseS,
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

/**
 * Children to end at once if the bench itself is interrupted (SIGINT/SIGTERM); normal and failed
 * runs end them in their finally blocks.
 */
const killers = new Set<() => void>();
for (const [sig, code] of [["SIGINT", 130], ["SIGTERM", 143]] as const) {
  process.once(sig, () => {
    for (const k of killers) k();
    process.exit(code);
  });
}

interface Row {
  [k: string]: string | number | null;
}

/** A column that does not apply to the server measured (MediaMTX has no event loop or metrics of ours). */
const NA = "n/a";

/** What the sweep needs of the server under test, ours or MediaMTX. */
interface Target {
  pid: number;
  whipUrl(stream: string): string;
  whepUrl(stream: string): string;
  /** The event loop's longest stall and stalls over 20 ms since the previous call (our server's metrics; the scrape resets its window). */
  loopScrape?: () => Promise<LoopScrape>;
  /** Our server's inspector URL (--profile). */
  inspectorUrl?: () => Promise<string>;
  /** Thread split main/other: meaningful for Node's one JS thread, not for Go's scheduler. */
  threadSplit: boolean;
  /** RTP packets the server counted lost on `stream`, once it has accounted for `sent` of them (received or lost). */
  packetsLost(stream: string, sent: number): Promise<number>;
  /** Video frames in the recordings of `stream`, once they are closed. */
  framesRecorded(stream: string): Promise<number>;
  stop(): Promise<void>;
  kill(): void;
}

async function startOurs(profileDir?: string): Promise<Target> {
  const server = await spawnServer(
    { IFC_AI_ENABLED: "false", IFC_RECORD: "true", IFC_PART_DURATION_MS: "1000", IFC_SEGMENT_DURATION_MS: "4000" },
    undefined,
    profileDir ? { nodeArgs: ["--inspect=127.0.0.1:0", ...EXTRA_NODE_ARGS] } : { compiled: !TSX, nodeArgs: EXTRA_NODE_ARGS },
  );
  const pid = server.child.pid as number;
  const stop = async (): Promise<void> => {
    server.child.kill("SIGTERM");
    await server.exited;
    if (SERVER_LOG_DIR) await writeFile(path.join(SERVER_LOG_DIR, `server-${pid}${profileDir ? "-profile" : ""}.log`), server.output());
    await rm(server.dataDir, { recursive: true, force: true });
  };
  try {
    if (pinned) await run("taskset", ["-a", "-p", "-c", "0", String(pid)]);
  } catch (err) {
    await stop();
    throw err;
  }
  return {
    pid,
    whipUrl: (s) => `${server.url}/whip/${s}`,
    whepUrl: (s) => `${server.url}/whep/${s}`,
    loopScrape: () => loopScrape(server.url),
    inspectorUrl: () => inspectorUrl(server),
    threadSplit: true,
    packetsLost: (s, want) =>
      pollFor(`${s}: the server accounting for all ${want} packets sent`, async () => {
        const res = await fetch(`${server.url}/api/v1/streams/${s}`);
        if (res.status !== 200) throw new Error(`GET /api/v1/streams/${s}: ${res.status}`);
        const c = (await res.json()) as { packetsReceived: number; packetsLost: number };
        return c.packetsReceived + c.packetsLost >= want ? c.packetsLost : undefined;
      }, 10_000),
    // Recordings close when their publisher leaves; count the frames each holds.
    framesRecorded: async (s) => {
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
    },
    stop,
    kill: () => {
      server.child.kill("SIGKILL");
      rmSync(server.dataDir, { recursive: true, force: true });
    },
  };
}

async function startMediamtxTarget(bin: string): Promise<Target & { version: string }> {
  const mtx = await startMediamtx({ bin, ...(pinned ? { core: 0 } : {}), partSeconds: 1, segmentSeconds: 4 });
  return {
    pid: mtx.pid,
    version: mtx.version,
    whipUrl: mtx.whipUrl,
    whepUrl: mtx.whepUrl,
    threadSplit: false,
    // MediaMTX's own count of the publishing session (its API), polled as ours is.
    packetsLost: (s, want) =>
      pollFor(`${s}: MediaMTX accounting for all ${want} packets sent`, async () => {
        const c = await mtx.inbound(s);
        return c && c.packets + c.lost >= want ? c.lost : undefined;
      }, 10_000),
    framesRecorded: async (s) => {
      await pollFor(`${s}: MediaMTX's recordings closed`, async () => ((await mtx.pathClosed(s)) && (await mtx.recordings(s)).length > 0 ? true : undefined), 20_000, 200);
      return mtx.framesRecorded(s);
    },
    stop: mtx.stop,
    kill: mtx.kill,
  };
}

async function measure(n: number, clipFile: string, target: Target, profileDir?: string): Promise<{ row: Row; profile?: ProfileSummary }> {
  const pid = target.pid;
  let fleet: Fleet | undefined;
  try {
    await sleep(3000); // past start-up's lazy work
    const idle0 = cpuMs(pid);
    const idleT0 = performance.now();
    await sleep(IDLE_WINDOW_MS);
    const idleMsPerS = (cpuMs(pid) - idle0) / ((performance.now() - idleT0) / 1000);
    const baseRss = rssBytes(pid);

    const names = Array.from({ length: n }, (_, i) => `cost${n}-${i}`);
    const stopProfiler = profileDir && target.inspectorUrl ? await startProfiler(await target.inspectorUrl()) : undefined;
    const loop0 = await target.loopScrape?.(); // the scrape resets the window
    const f = startFleet({ type: "start", urls: names.map((s) => target.whipUrl(s)), clip: clipFile, width: WIDTH, height: HEIGHT, seconds, joinIntervalMs: JOIN_INTERVAL_MS }, pinned);
    fleet = f;
    killers.add(f.kill);
    const drops = new Map<string, number>();
    let peakRss = 0;
    const sampler = setInterval(() => {
      for (const [inode, d] of udpDrops(pid)) drops.set(inode, Math.max(d, drops.get(inode) ?? 0));
      peakRss = Math.max(peakRss, rssBytes(pid));
    }, 250);
    try {
      const joined = (await f.next("joined")) as Extract<FleetReport, { type: "joined" }>;
      const joinLoop = await target.loopScrape?.();
      // The steady window: from 2 s after the last join to 2 s before the first publisher ends.
      // At N=1, 3 s of it are left for WHEP viewers to connect while the stream is live.
      const steadyMs = Math.max(2000, seconds * 1000 - (n - 1) * JOIN_INTERVAL_MS - 6000 - (n === 1 ? WHEP_VIEWERS * 300 : 0));
      await sleep(2000);
      const steadyLoop0 = await target.loopScrape?.();
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
      const perStream = (k: string): number | string | null => (target.threadSplit ? round((split.get(k) ?? 0) / wallS / n, 1) : NA);
      const steadyRss = rssBytes(pid);
      // Reset at the start of the steady window, so what the 2 s after the joins held is in neither.
      const steadyLoop = await target.loopScrape?.();
      const profile = stopProfiler ? await stopProfiler() : undefined;
      // WHEP POST → connected for a werift viewer (this process, unpinned), one after another.
      const whepMs: number[] = [];
      if (n === 1 && !profileDir) {
        for (let i = 0; i < WHEP_VIEWERS; i++) {
          const v = await whepWatch(target.whepUrl(names[0] as string), { audio: false });
          whepMs.push(v.timings.connectedAt - v.timings.postSentAt);
          await v.close();
        }
      }
      const sent = ((await f.next("sent")) as Extract<FleetReport, { type: "sent" }>).sent;
      // Every packet accounted for (received or given up as lost) while the streams are live.
      const lost = await Promise.all(names.map((s, i) => target.packetsLost(s, (sent[i] as SentStats).videoPackets)));
      clearInterval(sampler);
      f.stop();
      await f.next("stopped");
      await f.exited;
      const recorded = await Promise.all(names.map((s) => target.framesRecorded(s)));
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
        "loop stall max during joins ms": joinLoop === undefined ? NA : round(joinLoop.maxS * 1000, 0),
        "loop stall max steady ms": steadyLoop === undefined ? NA : round(steadyLoop.maxS * 1000, 0),
        "loop stalls >20 ms during joins": joinLoop === undefined ? NA : joinLoop.over20 - (loop0 === undefined || Number.isNaN(loop0.over20) ? 0 : loop0.over20),
        "loop stalls >20 ms steady": steadyLoop === undefined || steadyLoop0 === undefined ? NA : steadyLoop.over20 - steadyLoop0.over20,
        "full GCs/s steady": steadyLoop === undefined || steadyLoop0 === undefined ? NA : round((steadyLoop.majorGcs - steadyLoop0.majorGcs) / wallS, 2),
        "GC main thread ms/s steady": steadyLoop === undefined || steadyLoop0 === undefined ? NA : round(((steadyLoop.gcPauseS - steadyLoop0.gcPauseS) * 1000) / wallS, 1),
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
    if (fleet) {
      fleet.kill(); // a no-op after a clean stop; on failure it ends every publisher
      killers.delete(fleet.kill);
    }
    await target.stop();
  }
}

/** The columns set side by side (the rest are ours only, or counts that do not compare as a ratio). */
const COMPARED = [
  "idle CPU ms/s", "CPU ms/s per stream", "server CPU % core", "RSS base MiB", "RSS steady MiB", "RSS peak MiB", "RSS per stream MiB",
  "POST→connected median ms", "POST→connected max ms", "WHEP POST→connected median ms", "frames lost %", "packets lost (server count)", "UDP drops (kernel)", "failed joins",
];

function sideBySide(ours: Row[], theirs: Row[]): Row[] {
  const out: Row[] = [];
  for (const o of ours) {
    const t = theirs.find((r) => r.streams === o.streams);
    if (!t) continue;
    for (const k of COMPARED) {
      const a = o[k] ?? null;
      const b = t[k] ?? null;
      out.push({ streams: o.streams ?? null, measure: k, ours: a, MediaMTX: b, "ours/MediaMTX": typeof a === "number" && typeof b === "number" && b !== 0 ? round(a / b, 2) : NA });
    }
  }
  return out;
}

/**
 * MediaMTX's fMP4 recorder writes a sample once the next one arrives (that gives its duration),
 * so the last frame of every recording is never written: "frames lost %" counts it.
 */
const MEDIAMTX_LAST_FRAME = "MediaMTX's recorder writes each sample when the next arrives (its duration), so every recording lacks its last frame (1 per stream per recording); frames lost % includes it";

/** Issue 17's target: CPU per stream at N=8 at most 29 ms/s, or at most 1.0x MediaMTX side by side. */
const ISSUE17 = { n: 8, msPerS: 29, ratio: 1.0 };

const MEDIAMTX_BIN = process.env.MEDIAMTX_BIN || undefined;
if (process.argv.includes("--mediamtx") && !MEDIAMTX_BIN) throw new Error("--mediamtx: set MEDIAMTX_BIN to a MediaMTX binary (built outside this repository)");

if (!TSX) await run("npm", ["run", "--silent", "build:server"], { cwd: path.resolve(import.meta.dirname, "..") });
const clipFile = await benchClip();
const rows: Row[] = [];
const mtxRows: Row[] = [];
let mtxVersion: string | undefined;
let profile: ProfileSummary | undefined;
const profileDir = PROFILE ? await mkdtemp(path.join(tmpdir(), "ifc-prof-")) : undefined;

/** Starts a target, keeps it killable from a signal while it lives, and measures. */
async function measureOn(start: () => Promise<Target>, n: number, dir?: string): Promise<{ row: Row; profile?: ProfileSummary }> {
  const target = await start();
  killers.add(target.kill);
  try {
    return await measure(n, clipFile, target, dir);
  } finally {
    killers.delete(target.kill);
  }
}

/** One row out of several runs: each numeric column's median, the rest from the first run; every run's CPU figure beside it. */
function medianRow(runs: Row[]): Row {
  if (runs.length === 1) return runs[0] as Row;
  const out: Row = { ...(runs[0] as Row) };
  for (const k of Object.keys(out)) {
    const xs = runs.map((r) => r[k]);
    if (xs.every((x) => typeof x === "number")) out[k] = round(median(xs as number[]), 1);
  }
  out["runs"] = runs.length;
  out["CPU ms/s per stream, each run"] = runs.map((r) => r["CPU ms/s per stream"]).join(" / ");
  return out;
}

try {
  for (const n of counts) {
    const ours: Row[] = [];
    const theirs: Row[] = [];
    for (let i = 0; i < REPEAT; i++) {
      ours.push((await measureOn(() => startOurs(), n)).row);
      // MediaMTX right after ours at the same N: the two see the same machine load as near as can be.
      if (MEDIAMTX_BIN) {
        const bin = MEDIAMTX_BIN;
        theirs.push((await measureOn(async () => {
          const t = await startMediamtxTarget(bin);
          mtxVersion = t.version;
          return t;
        }, n)).row);
      }
    }
    rows.push(medianRow(ours));
    if (theirs.length > 0) mtxRows.push(medianRow(theirs));
  }
  if (profileDir) {
    const r = await measureOn(() => startOurs(profileDir), PROFILE_N, profileDir);
    profile = r.profile;
  }
} finally {
  if (profileDir && !process.env.IFC_BENCH_KEEP_PROFILE) await rm(profileDir, { recursive: true, force: true });
}
console.log(`ingest-cost bench: ${REPEAT > 1 ? `median of ${REPEAT} runs per N; ` : ""}${seconds} s per publisher, joins ${JOIN_INTERVAL_MS} ms apart; ${WIDTH}x${HEIGHT}p30 ~3 Mbit/s sent as is; server ${TSX ? "under tsx" : "compiled (node dist/main.js)"}, ${pinned ? "pinned to core 0, publishers to core 1" : "not pinned"}${SHORT ? "; SHORT RUN: noisy, not to quote" : ""}`);
console.table(rows);
if (profile) {
  console.log(`server profile at N=${PROFILE_N} over the joins and steady window (${profile.sampledMs} ms of CPU sampled in ${profile.wallMs} ms):`);
  console.table(profile.stages);
  console.table(profile.topFunctions);
}
console.log(`wrote ${await writeResults(pinned ? "ingest-cost" : "ingest-cost-unpinned", m, { repeat: REPEAT, seconds, joinIntervalMs: JOIN_INTERVAL_MS, pinned, short: SHORT, server: TSX ? "tsx src/main.ts" : "node dist/main.js", rows, ...(profile ? { profile } : {}) })}`);
if (MEDIAMTX_BIN) {
  console.log(`MediaMTX ${mtxVersion ?? "?"} (MEDIAMTX_BIN), same sweep; "n/a": a column only our server has`);
  console.table(mtxRows);
  console.log(`note: ${MEDIAMTX_LAST_FRAME}`);
  const side = sideBySide(rows, mtxRows);
  console.log("side by side, ours / MediaMTX per N:");
  console.table(side);
  const cpuAt = side.find((r) => r.streams === ISSUE17.n && r.measure === "CPU ms/s per stream");
  const issue17 = cpuAt
    ? {
        n: ISSUE17.n,
        oursMsPerS: cpuAt.ours,
        mediamtxMsPerS: cpuAt.MediaMTX,
        ratio: cpuAt["ours/MediaMTX"],
        underMsPerS: typeof cpuAt.ours === "number" && cpuAt.ours <= ISSUE17.msPerS,
        underRatio: typeof cpuAt["ours/MediaMTX"] === "number" && cpuAt["ours/MediaMTX"] <= ISSUE17.ratio,
      }
    : undefined;
  if (issue17) {
    console.log(`issue 17 at N=${issue17.n}: ours ${String(issue17.oursMsPerS)} ms/s per stream (≤ ${ISSUE17.msPerS}: ${issue17.underMsPerS ? "yes" : "no"}), MediaMTX ${String(issue17.mediamtxMsPerS)}, ratio ${String(issue17.ratio)} (≤ ${ISSUE17.ratio}: ${issue17.underRatio ? "yes" : "no"})`);
  }
  console.log(`wrote ${await writeResults(pinned ? "ingest-cost-mediamtx" : "ingest-cost-mediamtx-unpinned", m, {
    repeat: REPEAT, seconds, joinIntervalMs: JOIN_INTERVAL_MS, pinned, short: SHORT,
    server: TSX ? "tsx src/main.ts" : "node dist/main.js",
    mediamtx: { version: mtxVersion ?? null, config: "generated per run (bench/lib/mediamtx.ts): WebRTC on 127.0.0.1 (one UDP mux port), record fmp4, 1 s parts, 4 s segments; RTSP/RTMP/HLS/SRT/MoQ off; API on 127.0.0.1", note: MEDIAMTX_LAST_FRAME },
    ours: rows, mediamtxRows: mtxRows, sideBySide: side, ...(issue17 ? { issue17 } : {}),
  })}`);
}
