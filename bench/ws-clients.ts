/**
 * How many WebSocket clients of `/ws/streams/<stream>` the server holds with 1 Hz `stream_stats`
 * pushes, with the server in its own process (as deployed). The clients ramp in steps; at each
 * step, over a window of ~10 s:
 *  - the share of the step's clients that got every stats message on time: a gap ≥ 2 s between
 *    two messages (or a window edge) is a miss, so is a client that did not connect or closed;
 *  - the share that also got every message but at most one of the window (a server whose timers
 *    run late keeps the gaps under 2 s but sends less than once a second: "all msgs %");
 *  - the delay from the server's `at` stamp to receipt (p50/p99/max);
 *  - server CPU (% of one core) and RSS from /proc, its event-loop delay from /metrics
 *    (`ifc_nodejs_eventloop_lag_p99_seconds`/`_max_`, which prom-client resets on each scrape;
 *    sampled every 10 ms, the interval included, so an idle loop reads ≈ 10 ms);
 *  - each client process's CPU and event-loop delay, to tell which side saturated.
 * The clients live in several processes (bench/lib/ws-client-pool.ts) so one client event loop
 * is not the limit. One live stream (a WHIP session that stays connected without media,
 * IFC_RTP_SILENCE_TIMEOUT_MS raised) makes the stats those of a live stream.
 * The server's per-client caps are raised for the benchmark: IFC_WS_MAX_CLIENTS,
 * IFC_HTTP_MAX_CONNECTIONS_PER_CLIENT (every client is 127.0.0.1) and the REST rate limit
 * (each upgrade is a request from that one address).
 *   npx tsx bench/ws-clients.ts [steps=500,1000,2000,3000,5000] [seconds=10] [clientProcesses=2]
 *   (--short: steps 200,500, 4 s)
 */
import { fork, type ChildProcess } from "node:child_process";
import { rm } from "node:fs/promises";
import path from "node:path";
import { whipPublish, type WhipPublication } from "../test/helpers/whip-client.js";
import { spawnServer } from "../test/support/server-harness.js";
import { cpuMs, openFilesLimit, rssBytes } from "./lib/proc.js";
import { listArg, machine, numArg, sleep, writeResults } from "./lib/results.js";
import { max, pct, round } from "./lib/stats.js";
import type { PoolCommand, PoolReply, WindowReport } from "./lib/ws-client-pool.js";

const steps = listArg(0, [500, 1000, 2000, 3000, 5000], [200, 500]);
const seconds = numArg(1, 10, 4);
const processes = numArg(2, 2);
const STATS_INTERVAL_MS = 1000;
const MISS_GAP_MS = 2000;
/** After a step's clients connect, before its window: every new client has had its first push. */
const SETTLE_MS = 2500;
const CONNECT_CONCURRENCY = 50;
/** Held: at least this share of the step's clients on time. */
const HELD_SHARE = 0.99;
/** Below this share the server is overwhelmed: larger steps would only measure the collapse. */
const STOP_SHARE = 0.5;
const m = machine();
const maxStep = Math.max(...steps);

// Every client is a file descriptor here and one in the server (plus a margin for the rest).
const FD_MARGIN = 256;
const ownFiles = openFilesLimit();
if (ownFiles < Math.ceil(maxStep / processes) + FD_MARGIN || ownFiles < maxStep + FD_MARGIN) {
  throw new Error(`open-files limit ${ownFiles} is too low for ${maxStep} WebSocket clients (the server, spawned from here, inherits it): raise it with \`ulimit -n ${maxStep + 2 * FD_MARGIN}\` in the shell that runs the bench`);
}

