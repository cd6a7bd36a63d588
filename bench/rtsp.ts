/**
 * RTSP ingest figures, with the server in its own process (as deployed) and recording on:
 *  1. server CPU per stream (ms of CPU per second of 720p30 video) for RTSP publishers (ffmpeg,
 *     TCP interleaved and UDP) beside WHIP publishers (werift client) sending the SAME
 *     pre-encoded clip without re-encoding, so only the server's work differs;
 *  2. the most RTSP/UDP publishers a server pinned to ONE core holds at < 1 % packet loss
 *     (publishers ramped up; loss from the server's own RTP sequence accounting);
 *  3. RTP loss over UDP with the kernel's default socket receive buffer and with
 *     IFC_RTSP_UDP_RECV_BUFFER_BYTES (4 MiB), under the same load.
 *   npx tsx bench/rtsp.ts [seconds=15] [maxPublishers=64]   (--short: 5 s, 4)
 */
import { spawn, type ChildProcess } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir, rm } from "node:fs/promises";
import { homedir } from "node:os";
import path from "node:path";
import { publishTestStream, type TestStreamPublisher } from "../test/helpers/publish-test-stream.js";
import { freePort } from "../test/support/free-port.js";
import { spawnServer, type ServerProcess } from "../test/support/server-harness.js";
import { cpuMs } from "./lib/proc.js";
import { machine, numArg, sleep, writeResults } from "./lib/results.js";
import { median, round } from "./lib/stats.js";

const seconds = numArg(0, 15, 5);
const maxPublishers = numArg(1, 64, 4);
const m = machine();
const FPS = 30;

/** A 720p30 H.264 (+AAC) clip at about 3 Mbit/s, made once and cached: publishers copy it, never encode. */
async function clip(): Promise<string> {
  const dir = path.join(process.env.XDG_CACHE_HOME ?? path.join(homedir(), ".cache"), "imageflowcanvas", "bench");
  const file = path.join(dir, "rtsp-720p30-3M.ts");
  if (existsSync(file)) return file;
  await mkdir(dir, { recursive: true });
  await run("ffmpeg", ["-v", "error", "-y", "-f", "lavfi", "-i", `testsrc2=size=1280x720:rate=${FPS}`, "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000",
    "-t", "20", "-c:v", "libx264", "-preset", "veryfast", "-profile:v", "high", "-bf", "0", "-g", String(FPS), "-keyint_min", String(FPS), "-sc_threshold", "0",
    "-b:v", "3M", "-maxrate", "3M", "-bufsize", "1M", "-c:a", "aac", "-b:a", "128k", "-f", "mpegts", file]);
  return file;
}

function run(cmd: string, args: string[]): Promise<void> {
  return new Promise((resolve, reject) => {
    const p = spawn(cmd, args, { stdio: ["ignore", "ignore", "inherit"] });
    p.once("exit", (code) => (code === 0 ? resolve() : reject(new Error(`${cmd} exited with ${code}`))));
  });
}

/**
 * One ffmpeg RTSP publisher copying the clip's video at its real rate (pinned to `cpu` when
 * given). AAC from MPEG-TS has no global header, which ffmpeg's RTP muxer needs: the audio is
 * re-encoded (a few ms of the publisher's CPU per second, none of the server's).
 */
function rtspPublisher(file: string, url: string, transport: "tcp" | "udp", audio: boolean, cpu?: number): ChildProcess {
  const args = ["-v", "error", "-re", "-stream_loop", "-1", "-i", file, "-t", String(seconds + 4), "-map", "0:v", ...(audio ? ["-map", "0:a", "-c:a", "aac", "-b:a", "128k"] : []), "-c:v", "copy", "-f", "rtsp", "-rtsp_transport", transport, url];
  return cpu === undefined ? spawn("ffmpeg", args, { stdio: "ignore" }) : spawn("taskset", ["-c", String(cpu), "ffmpeg", ...args], { stdio: "ignore" });
}

interface StreamFigures {
  name: string;
  protocol: string;
  framesReceived: number;
  packetsReceived: number;
  packetsLost: number;
}

