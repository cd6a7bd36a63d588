import { readdir } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { boxError, partImage, type PartImage } from "../support/part-image.js";
import { startTestServer, type TestServer } from "../support/server-harness.js";
import { waitFor } from "../support/wait-for.js";

const QR = "IFC1;wo=WO123456;inst=IN-9;type=TX-100";

const pipeline = (over: Record<string, unknown> = {}) => ({
  pipeline_id: "inspect",
  name: "Inspection",
  version: "1.0.0",
  description: "resize → detect → filter",
  execution_mode: "direct_grpc",
  steps: [
    { step_id: "resize", service: "ResizeService", method: "Resize", parameters: { target_width: 1280, target_height: 720, resize_mode: "fit", maintain_aspect_ratio: true }, timeout_ms: 20_000, retry_count: 1 },
    { step_id: "detect", service: "AIDetectionService", method: "Detect", depends_on: ["resize"], parameters: { model_name: "reference", confidence_threshold: 0.1 }, timeout_ms: 20_000, retry_count: 1 },
    { step_id: "filter", service: "FilterService", method: "ApplyFilter", depends_on: ["detect"], parameters: { filter_type: "blur", parameters: { sigma: "1.5" } }, timeout_ms: 20_000, retry_count: 1 },
  ],
  error_handling: { strategy: "fail_fast", rollback_enabled: true, notification_on_failure: false },
  ...over,
});

interface Problem {
  status: number;
  type: string;
  validation_errors?: { field: string; message: string }[];
}

