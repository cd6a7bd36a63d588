import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { migrate } from "../../src/adapters/db/migrate.js";
import { ALL_MIGRATIONS } from "../../src/adapters/db/migrations/index.js";
import { PgDatabase } from "../../src/adapters/db/pg-database.js";
import { formatProductInfo } from "../../src/extractor/product-info.js";
import { EVENT_SCHEMA_VERSION, VIDEO_ANALYSIS_TOPIC } from "../../src/ports/event-bus.js";
import { publishTestStream } from "../helpers/publish-test-stream.js";
import { sharedPostgresDatabase } from "../support/postgres-server.js";
import { qrVideo } from "../support/qr-video.js";
import { startTestServer, type TestServer } from "../support/server-harness.js";
import { waitFor, waitForValue } from "../support/wait-for.js";
import type { VideoSearchHit } from "../../src/products/trace-service.js";

/**
 * Traceability end to end: a published stream showing a product's QR code → the AI feed reads it →
 * the recording is linked to the product in the master (PostgreSQL, seeded with SQL: the product
 * module is built apart) → its trace lists the recording and videos/search returns a span that
 * plays as MP4. Anonymous clients here hold viewer permissions; writes use the admin's token.
 */
const PRODUCT = { work_order: "WO123456", instruction: "INST789", product_type: "TYPE-ABC", machine_number: "MACH001", production_date: "2026-11-23", monthly_sequence: "42" };
const T = (s: string) => `2026-11-20T${s}Z`;

type Hit = VideoSearchHit;
interface HitPage {
  items: Hit[];
  next_cursor: string | null;
  total: number;
}
interface Entry {
  kind: string;
  id: string;
  at: string;
  url: string;
  [k: string]: unknown;
}

let ts: TestServer;
let db: PgDatabase;
let dropDb: () => Promise<void>;
let dir: string;
let admin: string;
let recordingId = "";

const api = (p: string, init: RequestInit = {}) => fetch(`${ts.url}${p}`, init);
const asAdmin = (method: string, p: string, body?: unknown) =>
  api(p, { method, headers: { authorization: `Bearer ${admin}`, ...(body !== undefined ? { "content-type": "application/json" } : {}) }, ...(body !== undefined ? { body: JSON.stringify(body) } : {}) });
const search = async (q: string): Promise<HitPage> => {
  const r = await api(`/api/v1/videos/search?${q}`);
  expect(r.status, `${q}: ${r.status}`).toBe(200);
  return (await r.json()) as HitPage;
};
const trace = async (id: string): Promise<Entry[]> => ((await (await api(`/api/v1/products/${id}/trace?limit=500`)).json()) as { items: Entry[] }).items;

beforeAll(async () => {
  const shared = await sharedPostgresDatabase();
  dropDb = shared.drop;
  db = new PgDatabase({ url: shared.url });
  await migrate(db, ALL_MIGRATIONS);
  await db.query(
    `INSERT INTO products (product_id, work_order_id, instruction_id, product_type, machine_number, production_date, monthly_sequence) VALUES
     ('pq', 'WO123456', 'INST789', 'TYPE-ABC', 'MACH001', '2026-11-23', 42),
     ('pa', 'WOA1', 'IA', 'TB', 'M2', '2026-11-01', 1),
     ('pb', 'WOA2', 'IB', 'TB', 'M3', '2026-11-02', 2)`,
  );
  await db.query("INSERT INTO inspection_targets (target_id, name) VALUES ('t1', 'Target')");
  await db.query(
    `INSERT INTO inspection_sessions (session_id, target_id, product_id, status, overall_result, started_at, completed_at) VALUES
     ('sa', 't1', 'pa', 'completed', 'OK', '${T("09:00:00")}', '${T("09:01:00")}'),
     ('sb', 't1', 'pb', 'completed', 'NG', '${T("09:00:00")}', '${T("09:01:00")}')`,
  );

  dir = await mkdtemp(path.join(tmpdir(), "ifc-trace-"));
  const video = await qrVideo(dir, formatProductInfo(PRODUCT), { width: 1280, height: 720, fps: 30, seconds: 4, x: 480, y: 200, scale: 8 });
  ts = await startTestServer({ databaseUrl: shared.url, aiEnabled: true, aiMaxPreset: "high", authAnonymousPermissions: ["product:search", "recording:view", "stream:view"] });
  const login = await api("/api/v1/auth/login", {
    method: "POST", headers: { "content-type": "application/json" },
    body: JSON.stringify({ username: "admin", password: (await readFile(path.join(ts.dataDir, "initial-admin-password"), "utf8")).trim() }),
  });
  admin = ((await login.json()) as { access_token: string }).access_token;

  const pub = await publishTestStream(`${ts.url}/whip/qrcam`, { width: 1280, height: 720, fps: 30, gopSeconds: 1, durationSeconds: 6, audio: false, input: video.file, headers: { authorization: `Bearer ${admin}` } });
  await pub.done;
  await pub.stop();
  await ts.server.recorder.flush();
  // The link is written within a second of the last sighting.
  recordingId = await waitForValue(async () => (await trace("pq")).find((e) => e.kind === "recording" && e.source === "link")?.id, { timeoutMs: 15_000, what: "the QR product's recording link" });
}, 120_000);

