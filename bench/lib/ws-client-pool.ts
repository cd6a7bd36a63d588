/**
 * A process holding many WebSocket clients of a push feed for bench/ws-clients.ts, driven over
 * IPC (child_process.fork). Clients are spread over several such processes so that the clients'
 * own event loop is not what the benchmark measures; each process reports its CPU and its
 * event-loop delay so the results show which side saturated.
 * Per client it tracks, inside a measurement window, the longest gap between two `stream_stats`
 * messages (window edges count as messages), and the delay from the server's `at` stamp to
 * receipt (same machine, same clock).
 */
import { monitorEventLoopDelay } from "node:perf_hooks";
import WebSocket from "ws";

export type PoolCommand =
  | { type: "open"; url: string; count: number; concurrency: number }
  | { type: "window-start" }
  | { type: "window-end"; intervalMs: number }
  | { type: "close" };

export type PoolReply =
  | { type: "opened"; ok: number; failed: number; errors: string[]; ms: number }
  | { type: "window-started" }
  | { type: "window"; report: WindowReport }
  | { type: "closed" };

export interface WindowReport {
  /** Clients open at the window's start. */
  clients: number;
  /** Of those, clients with no gap ≥ missGapMs and still open at the end. */
  onTime: number;
  /** Of those, clients that also got all but at most one of the window's expected messages
   *  (a server whose timers run late keeps gaps under 2 s yet sends fewer than 1 per interval). */
  complete: number;
  /** Of those, clients closed during the window. */
  closed: number;
  /** stream_stats messages received in the window, all clients. */
  messages: number;
  /** Longest gap of any client (ms). */
  maxGapMs: number;
  /** Server stamp → receipt (ms), every message of the window. */
  delaysMs: number[];
  /** This process's CPU over the window (ms) and the window's length (ms). */
  cpuMs: number;
  wallMs: number;
  /** This process's event-loop delay over the window (ms). */
  loopDelayP99Ms: number;
  loopDelayMaxMs: number;
}

interface Client {
  ws: WebSocket;
  open: boolean;
  lastAt: number;
  maxGap: number;
  count: number;
  closedInWindow: boolean;
}

const MISS_GAP_MS = 2000;
const clients: Client[] = [];
let windowStart: { at: number; cpu: NodeJS.CpuUsage; members: Client[] } | undefined;
let messages = 0;
let delays: number[] = [];
const loop = monitorEventLoopDelay({ resolution: 10 });
loop.enable();

function connect(url: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const ws = new WebSocket(url, { perMessageDeflate: false });
    const c: Client = { ws, open: false, lastAt: 0, maxGap: 0, count: 0, closedInWindow: false };
    ws.on("message", (data: Buffer) => {
      const now = Date.now();
      const msg = JSON.parse(data.toString("utf8")) as { type?: string; at?: string };
      if (msg.type !== "stream_stats" || !windowStart) return;
      messages++;
      c.count++;
      c.maxGap = Math.max(c.maxGap, now - c.lastAt);
      c.lastAt = now;
      if (msg.at) delays.push(now - Date.parse(msg.at));
    });
    ws.once("open", () => {
      c.open = true;
      clients.push(c);
      resolve();
    });
    ws.on("close", () => {
      c.open = false;
      if (windowStart) c.closedInWindow = true;
    });
    ws.once("unexpected-response", (_req, res) => reject(new Error(`HTTP ${res.statusCode} on upgrade`)));
    ws.on("error", (err) => reject(err)); // after open a no-op; "close" follows
  });
}

async function open(url: string, count: number, concurrency: number): Promise<PoolReply> {
  const t0 = performance.now();
  let ok = 0;
  let failed = 0;
  const errors = new Set<string>();
  let next = 0;
  const lane = async (): Promise<void> => {
    while (next < count) {
      next++;
      try {
        await connect(url);
        ok++;
      } catch (err) {
        failed++;
        if (errors.size < 5) errors.add(err instanceof Error ? err.message : String(err));
      }
    }
  };
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, lane));
  return { type: "opened", ok, failed, errors: [...errors], ms: performance.now() - t0 };
}

function endWindow(intervalMs: number): WindowReport {
  const w = windowStart as NonNullable<typeof windowStart>;
  const now = Date.now();
  const expected = Math.floor((now - w.at) / intervalMs) - 1;
  let onTime = 0;
  let complete = 0;
  let closed = 0;
  let maxGapMs = 0;
  for (const c of w.members) {
    const gap = Math.max(c.maxGap, now - c.lastAt);
    maxGapMs = Math.max(maxGapMs, gap);
    if (c.closedInWindow) closed++;
    else if (gap < MISS_GAP_MS) {
      onTime++;
      if (c.count >= expected) complete++;
    }
  }
  const cpu = process.cpuUsage(w.cpu);
  const report: WindowReport = {
    clients: w.members.length,
    onTime,
    complete,
    closed,
    messages,
    maxGapMs,
    delaysMs: delays,
    cpuMs: (cpu.user + cpu.system) / 1000,
    wallMs: now - w.at,
    loopDelayP99Ms: loop.percentile(99) / 1e6,
    loopDelayMaxMs: loop.max / 1e6,
  };
  windowStart = undefined;
  return report;
}

const reply = (r: PoolReply): void => {
  process.send?.(r);
};

process.on("message", (cmd: PoolCommand) => {
  switch (cmd.type) {
    case "open":
      void open(cmd.url, cmd.count, cmd.concurrency).then(reply);
      break;
    case "window-start": {
      const at = Date.now();
      const members = clients.filter((c) => c.open);
      for (const c of members) {
        c.lastAt = at;
        c.maxGap = 0;
        c.count = 0;
        c.closedInWindow = false;
      }
      messages = 0;
      delays = [];
      loop.reset();
      windowStart = { at, cpu: process.cpuUsage(), members };
      reply({ type: "window-started" });
      break;
    }
    case "window-end":
      reply({ type: "window", report: endWindow(cmd.intervalMs) });
      break;
    case "close":
      for (const c of clients) c.ws.terminate();
      // exit once the reply is out: the sockets' close handshakes are not waited for
      process.send?.({ type: "closed" } satisfies PoolReply, () => process.exit(0));
      break;
  }
});