const env = {
  IFC_WS_STATS_INTERVAL_MS: String(STATS_INTERVAL_MS),
  IFC_WS_MAX_CLIENTS: String(Math.max(6000, maxStep + 1000)),
  IFC_HTTP_MAX_CONNECTIONS_PER_CLIENT: String(maxStep + FD_MARGIN),
  IFC_REST_RATE_LIMIT_PER_MINUTE: "0",
  IFC_RTP_SILENCE_TIMEOUT_MS: "3600000",
  IFC_RECORD: "false",
  IFC_AI_ENABLED: "false",
};
const server = await spawnServer(env);
const pid = server.child.pid as number;
const metricAt = (text: string, name: string): number => Number(new RegExp(`^${name} (\\S+)$`, "m").exec(text)?.[1] ?? NaN);
const scrape = async (): Promise<string> => (await fetch(`${server.url}/metrics`)).text();

/** A client process; replies come in the order of the commands. */
class Pool {
  private readonly waiting: ((r: PoolReply) => void)[] = [];
  readonly exited: Promise<number | null>;
  constructor(readonly child: ChildProcess) {
    child.on("message", (r: PoolReply) => this.waiting.shift()?.(r));
    this.exited = new Promise((resolve) => child.once("exit", resolve));
    void this.exited.then((code) => {
      for (const w of this.waiting.splice(0)) w({ type: "closed" });
      if (code !== 0 && code !== null) console.error(`client process ${child.pid} exited with ${code}`);
    });
  }
  ask<T extends PoolReply["type"]>(cmd: PoolCommand, type: T): Promise<Extract<PoolReply, { type: T }>> {
    return new Promise((resolve, reject) => {
      this.waiting.push((r) => (r.type === type ? resolve(r as Extract<PoolReply, { type: T }>) : reject(new Error(`client process ${this.child.pid}: expected ${type}, got ${r.type}`))));
      this.child.send(cmd);
    });
  }
}

