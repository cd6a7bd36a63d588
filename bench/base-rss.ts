/**
 * Base resident memory of the compiled server (issue 17): `node dist/main.js` on the embedded
 * defaults with IFC_AI_ENABLED=false, no stream, started N times (default 3); VmRSS is read a
 * few times 3 s after listening ("at start") and again 30 s after ("settled": V8's memory
 * reducer runs its idle full GCs about 16 s after start-up's last GC and returns the start-up
 * heap), and the median of the starts is reported for each; with idle CPU (ms/s) over 3–13 s
 * (start-up: the reducer's one-off GCs may fall in it) and 20–30 s (settled). Configurations: the
 * defaults (gRPC on) and gRPC off. Then what single modules cost when imported alone into a bare
 * node (RSS after the import minus a bare node's), to show where the base goes.
 * Build first: `npm run build:server`. Usage: tsx bench/base-rss.ts [starts] [--short]
 */
import { execFile } from "node:child_process";
import { existsSync } from "node:fs";
import { rm } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { spawnServer } from "../test/support/server-harness.js";
import { cpuMs, rssBytes } from "./lib/proc.js";
import { machine, numArg, sleep, writeResults } from "./lib/results.js";
import { median, round } from "./lib/stats.js";

const run = promisify(execFile);
const ROOT = path.resolve(import.meta.dirname, "..");
const STARTS = numArg(0, 3, 1);
/** Past start-up's lazy work and the first GC cycles. */
const SETTLE_MS = 3000;
/** Past V8's memory reducer, which runs ~16 s after start-up's last GC on an idle server (--trace-gc: "Mark-Compact (reduce)"). */
const SETTLED_MS = 30_000;
const SAMPLES = 5;
/**
 * Idle CPU, no stream, over two 10 s windows: from SETTLE_MS ("start-up", where V8's memory
 * reducer may run its one-off idle full GCs, 8–16 s after start-up's last GC) and from 20 s
 * ("settled", after them: what the server costs while it waits for publishers).
 */
const IDLE_WINDOW_MS = 10_000;
const SETTLED_IDLE_FROM_MS = 20_000;
const SAMPLE_INTERVAL_MS = 500;
const MiB = 1024 * 1024;

/** The median of samples that exist (every caller has some). */
const med = (xs: readonly number[]): number => median(xs) ?? NaN;

if (!existsSync(path.join(ROOT, "dist/main.js"))) throw new Error("dist/main.js is missing: run `npm run build:server` first");

const configs: { name: string; env: Record<string, string> }[] = [
  { name: "defaults (gRPC on)", env: { IFC_GRPC_ENABLED: "true", IFC_GRPC_HOST: "127.0.0.1", IFC_GRPC_PORT: "0" } },
  { name: "gRPC off", env: { IFC_GRPC_ENABLED: "false" } },
];

/** What one start gives: RSS in MiB (median of SAMPLES readings) and idle CPU in ms/s. */
interface StartFigures {
  atStart: number;
  settled: number;
  idleStartup: number;
  idleSettled: number;
}

/** One start: VmRSS after SETTLE_MS and after SETTLED_MS, idle CPU over the two idle windows. */
async function oneStart(env: Record<string, string>): Promise<StartFigures> {
  const server = await spawnServer({ IFC_AI_ENABLED: "false", ...env }, undefined, { compiled: true });
  const pid = server.child.pid as number;
  const t0 = performance.now();
  const sample = async (): Promise<number> => {
    const readings: number[] = [];
    for (let i = 0; i < SAMPLES; i++) {
      const rss = rssBytes(pid);
      if (rss === 0) throw new Error(`server exited while measured:\n${server.output()}`);
      readings.push(rss / MiB);
      await sleep(SAMPLE_INTERVAL_MS);
    }
    return med(readings);
  };
  const until = (ms: number): Promise<void> => sleep(Math.max(0, ms - (performance.now() - t0)));
  /** The server's CPU in ms/s over IDLE_WINDOW_MS from `fromMs` after listening. */
  const idleOver = async (fromMs: number): Promise<number> => {
    await until(fromMs);
    const c0 = cpuMs(pid);
    const w0 = performance.now();
    await until(fromMs + IDLE_WINDOW_MS);
    return (cpuMs(pid) - c0) / ((performance.now() - w0) / 1000);
  };
  try {
    // RSS is sampled inside the start-up idle window (reading /proc costs the server nothing).
    const [idleStartup, atStart] = await Promise.all([idleOver(SETTLE_MS), until(SETTLE_MS).then(sample)]);
    const idleSettled = await idleOver(SETTLED_IDLE_FROM_MS);
    await until(SETTLED_MS);
    return { atStart, settled: await sample(), idleStartup, idleSettled };
  } finally {
    server.child.kill("SIGTERM");
    await server.exited;
    await rm(server.dataDir, { recursive: true, force: true });
  }
}