describe("image pipelines end to end (bundled services, PGlite, in-process bus)", () => {
  let ts: TestServer;
  let img: PartImage;
  const api = (p: string, init?: RequestInit) => fetch(`${ts.url}${p}`, init);
  const json = (method: string, body: unknown): RequestInit => ({ method, headers: { "content-type": "application/json" }, body: JSON.stringify(body) });

  beforeAll(async () => {
    ts = await startTestServer({ filesMaxBytes: 4 * 1024 * 1024, filesMaxCount: 2 });
    img = await partImage({ qr: { payload: QR, x: 1480, y: 280, moduleSize: 8 } });
  });
  afterAll(async () => {
    await ts?.stop();
  });

  it("refuses bad definitions with a 400 naming every failing field", async () => {
    const cases: [Record<string, unknown>, string[]][] = [
      [pipeline({ pipeline_id: "cyc", steps: [{ ...pipeline().steps[0], depends_on: ["filter"] }, pipeline().steps[1], pipeline().steps[2]] }), ["steps[0].depends_on"]],
      [pipeline({ pipeline_id: "svc", steps: [{ ...pipeline().steps[0], service: "WarpService" }] }), ["steps[0].service"]],
      [pipeline({ pipeline_id: "meth", steps: [{ ...pipeline().steps[0], method: "Rotate" }] }), ["steps[0].method"]],
      [pipeline({ pipeline_id: "par", steps: [pipeline().steps[0], { ...pipeline().steps[1], depends_on: ["resize"], parameters: { confidence_threshold: 1.5 } }] }), ["steps[1].parameters.confidence_threshold"]],
      [pipeline({ pipeline_id: "dep", steps: [{ ...pipeline().steps[0], depends_on: ["nowhere"] }] }), ["steps[0].depends_on[0]"]],
    ];
    for (const [body, fields] of cases) {
      const r = await api("/api/v1/pipelines", json("POST", body));
      expect(r.status, JSON.stringify(body)).toBe(400);
      expect(r.headers.get("content-type")).toContain("application/problem+json");
      const p = (await r.json()) as Problem;
      const got = (p.validation_errors ?? []).map((e) => e.field);
      for (const f of fields) expect(got.some((g) => g === f || g.startsWith(`${f}`)), `${f} in ${JSON.stringify(p.validation_errors)}`).toBe(true);
    }
    // Multipart to a JSON route: 415, not a parse of the parts.
    const form = new FormData();
    form.append("pipeline_id", "x");
    expect((await api("/api/v1/pipelines", { method: "POST", body: form })).status).toBe(415);
  });

  it("runs resize → detect → filter on a real part: exact detections, outputs downloadable, every step seen in order over the WebSocket", async () => {
    const created = await api("/api/v1/pipelines", json("POST", pipeline()));
    expect(created.status).toBe(201);
    const form = new FormData();
    form.append("pipeline_id", "inspect");
    form.append("priority", "high");
    form.append("input_files", new Blob([img.data], { type: "image/jpeg" }), "part.jpg");
    const accepted = await api("/api/v1/executions", { method: "POST", body: form });
    expect(accepted.status).toBe(202);
    const { execution_id: id } = (await accepted.json()) as { execution_id: string };

    const messages: Record<string, unknown>[] = [];
    const ws = new WebSocket(`${ts.url.replace("http", "ws")}/ws/execution/${id}`);
    ws.on("message", (d) => messages.push(JSON.parse(String(d)) as Record<string, unknown>));
    await waitFor(() => messages.some((m) => m.type === "completed" || m.type === "error"), { timeoutMs: 60_000, what: "the execution's final message" });
    ws.close();
    const final = messages.at(-1)!;
    expect(final.type, JSON.stringify(final)).toBe("completed");
    const seen = messages.filter((m) => m.type === "progress" && m.step).map((m) => `${String(m.step)}:${String(m.status)}`);
    expect(seen).toEqual(["resize:running", "resize:completed", "detect:running", "detect:completed", "filter:running", "filter:completed"]);

    const exec = (await (await api(`/api/v1/executions/${id}`)).json()) as {
      status: string; execution_mode: string; pipeline_version: string; processing_time_ms: number;
      steps: { step_id: string; status: string; attempts: number; detections?: { class_name: string; confidence: number; bbox: { x: number; y: number; width: number; height: number }; attributes?: Record<string, string> }[] }[];
      output_files: { file_id: string; filename: string; download_url: string }[];
    };
    expect(exec).toMatchObject({ status: "completed", execution_mode: "direct_grpc", pipeline_version: "1.0.0" });
    expect(exec.steps.map((s) => [s.step_id, s.status, s.attempts])).toEqual([["resize", "completed", 1], ["detect", "completed", 1], ["filter", "completed", 1]]);
    const detections = exec.steps.find((s) => s.step_id === "detect")!.detections!;
    // Detection ran on the 1280×720 resize: the ground truth scaled by 2/3.
    const scale = 1280 / 1920;
    const expected = img.truth.map((t) => ({ ...t, x: t.x * scale, y: t.y * scale, width: t.width * scale, height: t.height * scale }));
    expect(detections.map((d) => d.class_name).sort()).toEqual(expected.map((t) => t.className).sort());
    for (const t of expected) {
      const match = detections.find((d) => d.class_name === t.className && boxError(d.bbox, t) <= 6);
      expect(match, `${t.className} at ${t.x},${t.y}`).toBeDefined();
    }
    expect(detections.find((d) => d.class_name === "qr_code")?.attributes?.payload).toBe(QR);

    // resize and filter produced images; both are stored and downloadable at their sizes.
    expect(exec.output_files.map((f) => f.filename).sort()).toEqual(["filter-part.jpg", "resize-part.jpg"]);
    for (const f of exec.output_files) {
      const meta = (await (await api(`/api/v1/files/${f.file_id}`)).json()) as { width: number; height: number; size_bytes: number };
      expect([meta.width, meta.height]).toEqual([1280, 720]);
      const body = Buffer.from(await (await api(f.download_url)).arrayBuffer());
      expect(body.length).toBe(meta.size_bytes);
      expect(body.subarray(0, 2)).toEqual(Buffer.from([0xff, 0xd8]));
    }

    // A client that connects after completion gets the final state at once.
    const late: Record<string, unknown>[] = [];
    const ws2 = new WebSocket(`${ts.url.replace("http", "ws")}/ws/execution/${id}`);
    ws2.on("message", (d) => late.push(JSON.parse(String(d)) as Record<string, unknown>));
    await waitFor(() => late.some((m) => m.type === "completed"), { what: "the late client's completed message" });
    ws2.close();

    const metrics = (await (await api("/api/v1/pipelines/inspect/metrics")).json()) as { total_executions: number; steps: { step_id: string }[] };
    expect(metrics.total_executions).toBe(1);
    expect(metrics.steps.map((s) => s.step_id).sort()).toEqual(["detect", "filter", "resize"]);
  });

  it("lists the registered services with health and breaker state, and the components", async () => {
    const services = (await (await api("/api/v1/grpc-services")).json()) as { services: { service: string; status: string; breaker_state: string }[] };
    expect(services.services.map((s) => s.service).sort()).toEqual(["imageflow.v1.AIDetectionService", "imageflow.v1.FilterService", "imageflow.v1.ResizeService"]);
    for (const s of services.services) expect(s.breaker_state).toBe("closed");
    const components = (await (await api("/api/v1/components")).json()) as { components: { component_id: string }[] };
    expect(components.components.map((c) => c.component_id).sort()).toEqual(["ai_detection", "filter", "resize"]);
  });

  it("enforces upload limits at their edges and keeps nothing of a refused request", async () => {
    const upload = (files: { data: Uint8Array; type: string; name: string }[], field = "input_files") => {
      const form = new FormData();
      form.append("pipeline_id", "inspect");
      for (const f of files) form.append(field, new Blob([f.data], { type: f.type }), f.name);
      return api("/api/v1/executions", { method: "POST", body: form });
    };
    const max = 4 * 1024 * 1024;
    const big = Buffer.concat([img.data, Buffer.alloc(max - img.data.length + 1)]);
    const tooBig = await upload([{ data: big, type: "image/jpeg", name: "big.jpg" }]);
    expect(tooBig.status).toBe(413);
    expect(((await tooBig.json()) as Problem).type).toMatch(/file-too-large$/);
    const three = await upload([0, 1, 2].map((i) => ({ data: img.data, type: "image/jpeg", name: `p${i}.jpg` })));
    expect(three.status).toBe(413);
    const gif = await upload([{ data: Buffer.from("GIF89a"), type: "image/gif", name: "x.gif" }]);
    expect(gif.status).toBe(415);
    const notImage = await upload([{ data: Buffer.from("not a jpeg"), type: "image/jpeg", name: "x.jpg" }]);
    expect(notImage.status).toBe(400);
    const jsonBody = await api("/api/v1/executions", json("POST", { pipeline_id: "inspect" }));
    expect(jsonBody.status).toBe(415);
    const list = (await (await api("/api/v1/executions")).json()) as { total: number };
    expect(list.total).toBe(1);
    const files = await readdir(path.join(ts.dataDir, "files")).catch(() => []);
    // Only the first test's upload is stored: nothing of a refused request was kept.
    expect(files).toHaveLength(1);
    // At the edges: a file of exactly IFC_FILES_MAX_BYTES (a JPEG with trailing padding, still
    // readable), and exactly filesMaxCount files of an accepted type, are taken.
    const atMax = await upload([{ data: big.subarray(0, max), type: "image/jpeg", name: "max.jpg" }]);
    expect(atMax.status).toBe(202);
    const two = await upload([0, 1].map((i) => ({ data: img.data, type: "image/jpeg", name: `p${i}.jpg` })));
    expect(two.status).toBe(202);
  });
});
