/**
 * Long tasks on the event loop, from a V8 .cpuprofile's sample timeline (node --cpu-prof with a
 * short --cpu-prof-interval). A task is a run of samples with no "(idle)" between them; a run
 * longer than `minMs` is reported with where its samples were (the first project or package
 * frame under the root, and the leaf), so a stall gets a culprit rather than only a size.
 *   npx tsx bench/lib/long-tasks.ts <file.cpuprofile> [minMs=10]
 */
import { readFileSync } from "node:fs";
import type { CallFrame, CpuProfile, ProfileNode } from "./cpuprofile.js";

export interface LongTask {
  /** Start, ms since the profile started. */
  atMs: number;
  ms: number;
  /**
   * Of `ms`, time in sample gaps over 4× the median interval: the thread was not running (the
   * machine's other work, or a stop-the-world pause the sampler could not interrupt).
   */
  gapMs: number;
  /** Share of the run's time per culprit (the outermost named frame below the root, or the leaf's V8 bucket), largest first. */
  culprits: [string, number][];
}

const short = (f: CallFrame): string => {
  const file = f.url.replace(/^.*\/(node_modules\/)/, "$1").replace(/^.*\/(dist|src)\//, "$1/").replace(/^file:\/\//, "");
  return `${f.functionName || "(anonymous)"} ${file}:${f.lineNumber + 1}`;
};

export function longTasks(profile: CpuProfile, minMs: number): LongTask[] {
  const byId = new Map(profile.nodes.map((n) => [n.id, n]));
  const parent = new Map<number, number>();
  for (const n of profile.nodes) for (const c of n.children ?? []) parent.set(c, n.id);
  // The culprit of a sample: V8's own buckets as they are, else the chain from the root, named
  // by the deepest frame that is project code (dist/, src/) with the leaf appended.
  const culpritOf = new Map<number, string>();
  const culprit = (id: number): string => {
    const have = culpritOf.get(id);
    if (have !== undefined) return have;
    const leaf = byId.get(id) as ProfileNode;
    let name: string;
    if (leaf.callFrame.functionName.startsWith("(")) name = leaf.callFrame.functionName;
    else {
      const chain: CallFrame[] = [];
      for (let at: number | undefined = id; at !== undefined; at = parent.get(at)) chain.push((byId.get(at) as ProfileNode).callFrame);
      const own = chain.find((f) => /\/(dist|src)\//.test(f.url) && !/node_modules/.test(f.url));
      name = own ? `${short(own)} > ${short(leaf.callFrame)}` : short(leaf.callFrame);
    }
    culpritOf.set(id, name);
    return name;
  };
  const idle = new Set(profile.nodes.filter((n) => n.callFrame.functionName === "(idle)").map((n) => n.id));
  const out: LongTask[] = [];
  let t = profile.startTime;
  let runStart = -1;
  let runEnd = 0;
  let parts = new Map<string, number>();
  let gap = 0;
  const sorted = [...profile.timeDeltas].sort((a, b) => a - b);
  const interval = sorted[sorted.length >> 1] ?? 1000;
  const close = (): void => {
    const ms = (runEnd - runStart) / 1000;
    if (runStart >= 0 && ms >= minMs) {
      const total = [...parts.values()].reduce((a, b) => a + b, 0);
      const culprits = [...parts.entries()].sort((a, b) => b[1] - a[1]).slice(0, 4).map(([k, v]): [string, number] => [k, Math.round((v / total) * 100) / 100]);
      out.push({ atMs: Math.round((runStart - profile.startTime) / 1000), ms: Math.round(ms * 10) / 10, gapMs: Math.round(gap / 100) / 10, culprits });
    }
    runStart = -1;
    gap = 0;
    parts = new Map();
  };
  for (let i = 0; i < profile.samples.length; i++) {
    const dt = profile.timeDeltas[i] ?? 0;
    const prev = t;
    t += dt;
    const id = profile.samples[i] as number;
    if (idle.has(id)) {
      close();
      continue;
    }
    if (runStart < 0) runStart = prev;
    runEnd = t;
    if (dt > 4 * interval) gap += dt;
    const c = culprit(id);
    parts.set(c, (parts.get(c) ?? 0) + dt);
  }
  close();
  return out;
}

if (import.meta.url === `file://${process.argv[1]}`) {
  const file = process.argv[2];
  if (!file) throw new Error("usage: long-tasks.ts <file.cpuprofile> [minMs]");
  const tasks = longTasks(JSON.parse(readFileSync(file, "utf8")) as CpuProfile, Number(process.argv[3] ?? 10));
  for (const task of tasks) {
    console.log(`${task.atMs} ms: ${task.ms} ms (${task.gapMs} ms in sample gaps)`);
    for (const [c, share] of task.culprits) console.log(`    ${Math.round(share * 100)}% ${c}`);
  }
}
