/**
 * Runs every benchmark in turn; each prints its table and writes bench/results/<name>.json.
 *   npx tsx bench/run-all.ts [--short]   (--short: each script's short mode, results *.short.json)
 * http-api.ts logs in through the auth endpoints of issue 11: without them it fails (it never
 * skips its authenticated half); `npx tsx bench/http-api.ts --only=anonymous` measures the rest.
 */
import { spawnSync } from "node:child_process";
import path from "node:path";

const short = process.argv.includes("--short");
// Full runs with each script's defaults; short runs with its short defaults.
for (const script of ["remux.ts", "ingest.ts", "upload.ts", "decoder.ts", "ai-latency.ts", "whep.ts", "whep-chromium.ts", "hls.ts", "hls-player.ts", "ws-clients.ts", "http-api.ts", "rtsp.ts", "rtsp-read.ts", "kafka-bus.ts", "cluster-events.ts", "cluster-publish.ts", "image-services.ts", "pipelines.ts", "frame-api.ts", "cache.ts", "products.ts", "products-http.ts", "werift-event.ts"]) {
  console.log(`\n=== ${script}${short ? " --short" : ""}`);
  const r = spawnSync(process.execPath, ["--import", "tsx", path.join(import.meta.dirname, script), ...(short ? ["--short"] : [])], { stdio: "inherit" });
  if (r.status !== 0) process.exit(r.status ?? 1);
}