const pools: Pool[] = [];
let publisher: WhipPublication | undefined;
try {
  publisher = await whipPublish(`${server.url}/whip/bench`, { video: true, audio: true });
  for (let i = 0; i < processes; i++) {
    pools.push(new Pool(fork(path.join(import.meta.dirname, "lib/ws-client-pool.ts"), [], {
      cwd: path.resolve(import.meta.dirname, ".."),
      execArgv: ["--import", "tsx"],
      stdio: ["ignore", "inherit", "inherit", "ipc"],
    })));
  }
  const wsUrl = `${server.url.replace(/^http/, "ws")}/ws/streams/bench`;
  const rows: Record<string, number | null>[] = [];
  const windows: { step: number; connectMs: number; failed: number; errors: string[]; reports: Omit<WindowReport, "delaysMs">[] }[] = [];
  let open = 0;
  for (const step of steps) {
    const need = step - open;
    const shares = pools.map((_, i) => Math.floor(need / pools.length) + (i < need % pools.length ? 1 : 0));
    const opened = await Promise.all(pools.map((p, i) => p.ask({ type: "open", url: wsUrl, count: shares[i] as number, concurrency: CONNECT_CONCURRENCY }, "opened")));
    open += opened.reduce((k, o) => k + o.ok, 0);
    const failed = step - open;
    await sleep(SETTLE_MS);

    await scrape(); // resets the server's event-loop delay histogram
    const cpu0 = cpuMs(pid);
    const t0 = performance.now();
    await Promise.all(pools.map((p) => p.ask({ type: "window-start" }, "window-started")));
    await sleep(seconds * 1000);
    const reports = (await Promise.all(pools.map((p) => p.ask({ type: "window-end", intervalMs: STATS_INTERVAL_MS }, "window")))).map((r) => r.report);
    const wallMs = performance.now() - t0;
    const serverCpuPct = ((cpuMs(pid) - cpu0) / wallMs) * 100;
    const metrics = await scrape();
    const rss = rssBytes(pid);

    const onTime = reports.reduce((k, r) => k + r.onTime, 0);
    const held = reports.reduce((k, r) => k + r.clients, 0);
    const delays = reports.flatMap((r) => r.delaysMs);
    const share = onTime / step;
    rows.push({
      "clients": step,
      "connected": open,
      "on time %": round(share * 100, 2),
      "all msgs %": round((reports.reduce((k, r) => k + r.complete, 0) / step) * 100, 2),
      "closed in window": reports.reduce((k, r) => k + r.closed, 0),
      "msgs/client/s": round(reports.reduce((k, r) => k + r.messages, 0) / Math.max(1, held) / (wallMs / 1000), 2),
      "longest gap ms": max(reports.map((r) => r.maxGapMs)),
      "delay p50 ms": pct(delays, 50),
      "delay p99 ms": pct(delays, 99),
      "delay max ms": max(delays),
      "server CPU %": round(serverCpuPct, 0),
      "server RSS MB": round(rss / 2 ** 20, 0),
      "server loop p99 ms": round(metricAt(metrics, "ifc_nodejs_eventloop_lag_p99_seconds") * 1000, 1),
      "server loop max ms": round(metricAt(metrics, "ifc_nodejs_eventloop_lag_max_seconds") * 1000, 1),
      "client procs CPU % (max)": round(max(reports.map((r) => (r.cpuMs / r.wallMs) * 100)), 0),
      "client loop p99 ms (max)": round(max(reports.map((r) => r.loopDelayP99Ms)), 1),
    });
    windows.push({ step, connectMs: Math.round(max(opened.map((o) => o.ms)) ?? 0), failed, errors: [...new Set(opened.flatMap((o) => o.errors))], reports: reports.map(({ delaysMs: _, ...r }) => r) });
    console.log(`step ${step}: ${open} connected (${failed} failed${failed ? `: ${windows.at(-1)?.errors.join("; ")}` : ""}), ${round(share * 100, 2)} % on time`);
    if (share < STOP_SHARE) {
      console.log(`fewer than ${STOP_SHARE * 100} % on time: larger steps skipped`);
      break;
    }
  }

  const heldSteps = rows.filter((r) => (r["on time %"] ?? 0) >= HELD_SHARE * 100).map((r) => r.clients as number);
  const largestHeld = heldSteps.length ? Math.max(...heldSteps) : null;
  const completeSteps = rows.filter((r) => (r["all msgs %"] ?? 0) >= HELD_SHARE * 100).map((r) => r.clients as number);
  const largestComplete = completeSteps.length ? Math.max(...completeSteps) : null;
  const topNote = largestHeld === maxStep ? " — the largest step tried: the limit lies beyond it" : "";
  console.log(`WebSocket bench: /ws/streams/<live stream>, stats every ${STATS_INTERVAL_MS} ms, ${seconds} s windows, clients in ${processes} process(es) on loopback; a gap ≥ ${MISS_GAP_MS} ms is a miss`);
  console.table(rows);
  console.log(`largest step held with ≥ ${HELD_SHARE * 100} % of clients on time: ${largestHeld ?? "none"}${topNote} (design documents: 1000+, issue 11 aims at 5000); with ≥ ${HELD_SHARE * 100} % also getting all messages: ${largestComplete ?? "none"}`);
  console.log("event-loop delays include the 10 ms sampling interval (an idle loop reads ≈ 10 ms)");
  console.log(`open-files limit: this process ${ownFiles}, server ${openFilesLimit(pid)}`);
  console.log(`wrote ${await writeResults("ws-clients", m, {
    feed: "/ws/streams/<stream>", statsIntervalMs: STATS_INTERVAL_MS, missGapMs: MISS_GAP_MS, windowSeconds: seconds, clientProcesses: processes,
    heldShare: HELD_SHARE, loopDelayNote: "event-loop delays (server and client) include the 10 ms sampling interval: an idle loop reads ≈ 10 ms", largestStepHeld: largestHeld, largestStepTried: maxStep, largestStepAllMessages: largestComplete, openFilesLimit: { bench: ownFiles, server: openFilesLimit(pid) }, serverEnv: env,
    steps: rows, windows,
  })}`);
} finally {
  await Promise.all(pools.map(async (p) => {
    if (p.child.connected) await p.ask({ type: "close" }, "closed");
    await p.exited;
  }));
  await publisher?.close();
  server.child.kill("SIGTERM");
  await server.exited;
  await rm(server.dataDir, { recursive: true, force: true });
}