/** RSS (MiB) of a bare node after importing `specifiers` (from the repository's root). */
async function importedRss(specifiers: readonly string[]): Promise<number> {
  const code = `${specifiers.map((s) => `await import(${JSON.stringify(s)});`).join("")}globalThis.gc?.();process.stdout.write(String(process.memoryUsage().rss));`;
  const { stdout } = await run(process.execPath, ["--expose-gc", "--input-type=module", "-e", code], { cwd: ROOT });
  return Number(stdout) / MiB;
}

const modules: { name: string; specifiers: string[] }[] = [
  { name: "werift", specifiers: ["werift"] },
  { name: "fastify", specifiers: ["fastify"] },
  { name: "@fastify/swagger + swagger-ui", specifiers: ["@fastify/swagger", "@fastify/swagger-ui"] },
  { name: "@grpc/grpc-js", specifiers: ["@grpc/grpc-js"] },
  { name: "prom-client", specifiers: ["prom-client"] },
  { name: "pino", specifiers: ["pino"] },
  { name: "dist/composition/rtc.js", specifiers: ["./dist/composition/rtc.js"] },
  { name: "dist/composition/grpc.js", specifiers: ["./dist/composition/grpc.js"] },
  { name: "dist/server.js (all start-up imports)", specifiers: ["./dist/server.js"] },
];

const m = machine();
console.log(`base-rss bench: node dist/main.js, IFC_AI_ENABLED=false, no stream; ${STARTS} start(s) per configuration, median of ${SAMPLES} readings ${SETTLE_MS} ms and ${SETTLED_MS} ms after listening`);
const rows: {
  config: string;
  startsMiB: number[];
  medianMiB: number;
  settledStartsMiB: number[];
  settledMedianMiB: number;
  idleStartupMsPerS: number[];
  idleSettledMsPerS: number[];
  idleSettledMedianMsPerS: number;
}[] = [];
for (const c of configs) {
  const starts: StartFigures[] = [];
  for (let i = 0; i < STARTS; i++) starts.push(await oneStart(c.env));
  const at = starts.map((x) => x.atStart);
  const settled = starts.map((x) => x.settled);
  rows.push({
    config: c.name,
    startsMiB: at.map((x) => round(x) ?? 0),
    medianMiB: round(med(at)) ?? 0,
    settledStartsMiB: settled.map((x) => round(x) ?? 0),
    settledMedianMiB: round(med(settled)) ?? 0,
    idleStartupMsPerS: starts.map((x) => round(x.idleStartup) ?? 0),
    idleSettledMsPerS: starts.map((x) => round(x.idleSettled) ?? 0),
    idleSettledMedianMsPerS: round(med(starts.map((x) => x.idleSettled))) ?? 0,
  });
}
console.table(
  rows.map((r) => ({
    config: r.config,
    [`at ${SETTLE_MS / 1000} s (MiB)`]: r.startsMiB.join(" / "),
    "median at start": r.medianMiB,
    [`settled, ${SETTLED_MS / 1000} s (MiB)`]: r.settledStartsMiB.join(" / "),
    "median settled": r.settledMedianMiB,
    [`idle CPU ms/s, ${SETTLE_MS / 1000}–${(SETTLE_MS + IDLE_WINDOW_MS) / 1000} s`]: r.idleStartupMsPerS.join(" / "),
    [`idle CPU ms/s, ${SETTLED_IDLE_FROM_MS / 1000}–${(SETTLED_IDLE_FROM_MS + IDLE_WINDOW_MS) / 1000} s`]: r.idleSettledMsPerS.join(" / "),
    "median idle settled": r.idleSettledMedianMsPerS,
  })),
);

const bare = med(await Promise.all([importedRss([]), importedRss([]), importedRss([])]));
const moduleRows: { module: string; addedMiB: number }[] = [];
for (const mod of modules) {
  // Sequential: each import runs alone on a shared 2-core machine.
  const readings = [await importedRss(mod.specifiers), await importedRss(mod.specifiers), await importedRss(mod.specifiers)];
  moduleRows.push({ module: mod.name, addedMiB: round(med(readings) - bare) ?? 0 });
}
console.log(`bare node: ${bare.toFixed(1)} MiB; RSS each import adds alone (median of 3, after a forced GC):`);
console.table(moduleRows.map((r) => ({ module: r.module, "added (MiB)": r.addedMiB })));

console.log(`wrote ${await writeResults("base-rss", m, { starts: STARTS, settleMs: SETTLE_MS, settledMs: SETTLED_MS, samples: SAMPLES, idleWindowMs: IDLE_WINDOW_MS, settledIdleFromMs: SETTLED_IDLE_FROM_MS, rows, bareNodeMiB: round(bare), modules: moduleRows })}`);
