/**
 * Reads a V8 .cpuprofile (node --cpu-prof) and splits its self time into the stages of the
 * ingest path, by the script each sampled function lives in. Self time, not inclusive: every
 * sample counts once, so the stages add up to the whole.
 */
import { readFileSync } from "node:fs";
import { readFile } from "node:fs/promises";
import { fileURLToPath } from "node:url";

export interface CallFrame {
  functionName: string;
  url: string;
  lineNumber: number;
  /** For a bundled package (werift ships one index.mjs): the source file the line came from. */
  source?: string;
}
export interface ProfileNode {
  id: number;
  callFrame: CallFrame;
  children?: number[];
}
export interface CpuProfile {
  nodes: ProfileNode[];
  startTime: number;
  endTime: number;
  samples: number[];
  timeDeltas: number[];
}

/** Stage of a sampled function, first match wins (order matters: specific before general). */
const STAGES: [string, (f: CallFrame) => boolean][] = [
  ["GC", (f) => f.functionName === "(garbage collector)"],
  ["idle", (f) => f.functionName === "(idle)"],
  ["native / runtime (program)", (f) => f.functionName === "(program)"],
  ["werift SRTP/SRTCP", (f) => /rtp\/src\/srtp/.test(f.source ?? "")],
  ["werift DTLS", (f) => /dtls\/src/.test(f.source ?? "")],
  ["werift ICE/STUN (socket receive)", (f) => /ice(-server)?\/src/.test(f.source ?? "")],
  ["werift RTP/RTCP parse", (f) => /rtp\/src\/(rtp|rtcp)/.test(f.source ?? "")],
  ["werift bit helpers (common)", (f) => /common\/src/.test(f.source ?? "")],
  ["werift receiver (NACK/stats/extensions)", (f) => /^src\/media/.test(f.source ?? "")],
  ["werift transport / peer connection", (f) => /^src\//.test(f.source ?? "")],
  ["werift other", (f) => /werift/i.test(f.url)],
  ["rx-js / events (werift deps)", (f) => /node_modules\/(rx\.mini|@shinyoshiaki|event-target|eventemitter)/i.test(f.url)],
  ["UDP receive (node:dgram)", (f) => /node:dgram|node:internal\/dgram/.test(f.url)],
  ["crypto (node:crypto)", (f) => /node:(internal\/)?crypto/.test(f.url)],
  ["ingest: reorder, depacketize, clocks", (f) => /src\/(ingest|media)\//.test(f.url)],
  ["hub, stream buffer, readers", (f) => /src\/core\//.test(f.url)],
  ["recorder: fMP4 build, segmenting", (f) => /src\/recorder\//.test(f.url)],
  ["store writes (adapters)", (f) => /src\/adapters\//.test(f.url)],
  ["distributor (WHEP/HLS/WS)", (f) => /src\/distributor\//.test(f.url)],
  ["control plane, metrics", (f) => /src\/control\/|prom-client|fastify|find-my-way|avvio/.test(f.url)],
  ["logging (pino)", (f) => /pino|sonic-boom|thread-stream/.test(f.url)],
  ["rtc glue (src/rtc)", (f) => /src\/rtc\//.test(f.url)],
  ["other project code", (f) => /\/src\//.test(f.url)],
  ["fs / streams / timers (node:)", (f) => /^node:/.test(f.url)],
  ["other", () => true],
];

/** Per bundle file: the line numbers (0-based) where each `// <source path>` section begins. */
const bundleSections = new Map<string, { line: number; source: string }[]>();

function sourceOf(url: string, line: number): string | undefined {
  if (!/node_modules\/werift\/lib\/index\.mjs$/.test(url)) return undefined;
  let sections = bundleSections.get(url);
  if (!sections) {
    sections = [];
    try {
      const lines = readFileSync(fileURLToPath(url), "utf8").split("\n");
      for (const [i, l] of lines.entries()) {
        const m = /^\/\/ (\S+\.ts)$/.exec(l);
        if (m?.[1]) sections.push({ line: i, source: m[1].replace(/^\.\.\//, "") });
      }
    } catch {
      // not readable: no sections
    }
    bundleSections.set(url, sections);
  }
  let found: string | undefined;
  for (const s of sections) {
    if (s.line > line) break;
    found = s.source;
  }
  return found;
}

export interface StageRow {
  stage: string;
  ms: number;
  share: number;
}

export interface ProfileSummary {
  wallMs: number;
  sampledMs: number;
  stages: StageRow[];
  topFunctions: { fn: string; ms: number }[];
  /** Inclusive time (the function and everything it called) of the heaviest werift and project entry points. */
  topInclusive: { fn: string; ms: number }[];
}

export async function summarizeProfile(file: string, top = 25): Promise<ProfileSummary> {
  const p = JSON.parse(await readFile(file, "utf8")) as CpuProfile;
  for (const n of p.nodes) {
    const source = n.callFrame.url.startsWith("file://") ? sourceOf(n.callFrame.url, n.callFrame.lineNumber) : undefined;
    if (source) n.callFrame.source = source;
  }
  const byId = new Map(p.nodes.map((n) => [n.id, n.callFrame]));
  const selfUs = new Map<number, number>();
  for (let i = 0; i < p.samples.length; i++) {
    const id = p.samples[i] as number;
    selfUs.set(id, (selfUs.get(id) ?? 0) + (p.timeDeltas[i] ?? 0));
  }
  const stageUs = new Map<string, number>();
  const fnUs = new Map<string, number>();
  let total = 0;
  for (const [id, us] of selfUs) {
    const f = byId.get(id);
    if (!f) continue;
    const stage = (STAGES.find(([, test]) => test(f)) as [string, unknown])[0];
    stageUs.set(stage, (stageUs.get(stage) ?? 0) + us);
    if (stage !== "idle") total += us;
    fnUs.set(label(f), (fnUs.get(label(f)) ?? 0) + us);
  }
  // Inclusive time: a function's own samples plus its callees', counted once per stack
  // (recursion does not count twice).
  const parent = new Map<number, number>();
  for (const n of p.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  const inclUs = new Map<string, number>();
  for (const [id, us] of selfUs) {
    const seen = new Set<string>();
    for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) {
      const f = byId.get(at);
      if (!f || !/werift|\/src\//.test(f.url)) continue;
      const key = label(f);
      if (seen.has(key)) continue;
      seen.add(key);
      inclUs.set(key, (inclUs.get(key) ?? 0) + us);
    }
  }
  const stages = [...stageUs]
    .filter(([s]) => s !== "idle")
    .sort((a, b) => b[1] - a[1])
    .map(([stage, us]) => ({ stage, ms: Math.round(us / 1000), share: Math.round((us / total) * 1000) / 10 }));
  const topFunctions = [...fnUs]
    .filter(([k]) => !k.startsWith("(idle)"))
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([fn, us]) => ({ fn, ms: Math.round(us / 1000) }));
  const topInclusive = [...inclUs]
    .sort((a, b) => b[1] - a[1])
    .slice(0, top)
    .map(([fn, us]) => ({ fn, ms: Math.round(us / 1000) }));
  return { wallMs: Math.round((p.endTime - p.startTime) / 1000), sampledMs: Math.round(total / 1000), stages, topFunctions, topInclusive };
}

function label(f: CallFrame): string {
  const where = f.source ?? f.url.replace(/^.*node_modules\//, "").replace(/^file:\/\/.*?\/src\//, "src/");
  return `${f.functionName || "(anonymous)"} ${where}:${f.lineNumber + 1}`;
}
