/**
 * Whole-server ingest figures, with the server in its own process (as deployed):
 *  - time from WHIP POST to `connected` (werift client on loopback), over sequential sessions;
 *  - server CPU per publishing stream (SRTP, depacketize, remux, store) at 720p30, from
 *    /proc/<pid>/stat, for 1 and 3 concurrent publishers;
 *  - bytes written to the store per second of video.
 *   npx tsx bench/ingest.ts [connects=20] [seconds=15]
 */
import { readFile, mkdir, writeFile, readdir, stat, rm } from "node:fs/promises";
import path from "node:path";
import { publishTestStream } from "../test/helpers/publish-test-stream.js";
import { whipPublish } from "../test/helpers/whip-client.js";
import { spawnServer } from "../test/support/server-harness.js";

const connects = Number(process.argv[2] ?? 20);
const seconds = Number(process.argv[3] ?? 15);
const CLK_TCK = 100;

async function cpuMs(pid: number): Promise<number> {
  const fields = (await readFile(`/proc/${pid}/stat`, "utf8")).split(") ")[1]?.split(" ") ?? [];
  return ((Number(fields[11]) + Number(fields[12])) * 1000) / CLK_TCK; // utime + stime
}

async function dirBytes(dir: string): Promise<number> {
  let n = 0;
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) n += await dirBytes(p);
    else n += (await stat(p)).size;
  }
  return n;
}

const pct = (xs: number[], p: number): number => {
  const s = [...xs].sort((a, b) => a - b);
  return s[Math.min(s.length - 1, Math.floor((p / 100) * s.length))] as number;
};

const server = await spawnServer({});
const pid = server.child.pid as number;
try {
  // 1. connect time
  const times: number[] = [];
  for (let i = 0; i < connects; i++) {
    const pub = await whipPublish(`${server.url}/whip/connect-${i}`, { audio: true });
    times.push(pub.timings.connectedAt - pub.timings.postSentAt);
    await pub.close();
  }
  const connectRow = { "sessions": connects, "POST→connected median ms": pct(times, 50), "p95 ms": pct(times, 95), "max ms": Math.max(...times) };

  // 2. CPU per stream and bytes per second
  const cpuRows: Record<string, string | number>[] = [];
  for (const n of [1, 3]) {
    const pubs = await Promise.all(Array.from({ length: n }, (_, i) => publishTestStream(`${server.url}/whip/cpu${n}-${i}`, { width: 1280, height: 720, fps: 30, gopSeconds: 1, durationSeconds: seconds + 5, audio: true, preset: "ultrafast" })));
    await new Promise((r) => setTimeout(r, 2000)); // past start-up
    const before = await cpuMs(pid);
    const bytesBefore = await dirBytes(server.dataDir);
    const t0 = Date.now();
    const framesBefore = pubs.reduce((k, p) => k + p.stats.videoFrames, 0);
    await new Promise((r) => setTimeout(r, seconds * 1000));
    const wallS = (Date.now() - t0) / 1000;
    const cpu = (await cpuMs(pid)) - before;
    const bytes = (await dirBytes(server.dataDir)) - bytesBefore;
    const frames = pubs.reduce((k, p) => k + p.stats.videoFrames, 0) - framesBefore;
    await Promise.all(pubs.map((p) => p.stop()));
    const videoSeconds = frames / 30;
    cpuRows.push({
      "publishers": n,
      "server CPU ms per s of 720p30, per stream": (cpu / videoSeconds).toFixed(1),
      "server CPU % of one core (all streams)": ((cpu / (wallS * 1000)) * 100).toFixed(1),
      "store bytes per s of video, per stream": Math.round(bytes / videoSeconds),
    });
  }
  console.log(`ingest bench: server pid ${pid}, ${seconds} s per run, 720p30 libx264 ultrafast + Opus from werift clients on loopback`);
  console.table([connectRow]);
  console.table(cpuRows);
  await mkdir(path.resolve(import.meta.dirname, "results"), { recursive: true });
  await writeFile(path.resolve(import.meta.dirname, "results/ingest.json"), JSON.stringify({ date: new Date().toISOString(), node: process.version, connect: connectRow, connectTimesMs: times, cpu: cpuRows }, null, 2));
} finally {
  server.child.kill("SIGTERM");
  await server.exited;
  await rm(server.dataDir, { recursive: true, force: true });
}
