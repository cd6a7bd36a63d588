/** Runs every benchmark in turn; each prints its table and writes bench/results/<name>.json. */
import { spawnSync } from "node:child_process";
import path from "node:path";

for (const [script, ...args] of [
  ["remux.ts", "60", "5"],
  ["ingest.ts", "20", "15"],
  ["upload.ts", "20"],
  ["decoder.ts", "10"],
  ["ai-latency.ts", "15", "1,4,8", "720,1080"],
  ["whep.ts", "12", "10", "10"],
  ["hls.ts", "20"],
] as const) {
  console.log(`\n=== ${script} ${args.join(" ")}`);
  const r = spawnSync(process.execPath, ["--import", "tsx", path.join(import.meta.dirname, script), ...args], { stdio: "inherit" });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
