/**
 * What the control plane's auth costs on the REST API: requests/s and latency of
 * `GET /api/v1/streams` (autocannon, loopback), with the server in its own process:
 *  (a) "anonymous": no credentials, admitted as an anonymous client from loopback (the default
 *      IFC_AUTH_ANONYMOUS_NETWORKS);
 *  (b) "auth": anonymous access off (IFC_AUTH_ANONYMOUS_NETWORKS empty), every request with
 *      `Authorization: Bearer <access_token>` of `admin`, logged in with the first-start password
 *      from <IFC_DATA_DIR>/initial-admin-password. The script fails (never skips) when that
 *      login fails or when a request without the token is not refused: the figures would then
 *      not be those of an authenticated request.
 * Both servers run side by side with the REST rate limit off (IFC_REST_RATE_LIMIT_PER_MINUTE=0,
 * else the limiter would answer 429 to the benchmark) and three live streams each, so the
 * listing does real work. The streams are WHIP sessions that stay connected without sending
 * media (IFC_RTP_SILENCE_TIMEOUT_MS raised): no encoder competes for the two cores.
 * Rounds interleave the two modes and each connection count, so a load change on a shared
 * machine hits both alike; figures are medians over rounds.
 * autocannon runs in this process: its CPU is reported beside the server's, to tell which side
 * saturates. Server CPU per request is the figure least bent by other load on the machine.
 *   npx tsx bench/http-api.ts [seconds=10] [rounds=3] [connections=10,100] [--only=anonymous|auth]
 *   (--short: 3 s, 1 round)
 */
import { readFile, rm } from "node:fs/promises";
import path from "node:path";
import autocannon from "autocannon";
import { whipPublish, type WhipPublication } from "../test/helpers/whip-client.js";
import { spawnServer, type ServerProcess } from "../test/support/server-harness.js";
import { cpuMs } from "./lib/proc.js";
import { listArg, machine, numArg, pollFor, writeResults } from "./lib/results.js";
import { median, round } from "./lib/stats.js";

const seconds = numArg(0, 10, 3);
const rounds = numArg(1, 3, 1);
const connectionCounts = listArg(2, [10, 100]);
const STREAMS = 3;
const WARMUP_S = 2;
const ALL_MODES = ["anonymous", "auth"] as const;
type ModeName = (typeof ALL_MODES)[number];
const only = process.argv.find((a) => a.startsWith("--only="))?.slice("--only=".length);
if (only !== undefined && !ALL_MODES.includes(only as ModeName)) throw new Error(`--only must be one of ${ALL_MODES.join(", ")}, not "${only}"`);
const modes: ModeName[] = only ? [only as ModeName] : [...ALL_MODES];
const m = machine();

/** Figures shared by both modes: no limiter, no connection cap in reach, streams that stay. */
const COMMON_ENV = {
  IFC_REST_RATE_LIMIT_PER_MINUTE: "0",
  IFC_HTTP_MAX_CONNECTIONS_PER_CLIENT: String(Math.max(...connectionCounts) + 64),
  IFC_RTP_SILENCE_TIMEOUT_MS: "3600000",
  IFC_AI_ENABLED: "false",
};

interface Mode {
  name: ModeName;
  server: ServerProcess;
  headers: Record<string, string>;
  publishers: WhipPublication[];
}

/** Logs in as the first-start admin; throws with the server's answer when that is not possible. */
async function loginAdmin(server: ServerProcess): Promise<string> {
  const file = path.join(server.dataDir, "initial-admin-password");
  const password = await pollFor(`${file} (written on the first start by the auth module of issue 11)`, async () => (await readFile(file, "utf8").catch(() => undefined))?.trim(), 5000);
  const r = await fetch(`${server.url}/api/v1/auth/login`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ username: "admin", password }) });
  const body = await r.text();
  if (r.status !== 200) throw new Error(`POST /api/v1/auth/login as admin answered ${r.status}: ${body.slice(0, 300)}`);
  const token = (JSON.parse(body) as { access_token?: unknown }).access_token;
  if (typeof token !== "string" || token === "") throw new Error(`POST /api/v1/auth/login gave no access_token: ${body.slice(0, 300)}`);
  return token;
}

async function startMode(name: ModeName): Promise<Mode> {
  const server = await spawnServer(name === "auth" ? { ...COMMON_ENV, IFC_AUTH_ANONYMOUS_NETWORKS: "" } : COMMON_ENV);
  const mode: Mode = { name, server, headers: {}, publishers: [] };
  try {
    if (name === "auth") {
      mode.headers = { authorization: `Bearer ${await loginAdmin(server)}` };
      // Without the token the request must be refused, or (b) would measure anonymous access.
      const bare = await fetch(`${server.url}/api/v1/streams`);
      await bare.body?.cancel();
      if (bare.status !== 401) throw new Error(`GET /api/v1/streams without a token answered ${bare.status} with IFC_AUTH_ANONYMOUS_NETWORKS empty, not 401: auth is not enforced`);
    }
    for (let i = 0; i < STREAMS; i++) mode.publishers.push(await whipPublish(`${server.url}/whip/bench-${i}`, { video: true, audio: true, headers: mode.headers }));
    await pollFor(`${STREAMS} live streams listed (${name})`, async () => {
      const r = await fetch(`${server.url}/api/v1/streams`, { headers: mode.headers });
      if (r.status !== 200) throw new Error(`GET /api/v1/streams answered ${r.status} (${name}): ${(await r.text()).slice(0, 300)}`);
      const n = ((await r.json()) as { streams: unknown[] }).streams.length;
      return n === STREAMS ? n : undefined;
    }, 10_000);
    return mode;
  } catch (err) {
    await stopMode(mode);
    throw err;
  }
}

