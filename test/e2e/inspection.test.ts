/* eslint-disable @typescript-eslint/no-explicit-any -- JSON answers: the assertions themselves check their shape */
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import WebSocket from "ws";
import { partImage } from "../support/part-image.js";
import { startTestServer, type TestServer } from "../support/server-harness.js";
import { waitFor } from "../support/wait-for.js";

const SPOT = { kind: "dark_spot" as const, cx: 640, cy: 360, radius: 24 };

const detectPipeline = {
  pipeline_id: "insp-detect",
  name: "Inspection detect",
  version: "1.0.0",
  steps: [{ step_id: "detect", service: "AIDetectionService", method: "Detect", parameters: { model_name: "reference", confidence_threshold: 0.1 }, timeout_ms: 20_000, retry_count: 1 }],
};
const resizeOnly = {
  pipeline_id: "insp-resize",
  name: "No detection",
  version: "1.0.0",
  steps: [{ step_id: "resize", service: "ResizeService", method: "Resize", parameters: { target_width: 320, target_height: 240 }, timeout_ms: 20_000, retry_count: 1 }],
};

describe("inspection API end to end (bundled detection service, PGlite, auth on)", () => {
  let ts: TestServer;
  const tokens: Record<string, string> = {};
  const call = async (who: string, method: string, path: string, body?: unknown) => {
    const r = await fetch(`${ts.url}${path}`, {
      method,
      headers: { authorization: `Bearer ${tokens[who]!}`, ...(body !== undefined ? { "content-type": "application/json", origin: ts.url } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await r.text();
    return { status: r.status, type: r.headers.get("content-type") ?? "", body: (text ? JSON.parse(text) : undefined) as Record<string, any> };
  };

  beforeAll(async () => {
    ts = await startTestServer({ authAnonymousNetworks: [], qualityAlertNgRate: 25, qualityUpdateIntervalMs: 300, loginMaxAttemptsPerClient: 1000 });
    for (const [name, role] of [["ada", "admin"], ["otto", "operator"], ["vera", "viewer"]] as const) {
      await ts.server.auth.userStore.add(name, role, `${name}-password-1234`);
      const r = await fetch(`${ts.url}/api/v1/auth/login`, { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify({ username: name, password: `${name}-password-1234` }) });
      tokens[role] = ((await r.json()) as { access_token: string }).access_token;
    }
  }, 60_000);
  afterAll(async () => {
    await ts?.stop();
  });

  it("runs an AI inspection to NG with the drawn defect's box, records a person's verification, and statistics and the quality feed follow, with one alert", async () => {
    // Master data (admin) and the pipelines.
    expect((await call("admin", "POST", "/api/v1/pipelines", detectPipeline)).status).toBe(201);
    expect((await call("admin", "POST", "/api/v1/pipelines", resizeOnly)).status).toBe(201);
    const target = await call("admin", "POST", "/api/v1/inspection/targets", { target_id: "tgt-1", name: "Housing", product_type: "TX-100" });
    expect(target.status).toBe(201);
    expect(target.body).toMatchObject({ target_id: "tgt-1", revision: 1 });
    const item = await call("admin", "POST", "/api/v1/inspection/targets/tgt-1/items", { item_id: "item-surface", name: "Surface", criteria: { confidence_threshold: 0.3 } });
    expect(item.status).toBe(201);
    expect((await call("viewer", "POST", "/api/v1/inspection/targets", { name: "x" })).status).toBe(403);

    // Binding checks the pipeline: missing or without a detection step → the documents' 422.
    const missing = await call("admin", "PUT", "/api/v1/inspection/items/item-surface/pipeline", { pipeline_id: "nowhere" });
    expect(missing.status).toBe(422);
    expect(missing.type).toContain("application/problem+json");
    expect(missing.body).toEqual({
      type: "urn:imageflowcanvas:problem:inspection-error", title: "Inspection error", status: 422, detail: "pipeline nowhere does not exist",
      instance: "/api/v1/inspection/items/item-surface/pipeline", reason: "pipeline-not-found",
      inspection_context: { session_id: null, item_id: "item-surface", pipeline_id: "nowhere" },
    });
    const bound = await call("admin", "PUT", "/api/v1/inspection/items/item-surface/pipeline", { pipeline_id: "insp-detect", pipeline_version: "1.0.0" });
    expect(bound.body).toEqual({ item_id: "item-surface", pipeline_id: "insp-detect", pipeline_version: "1.0.0" });
    expect((await call("viewer", "GET", "/api/v1/inspection/items/item-surface")).body.revision).toBe(2);

    // The quality feed, watched from the start.
    const messages: Record<string, any>[] = [];
    const ws = new WebSocket(`${ts.url.replace("http", "ws")}/ws/quality-metrics`, { headers: { authorization: `Bearer ${tokens.viewer!}` } });
    ws.on("message", (d) => messages.push(JSON.parse(String(d)) as Record<string, any>));
    await waitFor(() => messages.some((m) => m.type === "quality_update"), { what: "the first quality_update" });

    // 3 OK judgements by people: the NG rate is 0.
    const session = async (): Promise<string> => {
      const s = await call("operator", "POST", "/api/v1/inspection/sessions", { target_id: "tgt-1", inspector: "otto" });
      expect(s.status).toBe(201);
      return s.body.session_id as string;
    };
    for (let i = 0; i < 3; i++) {
      const id = await session();
      expect((await call("operator", "POST", `/api/v1/inspection/sessions/${id}/human-verification`, { item_id: "item-surface", result: "OK", comment: "fine" })).status).toBe(201);
    }

    // The AI inspection of a part with one drawn dark spot.
    const img = await partImage({ width: 1280, height: 720, defects: [SPOT] });
    const form = new FormData();
    form.append("file", new Blob([img.data], { type: "image/jpeg" }), "part.jpg");
    const up = await fetch(`${ts.url}/api/v1/files`, { method: "POST", body: form, headers: { authorization: `Bearer ${tokens.operator!}`, origin: ts.url } });
    expect(up.status).toBe(201);
    const fileId = ((await up.json()) as { files: { file_id: string }[] }).files[0]!.file_id;
    const sAi = await session();
    const bad = await call("operator", "POST", `/api/v1/inspection/sessions/${sAi}/ai-inspection`, { item_id: "item-surface", file_id: fileId, parameters: { confidence_threshold: 1.5 } });
    expect(bad.status).toBe(400);
    expect(bad.body.validation_errors).toEqual([expect.objectContaining({ field: "body.parameters.confidence_threshold" })]);
    expect((await call("viewer", "POST", `/api/v1/inspection/sessions/${sAi}/ai-inspection`, { item_id: "item-surface", file_id: fileId })).status).toBe(403);
    const noDetect = await call("operator", "POST", `/api/v1/inspection/sessions/${sAi}/ai-inspection`, { item_id: "item-surface", file_id: fileId, pipeline_id: "insp-resize" });
    expect(noDetect.status).toBe(422);
    expect(noDetect.body.inspection_context).toEqual({ session_id: sAi, item_id: "item-surface", pipeline_id: "insp-resize" });
    const gone = await call("operator", "POST", `/api/v1/inspection/sessions/${sAi}/ai-inspection`, { item_id: "item-surface", file_id: fileId, pipeline_id: "nowhere" });
    expect(gone.body).toEqual({
      type: "urn:imageflowcanvas:problem:inspection-error", title: "Inspection error", status: 422, detail: "pipeline nowhere does not exist",
      instance: `/api/v1/inspection/sessions/${sAi}/ai-inspection`, reason: "pipeline-not-found",
      inspection_context: { session_id: sAi, item_id: "item-surface", pipeline_id: "nowhere" },
    });

    const ai = await call("operator", "POST", `/api/v1/inspection/sessions/${sAi}/ai-inspection`, { session_id: sAi, item_id: "item-surface", image_file_path: `/api/v1/files/${fileId}/download`, parameters: { confidence_threshold: 0.3 } });
    expect(ai.status, JSON.stringify(ai.body)).toBe(200);
    expect(ai.body.ai_result.overall_result).toBe("NG");
    expect(ai.body.pipeline_version).toBe("1.0.0");
    expect(ai.body.processing_time_ms).toBeGreaterThan(0);
    const spot = (ai.body.ai_result.detections as { class_name: string; bbox: { x: number; y: number; width: number; height: number } }[]).find((d) => d.class_name === "dark_spot");
    expect(spot, JSON.stringify(ai.body.ai_result)).toBeDefined();
    const truth = img.truth[0]!;
    // The box overlaps the drawn spot, and closely.
    expect(spot!.bbox.x < truth.x + truth.width && truth.x < spot!.bbox.x + spot!.bbox.width && spot!.bbox.y < truth.y + truth.height && truth.y < spot!.bbox.y + spot!.bbox.height).toBe(true);
    expect(Math.abs(spot!.bbox.x + spot!.bbox.width / 2 - SPOT.cx)).toBeLessThan(6);
    expect(Math.abs(spot!.bbox.y + spot!.bbox.height / 2 - SPOT.cy)).toBeLessThan(6);
    await waitFor(() => messages.some((m) => m.type === "quality_update" && m.metrics.current_ng_count === 1), { what: "the update after the AI's NG" });
    // 1 NG in 4 is 25 %: at the threshold, not above it.
    expect(messages.filter((m) => m.type === "quality_alert")).toHaveLength(0);

    // A person confirms the AI (same item: still 1 of 4), then two more NGs cross the threshold once.
    const human = await call("operator", "POST", `/api/v1/inspection/sessions/${sAi}/human-verification`, { item_id: "item-surface", result: "NG", verifies_result_id: ai.body.result_id, defect_types: ["dark_spot"], comment: "confirmed" });
    expect(human.status).toBe(201);
    expect(human.body).toMatchObject({ source: "human", result: "NG", verifies_result_id: ai.body.result_id, created_by: "otto" });
    for (const cls of ["scratch", "scratch"]) {
      const id = await session();
      await call("operator", "POST", `/api/v1/inspection/sessions/${id}/human-verification`, { item_id: "item-surface", result: "NG", defect_types: [cls], comment: "" });
    }
    await waitFor(() => messages.some((m) => m.type === "quality_update" && m.metrics.current_ng_count === 3), { what: "the update after the third NG" });
    const alerts = messages.filter((m) => m.type === "quality_alert");
    expect(alerts).toEqual([{ type: "quality_alert", severity: "high", message: "NG rate exceeded threshold (>25%)", data: { current_ng_rate: 40, threshold: 25, time_window: "last_hour" } }]);
    expect(messages.at(-1)!.metrics).toEqual({ hourly_ok_rate: 50, current_ng_count: 3, active_inspectors: 1 });
    ws.close();

    const listed = await call("viewer", "GET", "/api/v1/inspection/quality/alerts");
    expect(listed.body).toMatchObject({ total: 1, next_cursor: null, items: [{ severity: "high", data: { current_ng_rate: 40 } }] });
    const realtime = await call("viewer", "GET", "/api/v1/inspection/quality/realtime");
    expect(realtime.body).toMatchObject({ current_ng_count: 3, total: 6, active_inspectors: 1, hourly_ok_rate: 50, ng_rate: 50, threshold: 25 });

    // The session: both judgements kept; completing sets NG once, twice is a 409.
    const got = await call("viewer", "GET", `/api/v1/inspection/sessions/${sAi}`);
    expect((got.body.results as { source: string }[]).map((r) => r.source)).toEqual(["ai", "human"]);
    const done = await call("operator", "POST", `/api/v1/inspection/sessions/${sAi}/complete`);
    expect(done.body).toMatchObject({ status: "completed", overall_result: "NG" });
    expect((await call("operator", "POST", `/api/v1/inspection/sessions/${sAi}/complete`)).status).toBe(409);
    expect((await call("operator", "POST", `/api/v1/inspection/sessions/${sAi}/ai-inspection`, { item_id: "item-surface", file_id: fileId })).status).toBe(409);

    // Statistics: final results only (the confirmed AI NG counts once).
    const today = new Date().toISOString().slice(0, 10);
    const stats = await call("viewer", "GET", `/api/v1/inspection/statistics?start_date=${today}&end_date=${today}`);
    expect(stats.body).toEqual({
      summary: { total_inspections: 6, ok_count: 3, ng_count: 3, ok_rate: 50 },
      daily_trends: [{ date: today, total: 6, ok: 3, ng: 3 }],
      defect_analysis: { scratch: 2, dark_spot: 1 },
    });
    const tooLong = await call("viewer", "GET", "/api/v1/inspection/statistics?start_date=2025-01-01&end_date=2026-01-02");
    expect(tooLong.status).toBe(400);
    expect((await call("viewer", "GET", "/api/v1/inspection/statistics?start_date=2025-01-01&end_date=2026-01-01")).status).toBe(200);
    const trends = await call("viewer", "GET", "/api/v1/inspection/quality/trends");
    expect(trends.body.buckets).toHaveLength(24);
    expect((trends.body.buckets as { total: number }[]).reduce((s, b) => s + b.total, 0)).toBe(6);

    // Conversion of the execution the AI inspection ran.
    const conv = await call("operator", "POST", "/api/v1/inspection/pipeline-results/convert", { execution_id: ai.body.execution_id, item_id: "item-surface" });
    expect(conv.body.ai_result).toEqual(ai.body.ai_result);
  }, 120_000);

  it("master data CRUD over HTTP: paged lists, a foreign cursor is a 400, soft delete, sessions with a device's own id, raw-result conversion", async () => {
    for (let i = 0; i < 3; i++) expect((await call("admin", "POST", "/api/v1/inspection/targets", { target_id: `crud-${i}`, name: `crud ${i}` })).status).toBe(201);
    const first = await call("viewer", "GET", "/api/v1/inspection/targets?limit=2");
    expect(first.body.items).toHaveLength(2);
    const rest = await call("viewer", "GET", `/api/v1/inspection/targets?limit=2&cursor=${first.body.next_cursor as string}`);
    expect([...first.body.items, ...rest.body.items].map((t: { target_id: string }) => t.target_id)).toHaveLength(first.body.total as number);
    expect((await call("viewer", "GET", "/api/v1/inspection/targets?cursor=Zm9v")).status).toBe(400);
    expect((await call("viewer", "GET", "/api/v1/inspection/targets?limit=501")).status).toBe(400);
    const put = await call("admin", "PUT", "/api/v1/inspection/targets/crud-0", { name: "renamed" });
    expect(put.body).toMatchObject({ name: "renamed", revision: 2 });
    expect((await call("admin", "POST", "/api/v1/inspection/targets/crud-0/items", { item_id: "crud-item", name: "Edge", order_index: 2 })).status).toBe(201);
    expect((await call("viewer", "GET", "/api/v1/inspection/targets/crud-0/items")).body).toMatchObject({ total: 1, next_cursor: null, items: [{ item_id: "crud-item" }] });
    expect((await call("admin", "DELETE", "/api/v1/inspection/items/crud-item")).status).toBe(204);
    expect((await call("viewer", "GET", "/api/v1/inspection/items/crud-item")).status).toBe(404);
    expect((await call("admin", "DELETE", "/api/v1/inspection/targets/crud-1")).status).toBe(204);
    expect((await call("admin", "DELETE", "/api/v1/inspection/targets/crud-1")).status).toBe(404);

    const own = "0b7d3c1e-2f4a-4c6e-8a9b-0c1d2e3f4a5b";
    expect((await call("viewer", "POST", "/api/v1/inspection/sessions", { target_id: "crud-0" })).status).toBe(403);
    const made = await call("operator", "POST", "/api/v1/inspection/sessions", { session_id: own, target_id: "crud-0", device_id: "tablet-1" });
    expect(made.body).toMatchObject({ session_id: own, device_id: "tablet-1", inspector: "otto", status: "in_progress" });
    expect((await call("operator", "POST", "/api/v1/inspection/sessions", { session_id: own, target_id: "crud-0" })).status).toBe(409);
    expect((await call("operator", "POST", "/api/v1/inspection/sessions", { session_id: "not-a-uuid", target_id: "crud-0" })).status).toBe(400);
    expect((await call("operator", "PUT", `/api/v1/inspection/sessions/${own}`, { notes: "line 3", metadata: { shift: "A" } })).body).toMatchObject({ notes: "line 3", metadata: { shift: "A" }, revision: 2 });

    const conv = await call("operator", "POST", "/api/v1/inspection/pipeline-results/convert", {
      session_id: own, confidence_threshold: 0.8,
      result: { detections: [{ class_name: "scratch", confidence: 0.85, bbox: { x: 1, y: 2, width: 3, height: 4 } }], processing_time_ms: 12, pipeline_version: "2.0" },
    });
    expect(conv.body).toMatchObject({ ai_result: { overall_result: "NG", confidence: 0.85 }, processing_time_ms: 12, pipeline_version: "2.0", session_id: own });
    expect((await call("operator", "POST", "/api/v1/inspection/pipeline-results/convert", {})).body.validation_errors).toEqual([expect.objectContaining({ field: "execution_id" })]);
    expect((await call("operator", "POST", `/api/v1/inspection/sessions/${own}/complete`)).body.overall_result).toBe("NG");
  }, 60_000);
});