async function streams(server: ServerProcess): Promise<StreamFigures[]> {
  const res = await fetch(`${server.url}/api/v1/streams`);
  const body = (await res.json()) as { streams?: Record<string, unknown>[] } | Record<string, unknown>[];
  const list = Array.isArray(body) ? body : (body.streams ?? []);
  return list.map((s) => {
    const stats = (s.stats ?? s) as Record<string, number | string>;
    return { name: String(s.name), protocol: String(stats.protocol), framesReceived: Number(stats.framesReceived ?? 0), packetsReceived: Number(stats.packetsReceived ?? 0), packetsLost: Number(stats.packetsLost ?? 0) };
  });
}

async function waitLive(server: ServerProcess, names: string[], timeoutMs = 20_000): Promise<void> {
  const until = Date.now() + timeoutMs;
  for (;;) {
    const live = new Set((await streams(server)).filter((s) => s.framesReceived > 0).map((s) => s.name));
    if (names.every((n) => live.has(n))) return;
    if (Date.now() > until) throw new Error(`streams not live in ${timeoutMs} ms: ${names.filter((n) => !live.has(n)).join(", ")}`);
    await sleep(250);
  }
}

async function startServer(env: Record<string, string>): Promise<{ server: ServerProcess; rtspPort: number }> {
  const rtspPort = await freePort();
  const server = await spawnServer({ IFC_RTSP_PORT: String(rtspPort), IFC_RTSP_HOST: "127.0.0.1", IFC_AUTH_ANONYMOUS_NETWORKS: "127.0.0.0/8", IFC_MAX_PUBLISHERS: "128", ...env });
  return { server, rtspPort };
}

async function stopServer(server: ServerProcess): Promise<void> {
  server.child.kill("SIGTERM");
  await server.exited;
  await rm(server.dataDir, { recursive: true, force: true });
}

/** Server CPU per stream-second over `seconds` once every publisher is live. */
async function measureCpu(server: ServerProcess, names: string[]): Promise<{ msPerVideoSecond: number; coreShare: number; frames: number; lost: number; received: number }> {
  await waitLive(server, names);
  await sleep(2000); // past start-up (first keyframes, segment opens)
  const pid = server.child.pid as number;
  const before = new Map((await streams(server)).map((s) => [s.name, s]));
  const cpu0 = cpuMs(pid);
  const t0 = Date.now();
  await sleep(seconds * 1000);
  const cpu = cpuMs(pid) - cpu0;
  const wallMs = Date.now() - t0;
  const after = (await streams(server)).filter((s) => names.includes(s.name));
  let frames = 0;
  let lost = 0;
  let received = 0;
  for (const s of after) {
    const b = before.get(s.name);
    frames += s.framesReceived - (b?.framesReceived ?? 0);
    lost += s.packetsLost - (b?.packetsLost ?? 0);
    received += s.packetsReceived - (b?.packetsReceived ?? 0);
  }
  return { msPerVideoSecond: cpu / (frames / FPS), coreShare: cpu / wallMs, frames, lost, received };
}

const file = await clip();
const cpuRows: Record<string, string | number | null>[] = [];
const rawCpu: Record<string, unknown>[] = [];

// 1. CPU per stream, RTSP (tcp, udp) and WHIP, same clip, video only (like for like) and RTSP with AAC.
for (const n of [1, 4]) {
  for (const kind of ["rtsp-tcp", "rtsp-udp", "rtsp-tcp+aac", "whip"] as const) {
    const { server, rtspPort } = await startServer({});
    const names = Array.from({ length: n }, (_, i) => `${kind.replace(/[^a-z]/g, "")}${n}x${i}`);
    const procs: ChildProcess[] = [];
    const whips: TestStreamPublisher[] = [];
    try {
      for (const name of names) {
        if (kind === "whip") whips.push(await publishTestStream(`${server.url}/whip/${name}`, { input: file, videoCopy: true, audio: false, durationSeconds: seconds + 6 }));
        else procs.push(rtspPublisher(file, `rtsp://127.0.0.1:${rtspPort}/${name}`, kind.startsWith("rtsp-udp") ? "udp" : "tcp", kind.endsWith("+aac")));
      }
      const r = await measureCpu(server, names);
      rawCpu.push({ kind, publishers: n, ...r });
      cpuRows.push({ ingest: kind, publishers: n, "server CPU ms per s of 720p30, per stream": round(r.msPerVideoSecond), "server CPU % of one core": round(r.coreShare * 100), "packets lost %": round((100 * r.lost) / Math.max(1, r.received + r.lost), 2) });
    } finally {
      for (const p of procs) p.kill("SIGINT");
      await Promise.all(whips.map((w) => w.stop().catch(() => undefined)));
      await stopServer(server);
    }
  }
}
console.log(`rtsp bench: ${seconds} s per run, one 720p30 ~3 Mbit/s H.264 clip copied (no encoding) by every publisher, recording on`);
console.table(cpuRows);

