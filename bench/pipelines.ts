/**
 * Pipeline executions end to end on this machine: a real server (PGlite, in-process bus, the
 * bundled Resize/AIDetection/Filter services as a child process), resize → detect → filter on
 * 1920×1080 JPEG parts with defects and a QR code.
 *  - latency: executions one at a time, POST /api/v1/executions → the `completed` message on
 *    /ws/execution/{id} (client view), and the server's processing_time_ms (first step start →
 *    last step end);
 *  - saturation: `burst` executions submitted at once; completed executions per second.
 *   npx tsx bench/pipelines.ts [sequential=30] [burst=60]   (--short: 5, 10)
 */
import WebSocket from "ws";
import { partImage } from "../test/support/part-image.js";
import { startTestServer } from "../test/support/server-harness.js";
import { machine, numArg, writeResults } from "./lib/results.js";
import { pct, round } from "./lib/stats.js";

const sequential = numArg(0, 30, 5);
const burst = numArg(1, 60, 10);
const m = machine();

const ts = await startTestServer({ pipelineMaxConcurrent: 4, pipelineQueueMax: 10_000, filesMaxBytes: 64 * 1024 * 1024 });
try {
  const pipeline = {
    pipeline_id: "bench", name: "bench", version: "1", execution_mode: "direct_grpc",
    steps: [
      { step_id: "resize", service: "ResizeService", method: "Resize", parameters: { target_width: 1280, target_height: 720, resize_mode: "fit" }, timeout_ms: 30_000 },
      { step_id: "detect", service: "AIDetectionService", method: "Detect", depends_on: ["resize"], parameters: { confidence_threshold: 0.1 }, timeout_ms: 30_000 },
      { step_id: "filter", service: "FilterService", method: "ApplyFilter", depends_on: ["detect"], parameters: { filter_type: "blur", parameters: { sigma: "1.5" } }, timeout_ms: 30_000 },
    ],
  };
  const created = await fetch(`${ts.url}/api/v1/pipelines`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(pipeline) });
  if (created.status !== 201) throw new Error(`pipeline: ${created.status} ${await created.text()}`);
  const img = await partImage({ qr: { payload: "IFC1;wo=BENCH", x: 1480, y: 280, moduleSize: 8 } });

  const submit = async (): Promise<string> => {
    const form = new FormData();
    form.append("pipeline_id", "bench");
    form.append("input_files", new Blob([img.data], { type: "image/jpeg" }), "part.jpg");
    const r = await fetch(`${ts.url}/api/v1/executions`, { method: "POST", body: form });
    if (r.status !== 202) throw new Error(`execution: ${r.status} ${await r.text()}`);
    return ((await r.json()) as { execution_id: string }).execution_id;
  };
  const completion = (id: string): Promise<string> =>
    new Promise((resolve, reject) => {
      const ws = new WebSocket(`${ts.url.replace("http", "ws")}/ws/execution/${id}`);
      ws.on("message", (d) => {
        const msg = JSON.parse(String(d)) as { type: string };
        if (msg.type === "completed" || msg.type === "error") {
          ws.close();
          resolve(msg.type);
        }
      });
      ws.on("error", reject);
    });
  const stepMs: Record<string, number[]> = {};
  const serverMs = async (id: string, keepSteps = false): Promise<number> => {
    const e = (await (await fetch(`${ts.url}/api/v1/executions/${id}`)).json()) as { processing_time_ms: number; steps: { step_id: string; duration_ms: number }[] };
    if (keepSteps) for (const st of e.steps) (stepMs[st.step_id] ??= []).push(st.duration_ms);
    return e.processing_time_ms;
  };

  // Warm-up: the first execution opens PGlite and starts the services' child.
  await completion(await submit());
  const e2e: number[] = [];
  const server: number[] = [];
  for (let i = 0; i < sequential; i++) {
    const t0 = performance.now();
    const id = await submit();
    const outcome = await completion(id);
    if (outcome !== "completed") throw new Error(`execution ${id} ended ${outcome}`);
    e2e.push(performance.now() - t0);
    server.push(await serverMs(id, true));
  }

  const t0 = performance.now();
  const ids = await Promise.all(Array.from({ length: burst }, () => submit()));
  const outcomes = await Promise.all(ids.map((id) => completion(id)));
  const burstS = (performance.now() - t0) / 1000;
  const burstServer = await Promise.all(ids.map((id) => serverMs(id)));

  const result = {
    input: { width: img.width, height: img.height, bytes: img.data.length, format: "jpeg" },
    pipeline: "resize 1280×720 → detect (QR + defects) → blur",
    latency: {
      executions: sequential,
      clientMs: { p50: round(pct(e2e, 50)), p95: round(pct(e2e, 95)) },
      serverProcessingMs: { p50: round(pct(server, 50)), p95: round(pct(server, 95)) },
      stepMs: Object.fromEntries(Object.entries(stepMs).map(([k, v]) => [k, { p50: round(pct(v, 50)), p95: round(pct(v, 95)) }])),
    },
    saturation: {
      executions: burst,
      maxConcurrent: 4,
      completed: outcomes.filter((o) => o === "completed").length,
      seconds: round(burstS, 2),
      executionsPerSecond: round(burst / burstS, 2),
      serverProcessingMs: { p50: round(pct(burstServer, 50)), p95: round(pct(burstServer, 95)) },
    },
  };
  console.table({
    "one at a time: POST → completed (ms)": { p50: result.latency.clientMs.p50, p95: result.latency.clientMs.p95 },
    "one at a time: server processing (ms)": { p50: result.latency.serverProcessingMs.p50, p95: result.latency.serverProcessingMs.p95 },
    ...Object.fromEntries(Object.entries(result.latency.stepMs).map(([k, v]) => [`  step ${k} (ms, incl. gRPC)`, v])),
    [`${burst} at once: server processing (ms)`]: { p50: result.saturation.serverProcessingMs.p50, p95: result.saturation.serverProcessingMs.p95 },
  });
  console.log(`saturation: ${result.saturation.completed}/${burst} completed in ${result.saturation.seconds} s = ${result.saturation.executionsPerSecond} executions/s`);
  console.log(await writeResults("pipelines", m, result));
} finally {
  await ts.stop();
}