afterAll(async () => {
  await ts?.stop();
  await db?.close();
  await dropDb?.();
  if (dir) await rm(dir, { recursive: true, force: true });
});

describe("QR code seen live → product link → trace and video search", () => {
  it("lists the recording in the product's trace with the span the code was seen, after its production", async () => {
    const entries = await trace("pq");
    expect(entries[0]).toMatchObject({ kind: "production", id: "pq", at: "2026-11-23T00:00:00.000Z" });
    const rec = entries.find((e) => e.id === recordingId)!;
    expect(rec).toMatchObject({ kind: "recording", stream: "qrcam", source: "link" });
    const first = Date.parse(String(rec.first_seen_at));
    const last = Date.parse(String(rec.last_seen_at));
    expect(last).toBeGreaterThan(first); // several frames, one row
    expect(Date.now() - first).toBeLessThan(120_000);
    expect(rec.at).toBe(rec.first_seen_at);
    const rows = await db.query("SELECT * FROM product_links WHERE product_id = 'pq'");
    expect(rows.rows).toHaveLength(1);
  });

  it("finds the span by work order and plays it as MP4", async () => {
    const page = await search("work_order_id=WO123456");
    expect(page.total).toBe(1);
    const hit = page.items[0]!;
    expect(hit).toMatchObject({ product_id: "pq", work_order_id: "WO123456", stream: "qrcam", recording_id: recordingId });
    expect(hit.play_url).toMatch(/^\/api\/v1\/recordings\/qrcam\/play\?start=[^&]+&duration=\d+$/);
    const played = await api(hit.play_url);
    expect(played.status).toBe(200);
    expect(played.headers.get("content-type")).toBe("video/mp4");
    expect(played.headers.get("x-ifc-recording")).toBe(recordingId);
    expect((await played.arrayBuffer()).byteLength).toBeGreaterThan(1000);
  });

  it("links from analysis events on the bus too; an unknown product is counted, not linked", async () => {
    const event = (wo: string, at: string) => ({
      topic: VIDEO_ANALYSIS_TOPIC, key: "buscam",
      value: { schema_version: EVENT_SCHEMA_VERSION, event_type: "analysis_completed", stream_id: "buscam", video_id: "recZ", product_info: { work_order: wo }, frame: { captured_at: at } },
    });
    for (const at of [T("12:00:00"), T("12:00:02"), T("11:59:59")]) ts.server.bus.publish(event("WOA1", at));
    ts.server.bus.publish(event("WO-UNKNOWN", T("12:00:00")));
    const hit = await waitForValue(async () => (await search("work_order_id=WOA1")).items.find((h) => h.recording_id === "recZ"), { timeoutMs: 10_000, what: "the bus sighting's link" });
    expect(hit).toMatchObject({ stream: "buscam", from: "2026-11-20T11:59:59.000Z", to: "2026-11-20T12:00:02.000Z", play_url: "/api/v1/recordings/buscam/play?start=2026-11-20T11%3A59%3A59.000Z&duration=3" });
    await waitFor(async () => /ifc_trace_unknown_products_total [1-9]/.test(await (await asAdmin("GET", "/metrics")).text()), { timeoutMs: 10_000, what: "the unknown product counted" });
    expect((await db.query("SELECT 1 FROM product_links WHERE ref_id = 'buscam/recZ'")).rows).toHaveLength(1);
  });
});

