import { readFile } from "node:fs/promises";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { startTestServer, type TestServer } from "../support/server-harness.js";

/**
 * The product master over REST on the real server (PGlite metadata database, in-process cache),
 * with authentication on: an admin writes, a viewer reads.
 */
const MAX_BYTES = 8192;
const MAX_ROWS = 5;
const BATCH_MAX = 3;

interface Problem {
  type: string;
  status: number;
  detail: string;
  [k: string]: unknown;
}
interface ProductJson {
  product_id: string;
  revision: number;
  [k: string]: unknown;
}

describe("products over REST", () => {
  let ts: TestServer;
  let admin: string;
  let viewer: string;

  const call = async (method: string, p: string, token: string | undefined, body?: unknown, contentType = "application/json") => {
    const headers: Record<string, string> = {};
    if (token) headers.authorization = `Bearer ${token}`;
    if (body !== undefined) headers["content-type"] = contentType;
    const r = await fetch(`${ts.url}${p}`, { method, headers, ...(body !== undefined ? { body: typeof body === "string" ? body : JSON.stringify(body) } : {}) });
    const text = await r.text();
    return { status: r.status, type: r.headers.get("content-type") ?? "", body: text ? (JSON.parse(text) as Record<string, unknown>) : undefined };
  };
  const problem = async (p: ReturnType<typeof call>, status: number, slug?: string) => {
    const r = await p;
    expect(r.status, JSON.stringify(r.body)).toBe(status);
    expect(r.type).toContain("application/problem+json");
    if (slug) expect((r.body as unknown as Problem).type).toBe(`urn:imageflowcanvas:problem:${slug}`);
    return r.body as unknown as Problem;
  };
  const login = async (username: string, password: string) => {
    const r = await call("POST", "/api/v1/auth/login", undefined, { username, password });
    expect(r.status).toBe(200);
    return r.body!.access_token as string;
  };

  beforeAll(async () => {
    ts = await startTestServer({ authAnonymousNetworks: [], productsImportMaxBytes: MAX_BYTES, productsImportMaxRows: MAX_ROWS, productsBatchMax: BATCH_MAX });
    admin = await login("admin", (await readFile(path.join(ts.dataDir, "initial-admin-password"), "utf8")).trim());
    await ts.server.auth.userStore.add("vera", "viewer", "vera-password-1");
    viewer = await login("vera", "vera-password-1");
  });
  afterAll(async () => {
    await ts?.stop();
  });

  it("upsert (admin), get, update with a revision check, delete; a viewer reads but cannot write; anonymous gets 401", async () => {
    const body = { product_id: "P-1", work_order_id: "WO123456", instruction_id: "INST789", product_type: "TYPE-ABC", machine_number: "MACH001", production_date: "2026-11-23", monthly_sequence: 42, specifications: { weight: "1.2kg" } };
    const created = await call("POST", "/api/v1/products", admin, body);
    expect(created.status).toBe(201);
    expect(created.body).toMatchObject({ ...body, status: "active", revision: 1, model: null });
    expect((await call("POST", "/api/v1/products", admin, body)).body).toMatchObject({ revision: 2 });
    expect((await call("GET", "/api/v1/products/P-1", viewer)).body).toMatchObject({ product_id: "P-1", revision: 2, specifications: { weight: "1.2kg" } });

    await problem(call("POST", "/api/v1/products", viewer, body), 403);
    await problem(call("GET", "/api/v1/products/P-1", undefined), 401);
    await problem(call("PUT", "/api/v1/products/P-1", viewer, { model: "X" }), 403);
    await problem(call("DELETE", "/api/v1/products/P-1", viewer), 403);
    await problem(call("GET", "/api/v1/products/P-404", viewer), 404, "product-not-found");
    // Bad bodies: the schema's checks and the product rules (a date that does not exist) alike.
    await problem(call("POST", "/api/v1/products", admin, { ...body, production_date: "2026-02-30" }), 400, "invalid-product");
    await problem(call("POST", "/api/v1/products", admin, { ...body, colour: "red" }), 400);
    await problem(call("POST", "/api/v1/products", admin, { product_id: "bad id", work_order_id: "W" }), 400);

    const conflict = await problem(call("PUT", "/api/v1/products/P-1", admin, { model: "X", revision: 1 }), 409, "revision-conflict");
    expect(conflict).toMatchObject({ expected_revision: 1, current_revision: 2 });
    expect((await call("PUT", "/api/v1/products/P-1", admin, { model: "X", revision: 2 })).body).toMatchObject({ model: "X", revision: 3, work_order_id: "WO123456" });
    await problem(call("PUT", "/api/v1/products/P-404", admin, { model: "X" }), 404);

    await problem(call("DELETE", "/api/v1/products/P-1?revision=2", admin), 409);
    expect((await call("DELETE", "/api/v1/products/P-1?revision=3", admin)).status).toBe(204);
    await problem(call("GET", "/api/v1/products/P-1", viewer), 404);
  });

  it("QR lookup: the product with its type's rules and standards in one call; 400 unreadable, 404 unknown; rules and standards admin-written", async () => {
    await call("POST", "/api/v1/products", admin, { product_id: "Q-1", work_order_id: "WOQ", instruction_id: "I1", product_type: "TQ", production_date: "2026-01-01", specifications: { len: "10mm" } });
    await call("POST", "/api/v1/products", admin, { product_id: "Q-2", work_order_id: "WOQ", instruction_id: "I2", product_type: "TQ", production_date: "2026-02-01" });
    await problem(call("PUT", "/api/v1/products/rules/TQ", viewer, { rules: [] }), 403);
    const rules = await call("PUT", "/api/v1/products/rules/TQ", admin, { rules: [{ category: "scratch", threshold: 0.5 }, { category: "dent", threshold: 0.7, enabled: false, parameters: { min_area: 20 } }] });
    expect(rules.status).toBe(200);
    expect((await call("GET", "/api/v1/products/rules/TQ", viewer)).body).toMatchObject({ product_type: "TQ", rules: [{ category: "dent", enabled: false, parameters: { min_area: 20 } }, { category: "scratch", threshold: 0.5 }] });
    await problem(call("PUT", "/api/v1/products/rules/TQ", admin, { rules: [{ category: "x" }] }), 400);
    const std = await call("PUT", "/api/v1/products/quality-standards/TQ", admin, { standards: [{ name: "length", metric: "mm", min_value: 9.5, max_value: 10.5 }] });
    expect(std.status).toBe(200);
    expect((await call("GET", "/api/v1/products/quality-standards/TQ", viewer)).body).toMatchObject({ standards: [{ name: "length", min_value: 9.5 }] });

    const byQr = (payload: string) => call("GET", `/api/v1/products/by-qr?payload=${encodeURIComponent(payload)}`, viewer);
    const r = await byQr("IFC1;wo=WOQ;inst=I1;type=TQ");
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ product: { product_id: "Q-1" }, specifications: { len: "10mm" }, inspection_rules: [{ category: "dent" }, { category: "scratch" }], quality_standards: [{ name: "length" }], decoded: { work_order_id: "WOQ", instruction_id: "I1", product_type: "TQ" } });
    // Several products under one work order: the newest production date.
    expect((await byQr("IFC1;wo=WOQ")).body).toMatchObject({ product: { product_id: "Q-2" } });
    // A rules change is visible to the next lookup (written through).
    await call("PUT", "/api/v1/products/rules/TQ", admin, { rules: [{ category: "crack", threshold: 0.9 }] });
    expect(((await byQr("IFC1;wo=WOQ;inst=I1")).body as { inspection_rules: { category: string }[] }).inspection_rules.map((x) => x.category)).toEqual(["crack"]);
    await problem(byQr("hello"), 400, "unreadable-qr-payload");
    await problem(byQr("IFC1;wo=NOPE"), 404, "product-not-found");
    await problem(call("GET", "/api/v1/products/by-qr", viewer), 400);
  });

  it("search: every filter, pages with next_cursor, the last page without one; invalid cursor and limit 400", async () => {
    for (const [i, d] of ["2026-03-01", "2026-03-02", "2026-03-03"].entries()) {
      expect((await call("POST", "/api/v1/products", admin, { product_id: `S-${i}`, work_order_id: `WS${i}`, product_type: "TS", machine_number: i === 2 ? "M2" : "M1", production_date: d, status: i === 1 ? "hold" : "active" })).status).toBe(201);
    }
    const search = (q: string) => call("GET", `/api/v1/products?${q}`, viewer);
    const ids = (r: Awaited<ReturnType<typeof search>>) => (r.body!.items as ProductJson[]).map((p) => p.product_id);
    expect(ids(await search("product_type=TS"))).toEqual(["S-0", "S-1", "S-2"]);
    expect(ids(await search("product_type=TS&machine_number=M1"))).toEqual(["S-0", "S-1"]);
    expect(ids(await search("product_type=TS&from=2026-03-02&to=2026-03-02"))).toEqual(["S-1"]);
    expect(ids(await search("work_order_prefix=WS2"))).toEqual(["S-2"]);
    expect(ids(await search("product_type=TS&status=hold"))).toEqual(["S-1"]);
    const first = await search("product_type=TS&limit=2");
    expect(first.body).toMatchObject({ total: 3, next_cursor: expect.any(String) });
    expect((first.body!.items as Record<string, unknown>[])[0]).toMatchObject({ quality_score: null, inspection_count: 0 });
    const last = await search(`product_type=TS&limit=2&cursor=${first.body!.next_cursor as string}`);
    expect(ids(last)).toEqual(["S-2"]);
    expect(last.body!.next_cursor).toBeNull();
    expect((await search("product_type=none")).body).toEqual({ items: [], next_cursor: null, total: 0 });
    await problem(search("cursor=garbage"), 400, "invalid-cursor");
    await problem(search("limit=501"), 400);
    await problem(search("from=2026-3-1"), 400);
    await problem(search("colour=red"), 400);
    // A write is visible to the next search (the cached page retired).
    await call("PUT", "/api/v1/products/S-2", admin, { machine_number: "M1" });
    expect(ids(await search("product_type=TS&machine_number=M1"))).toEqual(["S-0", "S-1", "S-2"]);
  });

  it("batch get: up to IFC_PRODUCTS_BATCH_MAX ids, unknown ones listed; more is 400", async () => {
    await call("POST", "/api/v1/products", admin, { product_id: "B-1", work_order_id: "WB" });
    const r = await call("POST", "/api/v1/products/batch-get", viewer, { ids: ["B-1", "B-404", "B-1"] });
    expect(r.status).toBe(200);
    expect(r.body).toMatchObject({ items: [{ product_id: "B-1" }], missing: ["B-404"] });
    await problem(call("POST", "/api/v1/products/batch-get", viewer, { ids: ["a", "b", "c", "d"] }), 400, "too-many-ids");
  });

  it("import: JSON and CSV, bad rows by line and good ones kept; rows past the row limit refused; the byte limit at its edge; other types 415", async () => {
    const json = `[
{"product_id": "I-1", "work_order_id": "WI1", "production_date": "2026-05-01"},
{"product_id": "I-2", "work_order_id": "WI2", "production_date": "2026-02-30"},
{"product_id": "I-3"},
{"product_id": "I-4", "work_order_id": "WI4", "specifications": {"w": 3}}
]`;
    const j = await call("POST", "/api/v1/products/import", admin, json);
    expect(j.status, JSON.stringify(j.body)).toBe(200);
    expect(j.body).toEqual({
      imported: 2, failed_count: 2, refused: { count: 0, first_line: null },
      failed: [{ line: 3, errors: ["production_date must be a date YYYY-MM-DD"] }, { line: 4, errors: ["work_order_id is required"] }],
    });
    expect((await call("GET", "/api/v1/products/I-4", viewer)).body).toMatchObject({ specifications: { w: "3" } });

    const csv = 'product_id,work_order_id,product_type,monthly_sequence,spec.colour\nC-1,WC1,TC,7,red\nC-2,"W,C2",TC,x,\nC-3,WC3,TC,,blue\n';
    const c = await call("POST", "/api/v1/products/import", admin, csv, "text/csv");
    expect(c.body).toMatchObject({ imported: 2, failed: [{ line: 3, errors: [expect.stringContaining("monthly_sequence")] }] });
    expect((await call("GET", "/api/v1/products/C-1", viewer)).body).toMatchObject({ monthly_sequence: 7, product_type: "TC", specifications: { colour: "red" } });
    await problem(call("POST", "/api/v1/products/import", admin, "product_id,colour\nx,y\n", "text/csv"), 400, "invalid-import");
    await problem(call("POST", "/api/v1/products/import", viewer, csv, "text/csv"), 403);

    // Rows: exactly MAX_ROWS kept; one more is refused, reported with its line.
    const rows = (n: number) => `[${Array.from({ length: n }, (_, i) => `\n{"product_id":"R-${i}","work_order_id":"WR"}`).join(",")}\n]`;
    expect((await call("POST", "/api/v1/products/import", admin, rows(MAX_ROWS))).body).toMatchObject({ imported: MAX_ROWS, refused: { count: 0 } });
    expect((await call("POST", "/api/v1/products/import", admin, rows(MAX_ROWS + 1))).body).toMatchObject({ imported: MAX_ROWS, refused: { count: 1, first_line: MAX_ROWS + 2 } });

    // Bytes: a body of exactly MAX_BYTES is read; one byte more is 413 and writes nothing.
    const exact = `[{"product_id":"Z-1","work_order_id":"WZ"}]`.padEnd(MAX_BYTES, " ");
    expect(Buffer.byteLength(exact)).toBe(MAX_BYTES);
    expect((await call("POST", "/api/v1/products/import", admin, exact)).body).toMatchObject({ imported: 1 });
    const over = `[{"product_id":"Z-2","work_order_id":"WZ"}]`.padEnd(MAX_BYTES + 1, " ");
    await problem(call("POST", "/api/v1/products/import", admin, over), 413, "payload-too-large");
    await problem(call("GET", "/api/v1/products/Z-2", viewer), 404);
    await problem(call("POST", "/api/v1/products/import", admin, "<xml/>", "application/xml"), 415);
  });
});
