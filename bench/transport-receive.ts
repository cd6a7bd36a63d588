/**
 * What the WebRTC transport alone costs per stream: N WHIP publishers (bench/lib/fleet.ts, on
 * core 1) into a receiver that only counts RTP packets (bench/lib/transport-receiver.ts, on
 * core 0): werift as the server runs it. The server's whole cost per stream (bench/ingest-cost.ts)
 * minus this is what the rest of the server costs (depacketizing, hub, recording, GC of both).
 *
 *   npx tsx bench/transport-receive.ts [counts=1,8,16] [seconds=20]   (--short: 1,4 for 8 s)
 */
import { execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import path from "node:path";
import { promisify } from "node:util";
import { cpuMs, rssBytes, threadCpu } from "./lib/proc.js";
import { benchClip, CLIP_HEIGHT, CLIP_WIDTH, startFleet } from "./lib/fleet.js";
import type { FleetReport } from "./lib/publisher-fleet.js";
import type { ReceiverReport } from "./lib/transport-receiver.js";
import { listArg, machine, numArg, sleep, writeResults } from "./lib/results.js";
import { median, round } from "./lib/stats.js";

const run = promisify(execFile);
const counts = listArg(0, [1, 8, 16], [1, 4]);
const seconds = numArg(1, 20, 8);
const JOIN_INTERVAL_MS = 250;
const m = machine();
const pinned = existsSync("/usr/bin/taskset") && m.nproc >= 2 && !process.argv.includes("--no-pin");

interface Receiver {
  pid: number;
  port: number;
  count(): Promise<Extract<ReceiverReport, { type: "count" }>>;
  stop(): Promise<void>;
}

async function startReceiver(): Promise<Receiver> {
  const argv = [process.execPath, "--import", "tsx", path.resolve(import.meta.dirname, "lib/transport-receiver.ts")];
  const child = spawn(pinned ? "taskset" : (argv.shift() as string), pinned ? ["-c", "0", ...argv] : argv, { stdio: ["ignore", "inherit", "inherit", "ipc"] });
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  const next = <T extends ReceiverReport["type"]>(type: T): Promise<Extract<ReceiverReport, { type: T }>> =>
    new Promise((resolve, reject) => {
      const on = (r: ReceiverReport): void => {
        if (r.type !== type) return;
        child.off("message", on);
        resolve(r as Extract<ReceiverReport, { type: T }>);
      };
      child.on("message", on);
      void exited.then(() => reject(new Error(`receiver exited before "${type}"`)));
    });
  const { port } = await next("ready");
  return {
    pid: child.pid as number,
    port,
    count: () => {
      const r = next("count");
      child.send({ type: "count" });
      return r;
    },
    stop: async () => {
      child.kill("SIGTERM");
      await exited;
    },
  };
}

type Row = Record<string, string | number | null>;

async function measure(n: number, clip: string): Promise<Row> {
  const rx = await startReceiver();
  try {
    if (pinned) await run("taskset", ["-a", "-p", "-c", "0", String(rx.pid)]);
    const baseRss = rssBytes(rx.pid);
    const fleet = startFleet({ type: "start", urls: Array.from({ length: n }, (_, i) => `http://127.0.0.1:${rx.port}/whip/rx${n}-${i}`), clip, width: CLIP_WIDTH, height: CLIP_HEIGHT, seconds, joinIntervalMs: JOIN_INTERVAL_MS }, pinned);
    try {
      const joined = (await fleet.next("joined")) as Extract<FleetReport, { type: "joined" }>;
      if (joined.failed.length > 0) throw new Error(`publishers failed to join: ${joined.failed.join("; ")}`);
      await sleep(2000);
      const c0 = await rx.count();
      const cpu0 = cpuMs(rx.pid);
      const threads0 = threadCpu(rx.pid);
      const t0 = performance.now();
      await sleep(Math.max(2000, seconds * 1000 - (n - 1) * JOIN_INTERVAL_MS - 6000));
      const wallS = (performance.now() - t0) / 1000;
      const cpu = cpuMs(rx.pid) - cpu0;
      const c1 = await rx.count();
      let main = 0;
      let other = 0;
      for (const [name, t] of threadCpu(rx.pid)) {
        const b = threads0.get(name) ?? { user: 0, sys: 0 };
        if (name === "main") main += t.user - b.user + t.sys - b.sys;
        else other += t.user - b.user + t.sys - b.sys;
      }
      const packets = c1.packets - c0.packets;
      if (packets === 0) throw new Error(`${n} streams: no RTP packet reached the receiver in the window (${c1.sessions} sessions answered)`);
      const row: Row = {
        streams: n,
        "CPU ms/s per stream": round(cpu / wallS / n, 1),
        "main thread": round(main / wallS / n, 1),
        "other threads": round(other / wallS / n, 1),
        "µs per packet": round(packets > 0 ? (cpu * 1000) / packets : null, 1),
        "packets/s per stream": round(packets / wallS / n, 0),
        "RSS base MiB": round(baseRss / 1024 / 1024, 0),
        "RSS MiB": round(rssBytes(rx.pid) / 1024 / 1024, 0),
        "POST→connected median ms": round(median(joined.connectMs), 0),
      };
      console.log(JSON.stringify(row));
      return row;
    } catch (err) {
      fleet.kill();
      throw err;
    } finally {
      // The fleet takes "stop" once its publishers have ended (after "sent").
      await fleet.next("sent").catch(() => undefined);
      fleet.stop();
      await fleet.exited;
    }
  } finally {
    await rx.stop();
  }
}

const clip = await benchClip();
const rows: Row[] = [];
for (const n of counts) rows.push(await measure(n, clip));
console.log(`transport-receive bench: ${seconds} s per publisher, joins ${JOIN_INTERVAL_MS} ms apart; ${CLIP_WIDTH}x${CLIP_HEIGHT}p30 ~3 Mbit/s; werift receiver ${pinned ? "pinned to core 0, publishers to core 1" : "not pinned"}; counts RTP packets only`);
console.table(rows);
console.log(`wrote ${await writeResults("transport-receive", m, { seconds, joinIntervalMs: JOIN_INTERVAL_MS, pinned, rows })}`);
