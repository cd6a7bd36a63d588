/** Runs every benchmark in turn; each prints its table and writes bench/results/<name>.json. */
import { spawnSync } from "node:child_process";
import path from "node:path";

for (const [script, ...args] of [["remux.ts", "60", "5"], ["ingest.ts", "20", "15"], ["upload.ts", "20"]] as const) {
  console.log(`\n=== ${script} ${args.join(" ")}`);
  const r = spawnSync(process.execPath, ["--import", "tsx", path.join(import.meta.dirname, script), ...args], { stdio: "inherit" });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