describe("explicit links and permissions", () => {
  it("an anonymous viewer reads trace and details but may not link (401: credentials would help); the admin links, widens and unlinks", async () => {
    const body = { kind: "recording", ref_id: "cam1/recX", first_seen_at: T("10:00:00"), last_seen_at: T("10:00:04") };
    expect((await api("/api/v1/products/pa/links", { method: "POST", headers: { "content-type": "application/json" }, body: JSON.stringify(body) })).status).toBe(401);
    const made = await asAdmin("POST", "/api/v1/products/pa/links", body);
    expect(made.status).toBe(201);
    expect(await made.json()).toEqual({ product_id: "pa", kind: "recording", ref_id: "cam1/recX", stream: "cam1", first_seen_at: "2026-11-20T10:00:00.000Z", last_seen_at: "2026-11-20T10:00:04.000Z" });
    const wider = await asAdmin("POST", "/api/v1/products/pa/links", { ...body, first_seen_at: T("10:00:02"), last_seen_at: T("10:00:09") });
    expect(await wider.json()).toMatchObject({ first_seen_at: "2026-11-20T10:00:00.000Z", last_seen_at: "2026-11-20T10:00:09.000Z" });
    expect((await asAdmin("POST", "/api/v1/products/pb/links", { kind: "recording", ref_id: "cam2/recY", first_seen_at: T("10:05:00"), last_seen_at: T("10:05:00.300") })).status).toBe(201);
    expect((await asAdmin("POST", "/api/v1/products/pb/links", { kind: "execution", ref_id: "exec-1", first_seen_at: T("10:06:00") })).status).toBe(201);

    for (const [b, status] of [
      [{ kind: "recording", ref_id: "no-slash" }, 400],
      [{ kind: "file", ref_id: "a/b" }, 400],
      [{ kind: "tape", ref_id: "x" }, 400],
      [{ ...body, last_seen_at: T("09:00:00") }, 400],
      [{ ...body, first_seen_at: "yesterday" }, 400],
    ] as const) {
      const r = await asAdmin("POST", "/api/v1/products/pa/links", b);
      expect(r.status, JSON.stringify(b)).toBe(status);
      expect(r.headers.get("content-type")).toContain("application/problem+json");
    }
    expect((await asAdmin("POST", "/api/v1/products/nope/links", body)).status).toBe(404);

    const details = await api("/api/v1/products/pb/details");
    expect(details.status).toBe(200);
    const d = (await details.json()) as { product: { product_id: string }; inspection_history: { items: { session_id: string }[]; total: number }; related_files: { recordings: Entry[] }; trace_summary: { kinds: Record<string, { count: number }> } };
    expect(d.product.product_id).toBe("pb");
    expect(d.inspection_history).toMatchObject({ total: 1, items: [{ session_id: "sb", overall_result: "NG" }] });
    expect(d.related_files.recordings.map((e) => e.id)).toEqual(["recY"]);
    expect(d.trace_summary.kinds).toMatchObject({ production: { count: 1 }, recording: { count: 1 }, execution: { count: 1 }, inspection_session: { count: 1 } });
    expect((await api("/api/v1/products/nope/details")).status).toBe(404);
    expect((await api("/api/v1/products/nope/trace")).status).toBe(404);

    const tmp = await asAdmin("POST", "/api/v1/products/pa/links", { kind: "file", ref_id: "f-gone" });
    expect(tmp.status).toBe(201);
    expect((await api("/api/v1/products/pa/links?kind=file&ref_id=f-gone", { method: "DELETE" })).status).toBe(401);
    expect((await asAdmin("DELETE", "/api/v1/products/pa/links?kind=file&ref_id=f-gone")).status).toBe(204);
    expect((await asAdmin("DELETE", "/api/v1/products/pa/links?kind=file&ref_id=f-gone")).status).toBe(404);
  });
});

describe("GET /api/v1/videos/search: filters and paging edges", () => {
  const ids = async (q: string) => (await search(q)).items.map((h) => `${h.product_id}@${h.recording_id}`);

  it("filters by each product field, time span and latest inspection result", async () => {
    expect(await ids("work_order_prefix=WOA")).toEqual(["pa@recX", "pb@recY", "pa@recZ"]);
    expect(await ids("work_order_id=WOA2")).toEqual(["pb@recY"]);
    expect(await ids("instruction_id=IA")).toEqual(["pa@recX", "pa@recZ"]);
    expect(await ids("product_type=TB&machine_number=M3")).toEqual(["pb@recY"]);
    expect(await ids("machine_number=MACH001")).toEqual([`pq@${recordingId}`]);
    expect(await ids(`from=${T("10:00:09")}&to=${T("10:05:00")}`)).toEqual(["pa@recX", "pb@recY"]);
    expect(await ids(`work_order_prefix=WOA&from=${T("10:00:09.001")}&to=${T("10:04:59.999")}`)).toEqual([]);
    expect(await ids("inspection_result=OK")).toEqual(["pa@recX", "pa@recZ"]);
    expect(await ids("inspection_result=NG")).toEqual(["pb@recY"]);
    // a span shorter than a second plays for one
    expect((await search("work_order_id=WOA2")).items[0]?.play_url).toMatch(/&duration=1$/);
  });

  it("pages: limit 1 walks every hit once, the last page has no next_cursor; empty; invalid cursor and limits → 400", async () => {
    const walked: string[] = [];
    let cursor: string | null = null;
    do {
      const page: HitPage = await search(`work_order_prefix=WOA&limit=1${cursor ? `&cursor=${cursor}` : ""}`);
      expect(page.total).toBe(3);
      expect(page.items.length).toBe(1);
      walked.push(page.items[0]!.recording_id);
      cursor = page.next_cursor;
    } while (cursor);
    expect(walked).toEqual(["recX", "recY", "recZ"]);
    expect(await search("work_order_id=NOTHING")).toEqual({ items: [], next_cursor: null, total: 0 });
    expect((await search("work_order_prefix=WOA&limit=3")).next_cursor).toBeNull();
    expect((await search("work_order_prefix=WOA&limit=500")).items).toHaveLength(3);
    for (const q of ["cursor=xyz!", `cursor=${Buffer.from("[1]").toString("base64url")}`, "limit=0", "limit=501", "from=soon", `from=${T("11:00:00")}&to=${T("10:00:00")}`, "inspection_result=MAYBE", "colour=red"]) {
      const r = await api(`/api/v1/videos/search?${q}`);
      expect(r.status, q).toBe(400);
      expect(r.headers.get("content-type")).toContain("application/problem+json");
    }
  });
});