// 2 and 3. One core: ramp RTSP/UDP publishers; with and without the large receive buffer.
const rampRows: Record<string, string | number | null>[] = [];
const counts = [1, 2, 4, 8, 16, 24, 32, 40, 48, 56, 64].filter((k) => k <= maxPublishers);
const maxHeld: Record<string, number> = {};
for (const buffer of ["4194304", "0"]) {
  const label = buffer === "0" ? "kernel default" : "4 MiB";
  maxHeld[label] = 0;
  for (const n of counts) {
    const { server, rtspPort } = await startServer({ IFC_RTSP_UDP_RECV_BUFFER_BYTES: buffer });
    // The server on core 1 alone (every thread), the publishers on core 0.
    await run("taskset", ["-a", "-cp", "1", String(server.child.pid)]);
    const names = Array.from({ length: n }, (_, i) => `core${n}x${i}`);
    const procs: ChildProcess[] = [];
    try {
      for (const name of names) {
        // Video only: dozens of publishers' AAC encoders would not fit on the publishers' core.
        procs.push(rtspPublisher(file, `rtsp://127.0.0.1:${rtspPort}/${name}`, "udp", false, 0));
        await sleep(250); // joins 250 ms apart, as in issue 17's measurement
      }
      let r: Awaited<ReturnType<typeof measureCpu>>;
      try {
        r = await measureCpu(server, names);
      } catch (err) {
        // Publishers that never went live: the server no longer keeps up at this count.
        rampRows.push({ "receive buffer": label, publishers: n, "packets lost %": null, "server CPU % of its core": null, note: (err as Error).message.slice(0, 60) });
        console.log(rampRows.at(-1));
        break;
      }
      const lossPct = (100 * r.lost) / Math.max(1, r.received + r.lost);
      rampRows.push({ "receive buffer": label, publishers: n, "packets lost %": round(lossPct, 2), "server CPU % of its core": round(r.coreShare * 100) });
      console.log(rampRows.at(-1));
      if (lossPct < 1) maxHeld[label] = n;
      else break;
    } finally {
      for (const p of procs) p.kill("SIGINT");
      await stopServer(server);
    }
  }
}
console.log("one core (taskset), RTSP over UDP, 720p30 H.264, recording on, publishers joining 250 ms apart:");
console.table(rampRows);
console.table([{ "most publishers at < 1 % loss, 4 MiB buffer": maxHeld["4 MiB"] ?? 0, "kernel default buffer": maxHeld["kernel default"] ?? 0 }]);

const ratio = (kind: string, n: number): number | null => {
  const a = cpuRows.find((r) => r.ingest === kind && r.publishers === n)?.["server CPU ms per s of 720p30, per stream"];
  const b = cpuRows.find((r) => r.ingest === "whip" && r.publishers === n)?.["server CPU ms per s of 720p30, per stream"];
  return typeof a === "number" && typeof b === "number" && b > 0 ? round(a / b, 2) : null;
};
const summary = { "rtsp-tcp / whip CPU, 1 publisher": ratio("rtsp-tcp", 1), "rtsp-tcp / whip CPU, 4 publishers": ratio("rtsp-tcp", 4), "rtsp-udp / whip CPU, 4 publishers": ratio("rtsp-udp", 4), medianRtspMsPerSecond: median(cpuRows.filter((r) => String(r.ingest).startsWith("rtsp")).map((r) => Number(r["server CPU ms per s of 720p30, per stream"]))) };
console.table([summary]);
console.log(`wrote ${await writeResults("rtsp", m, { seconds, cpu: cpuRows, rawCpu, oneCore: rampRows, maxPublishersBelow1PercentLoss: maxHeld, summary })}`);
