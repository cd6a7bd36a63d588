import { randomUUID } from "node:crypto";
import { readFile } from "node:fs/promises";
import path from "node:path";
import { credentials, Metadata, type ServiceError } from "@grpc/grpc-js";
import pg from "pg";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { SyncServiceClient, type MasterDataChunk } from "../../src/generated/imageflow/v1/sync.js";
import { sharedPostgresDatabase } from "../support/postgres-server.js";
import { startTestServer, type TestServer } from "../support/server-harness.js";

type Json = Record<string, any>; // eslint-disable-line @typescript-eslint/no-explicit-any

const PAGE = 4;
const now = () => new Date().toISOString();
const change = (entity: string, id: string, data: Json, base: number | null = null, op: "upsert" | "delete" = "upsert") =>
  ({ change_id: randomUUID(), entity, op, id, base_revision: base, data, changed_at: now() });

describe("offline devices: two devices, one item, the documented conflict rule (real server, PostgreSQL, gRPC)", () => {
  let ts: TestServer;
  let db: { url: string; drop(): Promise<void> };
  let sql: pg.Client;
  let admin: string;

  async function call(method: string, p: string, body?: unknown, token?: string): Promise<{ status: number; json: Json; headers: Headers }> {
    const res = await fetch(ts.url + p, {
      method,
      headers: { ...(body !== undefined ? { "content-type": "application/json" } : {}), ...(token ? { authorization: `Bearer ${token}` } : {}) },
      ...(body !== undefined ? { body: JSON.stringify(body) } : {}),
    });
    const text = await res.text();
    return { status: res.status, json: text ? (JSON.parse(text) as Json) : {}, headers: res.headers };
  }

  async function downloadAll(token: string): Promise<{ first: Json; products: Json[] }> {
    const first = await call("GET", "/api/v1/inspection/sync/download", undefined, token);
    expect(first.status).toBe(200);
    const products = [...(first.json.products as Json[])];
    let cursor = first.json.next_cursor as string | null;
    while (cursor) {
      const next = await call("GET", `/api/v1/inspection/sync/download?cursor=${encodeURIComponent(cursor)}`, undefined, token);
      expect(next.status).toBe(200);
      expect(next.json.inspection_items).toBeUndefined();
      expect(next.json.server_time).toBe(first.json.server_time);
      expect((next.json.products as Json[]).length).toBeLessThanOrEqual(PAGE);
      products.push(...(next.json.products as Json[]));
      cursor = next.json.next_cursor as string | null;
    }
    return { first: first.json, products };
  }

  beforeAll(async () => {
    db = await sharedPostgresDatabase();
    ts = await startTestServer({
      databaseUrl: db.url, authAnonymousNetworks: [], grpcEnabled: true, grpcRateLimitPerMinute: 0, syncMaxChanges: PAGE,
      loginMaxFailuresPerUser: 3, loginMaxAttemptsPerClient: 1000,
    });
    const pw = (await readFile(path.join(ts.dataDir, "initial-admin-password"), "utf8")).trim();
    const login = await call("POST", "/api/v1/auth/login", { username: "admin", password: pw });
    expect(login.status).toBe(200);
    admin = login.json.access_token as string;
    sql = new pg.Client({ connectionString: db.url });
    await sql.connect();
    // Master data as an operator keeps it: through the same flow (rows new to the server, no base).
    const seed = [
      change("inspection_target", "T1", { name: "Housing", product_type: "TX-100" }),
      change("inspection_item", "I1", { target_id: "T1", name: "Scratch check", order_index: 1, criteria: { max_scratch_mm: 2 } }),
      change("inspection_rule", "R1", { product_type: "TX-100", category: "scratch", threshold: 0.8 }),
    ];
    const products = Array.from({ length: 9 }, (_, i) => change("product", `P${i + 1}`, { work_order_id: `WO${100 + i}`, product_type: "TX-100", production_date: "2026-11-01" }));
    for (const batch of [seed, products.slice(0, 4), products.slice(4, 8), products.slice(8)]) {
      const r = await call("POST", "/api/v1/inspection/sync/upload", { changes: batch }, admin);
      expect(r.status, JSON.stringify(r.json)).toBe(200);
      expect(r.json.applied).toHaveLength(batch.length);
    }
  });
  afterAll(async () => {
    await sql?.end();
    await ts?.stop();
    await db?.drop();
  });

  const devices: { id: string; secret: string; token: string }[] = [];

  it("registers two devices (secret once, hash kept), logs both in with exactly the device grants", async () => {
    for (const name of ["line-1 tablet", "line-2 tablet"]) {
      const r = await call("POST", "/api/v1/tauri/devices/register", { name, platform: "windows", config: { camera: "usb0" } }, admin);
      expect(r.status).toBe(201);
      expect(r.json.secret).toMatch(/^ifcds_[A-Za-z0-9_-]{43}$/);
      expect(r.json.registered_by).toBe("admin");
      devices.push({ id: r.json.device_id as string, secret: r.json.secret as string, token: "" });
    }
    const stored = await sql.query("SELECT secret_hash FROM devices WHERE device_id = $1", [devices[0]!.id]);
    expect(stored.rows[0].secret_hash).toMatch(/^[0-9a-f]{64}$/);
    expect(stored.rows[0].secret_hash).not.toContain(devices[0]!.secret);
    const listed = await call("GET", "/api/v1/tauri/devices?limit=1", undefined, admin);
    expect(listed.json.total).toBe(2);
    expect(listed.json.items[0]).not.toHaveProperty("secret");
    expect(listed.json.next_cursor).not.toBeNull();
    for (const d of devices) {
      const r = await call("POST", "/api/v1/tauri/auth/login", { device_id: d.id, secret: d.secret });
      expect(r.status).toBe(200);
      expect(r.json.permissions).toEqual(["inspection:create", "inspection:view", "product:search"]);
      d.token = r.json.access_token as string;
    }
  });

  it("a device token cannot register devices, list conflicts, or read another caller's config", async () => {
    const [a] = devices;
    expect((await call("POST", "/api/v1/tauri/devices/register", { name: "rogue" }, a!.token)).status).toBe(403);
    expect((await call("GET", "/api/v1/inspection/sync/conflicts", undefined, a!.token)).status).toBe(403);
    const notDevice = await call("GET", "/api/v1/tauri/config", undefined, admin);
    expect(notDevice.status).toBe(404);
    expect(notDevice.json.type).toContain("not-a-device");
    // A device token can never carry more than the device grants, whatever it claims.
    const { token } = await ts.server.auth.tokens.signAccess(`device:${a!.id}`, "admin", ["system:admin", "inspection:view"]);
    expect((await call("POST", "/api/v1/tauri/devices/register", { name: "rogue" }, token)).status).toBe(403);
    expect((await call("GET", "/api/v1/tauri/config", undefined, token)).status).toBe(200);
    expect((await call("GET", "/api/v1/inspection/sync/download")).status).toBe(401);
  });

  it("GET/PUT config: the device's own, optimistic on config_revision (a stale write is 409)", async () => {
    const [a] = devices;
    const got = await call("GET", "/api/v1/tauri/config", undefined, a!.token);
    expect(got.json).toMatchObject({ device_id: a!.id, config: { camera: "usb0" }, config_revision: 1 });
    const put = await call("PUT", "/api/v1/tauri/config", { config: { camera: "usb1" }, config_revision: 1 }, a!.token);
    expect(put.status).toBe(200);
    expect(put.json.config_revision).toBe(2);
    const stale = await call("PUT", "/api/v1/tauri/config", { config: { camera: "usb2" }, config_revision: 1 }, a!.token);
    expect(stale.status).toBe(409);
    expect(stale.json.config_revision).toBe(2);
    expect((await call("GET", "/api/v1/tauri/config", undefined, a!.token)).json.config).toEqual({ camera: "usb1" });
  });

  it("both devices download master data: targets, items, rules whole, products in pages of IFC_SYNC_MAX_CHANGES", async () => {
    for (const d of devices) {
      const { first, products } = await downloadAll(d.token);
      expect(first.inspection_targets.map((t: Json) => t.target_id)).toEqual(["T1"]);
      expect(first.inspection_items).toEqual([expect.objectContaining({ item_id: "I1", revision: 1, criteria: { max_scratch_mm: 2 } })]);
      expect(first.inspection_rules).toHaveLength(1);
      expect(first.total_products).toBe(9);
      expect(products.map((p) => p.product_id)).toEqual(["P1", "P2", "P3", "P4", "P5", "P6", "P7", "P8", "P9"]);
    }
    expect((await call("GET", "/api/v1/inspection/sync/download?cursor=not-a-cursor", undefined, devices[0]!.token)).status).toBe(400);
  });

  it("the same item changed on both devices: the first applies (r+1), the second is a conflict kept whole; sessions of both are all kept; a retry applies nothing twice", async () => {
    const [a, b] = devices;
    const since = now();
    const sessionA = change("inspection_session", `S-A-${randomUUID()}`, { target_id: "T1", product_id: "P1", inspector: "aoki", status: "completed", overall_result: "OK" });
    const resultA = change("inspection_result", `R-A-${randomUUID()}`, { session_id: sessionA.id, item_id: "I1", source: "human", result: "OK" });
    const editA = change("inspection_item", "I1", { name: "Scratch check (A)", criteria: { max_scratch_mm: 1.5 } }, 1);
    const sessionB = change("inspection_session", `S-B-${randomUUID()}`, { target_id: "T1", product_id: "P2", inspector: "baba", status: "completed", overall_result: "NG" });
    const resultB = change("inspection_result", `R-B-${randomUUID()}`, { session_id: sessionB.id, item_id: "I1", source: "human", result: "NG" });
    const editB = change("inspection_item", "I1", { name: "Scratch check (B)", order_index: 7 }, 1);
    const deleteB = change("inspection_item", "I1", {}, 1, "delete");
    const uploadA = { changes: [sessionA, resultA, editA] };
    const uploadB = { changes: [sessionB, resultB, editB, deleteB] };

    const ra = await call("POST", "/api/v1/inspection/sync/upload", uploadA, a!.token);
    expect(ra.status).toBe(200);
    expect(ra.json.applied).toEqual(uploadA.changes.map((c) => c.change_id));
    expect(ra.json.conflicts).toEqual([]);
    expect(ra.json.results[2]).toMatchObject({ outcome: "applied", revision: 2, duplicate: false });

    const rb = await call("POST", "/api/v1/inspection/sync/apply-changes", uploadB, b!.token);
    expect(rb.status).toBe(200);
    expect(rb.json.applied).toEqual([sessionB.change_id, resultB.change_id]);
    // The edit and the delete were made against revision 1; the server is at 2: both kept, nothing overwritten.
    expect(rb.json.conflicts).toEqual([editB, deleteB].map((c) => expect.objectContaining({
      change_id: c.change_id, entity: "inspection_item", id: "I1", base_revision: 1, server_revision: 2,
      server_data: expect.objectContaining({ name: "Scratch check (A)", revision: 2, criteria: { max_scratch_mm: 1.5 }, deleted_at: null }),
    })));

    const item = await sql.query("SELECT name, revision, order_index, deleted_at FROM inspection_items WHERE item_id = 'I1'");
    expect(item.rows[0]).toMatchObject({ name: "Scratch check (A)", revision: 2, order_index: 1, deleted_at: null });
    const kept = await sql.query("SELECT conflict_id, device_id, payload FROM sync_conflicts ORDER BY created_at, conflict_id");
    expect(kept.rows.map((r) => r.payload.change_id).sort()).toEqual([editB.change_id, deleteB.change_id].sort());
    expect(kept.rows.find((r) => r.payload.change_id === editB.change_id)!.payload).toEqual(editB);
    expect(kept.rows.every((r) => r.device_id === `device:${b!.id}`)).toBe(true);

    // Retried uploads (the answers were lost): nothing applied twice, the same outcomes.
    const ra2 = await call("POST", "/api/v1/inspection/sync/upload", uploadA, a!.token);
    const rb2 = await call("POST", "/api/v1/inspection/sync/upload", uploadB, b!.token);
    expect(ra2.json.applied).toEqual(ra.json.applied);
    expect(ra2.json.duplicates).toEqual(uploadA.changes.map((c) => c.change_id));
    expect(ra2.json.results.map((r: Json) => [r.outcome, r.revision])).toEqual(ra.json.results.map((r: Json) => [r.outcome, r.revision]));
    expect(rb2.json.conflicts.map((c: Json) => c.conflict_id)).toEqual(rb.json.conflicts.map((c: Json) => c.conflict_id));
    expect((await sql.query("SELECT count(*)::int AS n FROM sync_conflicts")).rows[0].n).toBe(2);
    expect((await sql.query("SELECT revision FROM inspection_items WHERE item_id = 'I1'")).rows[0].revision).toBe(2);

    // Nothing lost: every change is applied or kept as a conflict; both devices' sessions and results are there.
    const all = [...uploadA.changes, ...uploadB.changes].map((c) => c.change_id).sort();
    const outcome = [...ra.json.applied, ...rb.json.applied, ...rb.json.conflicts.map((c: Json) => c.change_id)].sort();
    expect(outcome).toEqual(all);
    const sessions = await sql.query("SELECT session_id, device_id FROM inspection_sessions ORDER BY session_id");
    expect(sessions.rows).toEqual([{ session_id: sessionA.id, device_id: `device:${a!.id}` }, { session_id: sessionB.id, device_id: `device:${b!.id}` }].sort((x, y) => x.session_id.localeCompare(y.session_id)));
    expect((await sql.query("SELECT count(*)::int AS n FROM inspection_results WHERE result_id = ANY($1)", [[resultA.id, resultB.id]])).rows[0].n).toBe(2);

    // Device B catches up through /changes: the item at revision 2 (A's edit).
    const ch = await call("GET", `/api/v1/inspection/sync/changes?since=${encodeURIComponent(since)}`, undefined, b!.token);
    expect(ch.status).toBe(200);
    expect(ch.json.items).toEqual([expect.objectContaining({ entity: "inspection_item", id: "I1", revision: 2, deleted: false })]);

    // An admin decides: take B's edit over the current row (revision 3); the other kept as the server's.
    const open = await call("GET", "/api/v1/inspection/sync/conflicts?limit=1", undefined, admin);
    expect(open.json.total).toBe(2);
    expect(open.json.items).toHaveLength(1);
    expect(open.json.next_cursor).not.toBeNull();
    const editConflict = rb.json.conflicts.find((c: Json) => c.change_id === editB.change_id).conflict_id as string;
    const deleteConflict = rb.json.conflicts.find((c: Json) => c.change_id === deleteB.change_id).conflict_id as string;
    const take = await call("POST", `/api/v1/inspection/sync/conflicts/${editConflict}/resolve`, { resolution: "take_device" }, admin);
    expect(take.status).toBe(200);
    expect(take.json).toMatchObject({ revision: 3, server_data: expect.objectContaining({ name: "Scratch check (B)", order_index: 7, criteria: { max_scratch_mm: 1.5 } }) });
    expect((await call("POST", `/api/v1/inspection/sync/conflicts/${editConflict}/resolve`, { resolution: "keep_server" }, admin)).status).toBe(409);
    const keep = await call("POST", `/api/v1/inspection/sync/conflicts/${deleteConflict}/resolve`, { resolution: "keep_server" }, admin);
    expect(keep.json).toMatchObject({ revision: 3, server_data: expect.objectContaining({ deleted_at: null }) });
    expect((await call("GET", "/api/v1/inspection/sync/conflicts", undefined, admin)).json.total).toBe(0);
    expect((await call("GET", "/api/v1/inspection/sync/conflicts?status=resolved", undefined, admin)).json.items.map((c: Json) => c.payload.resolution).sort()).toEqual(["keep_server", "take_device"]);
  });

  it("a delete at the current revision leaves a tombstone in /changes", async () => {
    const [a] = devices;
    const since = now();
    const del = await call("POST", "/api/v1/inspection/sync/upload", { changes: [change("product", "P7", {}, 1, "delete")] }, admin);
    expect(del.json.applied).toHaveLength(1);
    const ch = await call("GET", `/api/v1/inspection/sync/changes?since=${encodeURIComponent(since)}`, undefined, a!.token);
    expect(ch.json.items).toEqual([{ entity: "product", id: "P7", revision: 2, deleted: true, updated_at: expect.any(String) }]);
    expect((await call("GET", "/api/v1/inspection/sync/changes?cursor=zzz", undefined, a!.token)).status).toBe(400);
    expect((await call("GET", "/api/v1/inspection/sync/changes", undefined, a!.token)).status).toBe(400);
  });

  it("more than IFC_SYNC_MAX_CHANGES changes in one upload is 413; a malformed change is 400", async () => {
    const [a] = devices;
    const four = Array.from({ length: PAGE + 1 }, (_, i) => change("inspection_session", `S-X-${i}`, { target_id: "T1" }));
    const r = await call("POST", "/api/v1/inspection/sync/upload", { changes: four }, a!.token);
    expect(r.status).toBe(413);
    expect(r.json).toMatchObject({ limit: PAGE, count: PAGE + 1 });
    const atEdge = await call("POST", "/api/v1/inspection/sync/upload", { changes: four.slice(0, PAGE) }, a!.token);
    expect(atEdge.status).toBe(200);
    expect(atEdge.json.applied).toHaveLength(PAGE);
    const unknownField = await call("POST", "/api/v1/inspection/sync/upload", { changes: [change("inspection_item", "I1", { colour: "red" }, 3)] }, a!.token);
    expect(unknownField.status).toBe(400);
    const notUuid = await call("POST", "/api/v1/inspection/sync/upload", { changes: [{ ...change("inspection_item", "I1", {}, 3), change_id: "1" }] }, a!.token);
    expect(notUuid.status).toBe(400);
  });

  it("gRPC SyncService.GetMasterData streams the same rows as REST download", async () => {
    const [a] = devices;
    const rest = await downloadAll(a!.token);
    const client = new SyncServiceClient(`127.0.0.1:${ts.server.grpc!.port}`, credentials.createInsecure());
    const md = new Metadata();
    md.set("authorization", `Bearer ${a!.token}`);
    const chunks = await new Promise<MasterDataChunk[]>((resolve, reject) => {
      const got: MasterDataChunk[] = [];
      const stream = client.getMasterData({ lastSyncTimestamp: "" }, md);
      stream.on("data", (c: MasterDataChunk) => got.push(c));
      stream.on("error", reject);
      stream.on("end", () => resolve(got));
    });
    const rows = (kind: string) => chunks.filter((c) => c.kind === kind).flatMap((c) => c.rowsJson.map((j) => JSON.parse(j) as Json));
    expect(rows("inspection_targets")).toEqual(rest.first.inspection_targets);
    expect(rows("inspection_items")).toEqual(rest.first.inspection_items);
    expect(rows("inspection_rules")).toEqual(rest.first.inspection_rules);
    expect(rows("products")).toEqual(rest.products);
    expect(chunks.every((c) => c.rowsJson.length <= PAGE)).toBe(true);
    expect(chunks.at(-1)!.last).toBe(true);
    // With last_sync_timestamp: the changes since, as /changes answers them.
    const since = new Date(Date.now() - 3_600_000).toISOString();
    const restChanges = await call("GET", `/api/v1/inspection/sync/changes?since=${encodeURIComponent(since)}&limit=500`, undefined, a!.token);
    const changed = await new Promise<MasterDataChunk[]>((resolve, reject) => {
      const got: MasterDataChunk[] = [];
      const stream = client.getMasterData({ lastSyncTimestamp: since }, md);
      stream.on("data", (c: MasterDataChunk) => got.push(c));
      stream.on("error", reject);
      stream.on("end", () => resolve(got));
    });
    expect(changed.every((c) => c.kind === "changes")).toBe(true);
    // The REST page is capped at IFC_SYNC_MAX_CHANGES; the stream goes on to the end.
    const streamed = changed.flatMap((c) => c.rowsJson.map((j) => JSON.parse(j) as Json));
    expect(streamed.slice(0, PAGE)).toEqual(restChanges.json.items);
    expect(streamed.length).toBeGreaterThan(PAGE);
    const bad = await new Promise<ServiceError>((resolve) => {
      const stream = client.getMasterData({ lastSyncTimestamp: "yesterday" }, md);
      stream.on("data", () => undefined);
      stream.on("error", resolve);
    });
    expect(bad.code).toBe(3);
    // Without credentials: refused.
    const refused = await new Promise<ServiceError>((resolve) => {
      const stream = client.getMasterData({ lastSyncTimestamp: "" });
      stream.on("data", () => undefined);
      stream.on("error", resolve);
    });
    expect(refused.code).toBe(16);
    client.close();
  });

  it("a revoked device cannot log in, and its token stops on every route; device login is rate limited at its edge", async () => {
    const [a, b] = devices;
    expect((await call("DELETE", `/api/v1/tauri/devices/${b!.id}`, undefined, admin)).json.revoked_at).not.toBeNull();
    const refused = await call("POST", "/api/v1/tauri/auth/login", { device_id: b!.id, secret: b!.secret });
    expect(refused.status).toBe(401);
    expect((await call("GET", "/api/v1/inspection/sync/download", undefined, b!.token)).status).toBe(401);
    // Every route, not only the sync ones: the authenticator asks the device list on each request.
    expect((await call("GET", "/api/v1/products?limit=1", undefined, b!.token)).status).toBe(401);
    expect((await call("GET", "/api/v1/inspection/targets", undefined, b!.token)).status).toBe(401);
    expect((await call("GET", "/api/v1/products?limit=1", undefined, a!.token)).status).toBe(200);
    // loginMaxFailuresPerUser = 3: the 3rd bad secret is still a 401, the 4th attempt is 429 (even with the right secret).
    for (let i = 0; i < 3; i++) expect((await call("POST", "/api/v1/tauri/auth/login", { device_id: a!.id, secret: "ifcds_wrong" })).status).toBe(401);
    const limited = await call("POST", "/api/v1/tauri/auth/login", { device_id: a!.id, secret: a!.secret });
    expect(limited.status).toBe(429);
    expect(Number(limited.headers.get("retry-after"))).toBeGreaterThan(0);
  });
});