async function stopMode(mode: Mode): Promise<void> {
  await Promise.all(mode.publishers.map((p) => p.close()));
  mode.server.child.kill("SIGTERM");
  await mode.server.exited;
  await rm(mode.server.dataDir, { recursive: true, force: true });
}

interface Run {
  rps: number;
  meanMs: number;
  p50Ms: number;
  p99Ms: number;
  requests: number;
  errors: number;
  non2xx: number;
  serverCpuPct: number;
  /** Server CPU per answered request: the cost of a request, less sensitive to a shared machine's load than req/s. */
  serverCpuUsPerRequest: number;
  benchCpuPct: number;
}

async function measure(mode: Mode, connections: number, durationS: number): Promise<Run> {
  const pid = mode.server.child.pid as number;
  const cpu0 = cpuMs(pid);
  const own0 = process.cpuUsage();
  const t0 = performance.now();
  const r = await autocannon({ url: `${mode.server.url}/api/v1/streams`, connections, duration: durationS, headers: mode.headers });
  const wallMs = performance.now() - t0;
  const serverMs = cpuMs(pid) - cpu0;
  const own = process.cpuUsage(own0);
  return {
    rps: r.requests.average,
    meanMs: r.latency.mean,
    p50Ms: r.latency.p50,
    p99Ms: r.latency.p99,
    requests: r.requests.total,
    errors: r.errors,
    non2xx: r.non2xx,
    serverCpuPct: (serverMs / wallMs) * 100,
    serverCpuUsPerRequest: (serverMs * 1000) / Math.max(1, r.requests.total),
    benchCpuPct: ((own.user + own.system) / 1000 / wallMs) * 100,
  };
}

const started: Mode[] = [];
try {
  for (const name of modes) started.push(await startMode(name));
  // JIT warm-up of both servers (and autocannon), not recorded
  for (const mode of started) await measure(mode, Math.max(...connectionCounts), WARMUP_S);

  const runs = new Map<string, Run[]>();
  const key = (mode: ModeName, c: number): string => `${mode}/${c}`;
  for (let round_ = 0; round_ < rounds; round_++) {
    for (const c of connectionCounts) {
      for (const mode of round_ % 2 === 0 ? started : [...started].reverse()) {
        const run = await measure(mode, c, seconds);
        runs.set(key(mode.name, c), [...(runs.get(key(mode.name, c)) ?? []), run]);
      }
    }
  }

  const med = (rs: Run[], f: (r: Run) => number, digits = 1): number | null => round(median(rs.map(f)), digits);
  const rows = started.flatMap((mode) =>
    connectionCounts.map((c) => {
      const rs = runs.get(key(mode.name, c)) ?? [];
      return {
        "mode": mode.name,
        "connections": c,
        "req/s": med(rs, (r) => r.rps, 0),
        "mean ms": med(rs, (r) => r.meanMs, 2),
        "p50 ms": med(rs, (r) => r.p50Ms, 2),
        "p99 ms": med(rs, (r) => r.p99Ms, 2),
        "errors": rs.reduce((k, r) => k + r.errors, 0),
        "non-2xx": rs.reduce((k, r) => k + r.non2xx, 0),
        "server CPU %": med(rs, (r) => r.serverCpuPct, 0),
        "server CPU µs/req": med(rs, (r) => r.serverCpuUsPerRequest, 0),
        "autocannon CPU %": med(rs, (r) => r.benchCpuPct, 0),
      };
    }),
  );
  const row = (mode: ModeName, c: number): (typeof rows)[number] | undefined => rows.find((r) => r.mode === mode && r.connections === c);
  const ratio = (a: number | null | undefined, b: number | null | undefined): number | null => (a == null || b == null || b === 0 ? null : round(a / b, 3));
  const ratios = started.length === 2
    ? connectionCounts.map((c) => {
        const a = row("anonymous", c);
        const b = row("auth", c);
        return { "connections": c, "req/s auth/anonymous": ratio(b?.["req/s"], a?.["req/s"]), "mean auth/anonymous": ratio(b?.["mean ms"], a?.["mean ms"]), "p99 auth/anonymous": ratio(b?.["p99 ms"], a?.["p99 ms"]), "server CPU/req auth/anonymous": ratio(b?.["server CPU µs/req"], a?.["server CPU µs/req"]) };
      })
    : [];
  const bad = rows.filter((r) => r.errors > 0 || r["non-2xx"] > 0);

  console.log(`HTTP API bench: GET /api/v1/streams (${STREAMS} live streams), ${seconds} s per run, ${rounds} round(s), medians; autocannon in this process, servers in their own; loopback`);
  console.table(rows);
  if (ratios.length) console.table(ratios);
  else console.log(`only ${modes.join(", ")} measured (--only): no auth/anonymous ratio`);
  console.log("targets (design documents / issue 11): ≥ 10,000 req/s with mean ≤ 50 ms; aim p99 ≤ 20 ms");
  if (bad.length) console.log(`WARNING: errors or non-2xx answers in ${bad.map((r) => `${r.mode}/${r.connections}`).join(", ")}: those figures are not of successful requests`);
  console.log(`wrote ${await writeResults("http-api", m, {
    endpoint: "GET /api/v1/streams",
    liveStreams: STREAMS,
    secondsPerRun: seconds,
    rounds,
    modes,
    serverEnv: { both: COMMON_ENV, auth: { IFC_AUTH_ANONYMOUS_NETWORKS: "" } },
    results: rows,
    ratios,
    runs: Object.fromEntries(runs),
  })}`);
  if (bad.length) process.exitCode = 1;
} finally {
  for (const mode of started) await stopMode(mode);
}
