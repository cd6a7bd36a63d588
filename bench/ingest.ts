/**
 * Whole-server ingest figures, with the server in its own process (as deployed):
 *  - time from WHIP POST to `connected` (werift client on loopback), over sequential sessions;
 *  - server CPU per publishing stream (SRTP, depacketize, remux, store) at 720p30, from
 *    /proc/<pid>/stat, for 1 and 3 concurrent publishers;
 *  - bytes written to the store per second of video.
 *   npx tsx bench/ingest.ts [connects=20] [seconds=15]   (--short: 5 connects, 5 s)
 */
import { readdir, stat, rm } from "node:fs/promises";
import path from "node:path";
import { publishTestStream } from "../test/helpers/publish-test-stream.js";
import { whipPublish } from "../test/helpers/whip-client.js";
import { spawnServer } from "../test/support/server-harness.js";
import { cpuMs } from "./lib/proc.js";
import { machine, numArg, sleep, writeResults } from "./lib/results.js";
import { max, pct, round } from "./lib/stats.js";

const connects = numArg(0, 20, 5);
const seconds = numArg(1, 15, 5);
const m = machine();

async function dirBytes(dir: string): Promise<number> {
  let n = 0;
  for (const e of await readdir(dir, { withFileTypes: true })) {
    const p = path.join(dir, e.name);
    if (e.isDirectory()) n += await dirBytes(p);
    else n += (await stat(p)).size;
  }
  return n;
}

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
  const connectRow = { "sessions": connects, "POST→connected median ms": pct(times, 50), "p95 ms": pct(times, 95), "max ms": max(times) };

  // 2. CPU per stream and bytes per second
  const cpuRows: Record<string, string | number | null>[] = [];
  for (const n of [1, 3]) {
    const pubs = await Promise.all(Array.from({ length: n }, (_, i) => publishTestStream(`${server.url}/whip/cpu${n}-${i}`, { width: 1280, height: 720, fps: 30, gopSeconds: 1, durationSeconds: seconds + 5, audio: true, preset: "ultrafast" })));
    await sleep(2000); // past start-up
    const before = cpuMs(pid);
    const bytesBefore = await dirBytes(server.dataDir);
    const t0 = Date.now();
    const framesBefore = pubs.reduce((k, p) => k + p.stats.videoFrames, 0);
    await sleep(seconds * 1000);
    const wallS = (Date.now() - t0) / 1000;
    const cpu = (cpuMs(pid)) - before;
    const bytes = (await dirBytes(server.dataDir)) - bytesBefore;
    const frames = pubs.reduce((k, p) => k + p.stats.videoFrames, 0) - framesBefore;
    await Promise.all(pubs.map((p) => p.stop()));
    const videoSeconds = frames / 30;
    cpuRows.push({
      "publishers": n,
      "server CPU ms per s of 720p30, per stream": round(cpu / videoSeconds),
      "server CPU % of one core (all streams)": round((cpu / (wallS * 1000)) * 100),
      "video Mbit/s per stream": round((pubs.reduce((k, p) => k + p.stats.videoBytes, 0) * 8) / (pubs.reduce((k, p) => k + p.stats.videoFrames, 0) / 30) / 1e6, 2),
      "store bytes per s of video, per stream": Math.round(bytes / videoSeconds),
    });
  }
  console.log(`ingest bench: server pid ${pid}, ${seconds} s per run, 720p30 libx264 ultrafast + Opus from werift clients on loopback`);
  console.table([connectRow]);
  console.table(cpuRows);
  console.log(`wrote ${await writeResults("ingest", m, { seconds, connect: connectRow, connectTimesMs: times, cpu: cpuRows })}`);
} finally {
  server.child.kill("SIGTERM");
  await server.exited;
  await rm(server.dataDir, { recursive: true, force: true });
}
