import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { PgDatabase } from "../../src/adapters/db/pg-database.js";
import { migrate } from "../../src/adapters/db/migrate.js";
import { ALL_MIGRATIONS } from "../../src/adapters/db/migrations/index.js";
import { InvalidInput, NotFound } from "../../src/core/errors.js";
import type { Database } from "../../src/ports/database.js";
import { TraceService, type MediaIndex } from "../../src/products/trace-service.js";
import { TraceStore, type LinkRow } from "../../src/products/trace-store.js";
import { openTestPglite } from "../support/pglite.js";
import { sharedPostgresDatabase } from "../support/postgres-server.js";

/** What `p` rejects with; a fulfilled promise fails the test. */
async function thrown(p: Promise<unknown>): Promise<unknown> {
  try {
    await p;
  } catch (err) {
    return err;
  }
  throw new Error("expected a rejection");
}

const T = (s: string) => Date.parse(`2026-11-20T${s}Z`);

/** Seeds the product master and inspections with plain SQL (the product module is built apart). */
async function seed(db: Database): Promise<void> {
  const products: [string, string, string | null, string, string, string, number | null, string | null][] = [
    // id, work order, instruction, type, machine, date, sequence, deleted
    ["p1", "WO100", "I1", "TA", "M1", "2026-11-01", 1, null],
    ["p2", "WO100", "I2", "TA", "M2", "2026-11-03", 2, null], // same work order, newer
    ["p3", "WO200", "I3", "TB", "M1", "2026-11-02", 3, null],
    ["p4", "WO_%9", null, "TB", "M3", "2026-11-04", null, null], // LIKE metacharacters in the work order
    ["p5", "WO300", "I5", "TC", "M1", "2026-11-05", 5, "2026-11-06T00:00:00Z"], // deleted
  ];
  for (const [id, wo, inst, type, mach, date, seq, deleted] of products) {
    await db.query(
      "INSERT INTO products (product_id, work_order_id, instruction_id, product_type, machine_number, production_date, monthly_sequence, deleted_at) VALUES ($1,$2,$3,$4,$5,$6::date,$7,$8::timestamptz)",
      [id, wo, inst, type, mach, date, seq, deleted],
    );
  }
  await db.query("INSERT INTO product_specs (product_id, key, value) VALUES ('p1', 'weight', '1.5kg'), ('p1', 'color', 'red')");
  await db.query("INSERT INTO inspection_targets (target_id, name) VALUES ('t1', 'Target')");
  // p1: NG then OK (latest OK); p3: OK then NG (latest NG); p2: only an open session.
  const sessions: [string, string, string | null, string, string | null][] = [
    ["s1", "p1", "NG", "2026-11-20T01:00:00Z", "2026-11-20T01:05:00Z"],
    ["s2", "p1", "OK", "2026-11-20T02:00:00Z", "2026-11-20T02:05:00Z"],
    ["s3", "p3", "OK", "2026-11-20T01:00:00Z", "2026-11-20T01:05:00Z"],
    ["s4", "p3", "NG", "2026-11-20T03:00:00Z", "2026-11-20T03:05:00Z"],
    ["s5", "p2", null, "2026-11-20T04:00:00Z", null],
  ];
  for (const [id, pid, result, started, completed] of sessions) {
    await db.query(
      "INSERT INTO inspection_sessions (session_id, target_id, product_id, status, overall_result, started_at, completed_at) VALUES ($1,'t1',$2,$3,$4,$5::timestamptz,$6::timestamptz)",
      [id, pid, completed ? "completed" : "in_progress", result, started, completed],
    );
  }
  await db.query(
    `INSERT INTO inspection_results (result_id, session_id, item_id, source, result, confidence, execution_id, image_file_id, created_at) VALUES
     ('r1', 's1', 'i1', 'ai', 'NG', 0.9, 'e1', 'f1', '2026-11-20T01:01:00Z'),
     ('r2', 's1', 'i1', 'human', 'NG', NULL, NULL, NULL, '2026-11-20T01:02:00Z'),
     ('r3', 's2', 'i1', 'ai', 'OK', 0.8, NULL, NULL, '2026-11-20T02:01:00Z')`,
  );
  await db.query("INSERT INTO executions (execution_id, pipeline_id, pipeline_version, status, execution_mode, priority, created_at) VALUES ('e1', 'inspect', '1.0.0', 'completed', 'direct_grpc', 1, '2026-11-20T01:00:30Z')");
  await db.query("INSERT INTO files (file_id, filename, content_type, size_bytes, object_key, created_at) VALUES ('f1', 'part.jpg', 'image/jpeg', 1000, 'files/f1.jpg', '2026-11-20T01:00:10Z'), ('f2', 'report.pdf', 'application/pdf', 2000, 'files/f2.pdf', '2026-11-20T05:00:00Z')");
}

const link = (product_id: string, ref: string, first: number, last: number): LinkRow => ({
  product_id, kind: "recording", ref_id: ref, stream: ref.split("/")[0] ?? null, first_seen_at: first, last_seen_at: last, detail: {},
});

function traceStoreSuite(engine: string, open: () => Promise<{ db: Database; peer?: Database; close(): Promise<void> }>): void {
  describe(`TraceStore on ${engine}`, () => {
    let fx: Awaited<ReturnType<typeof open>>;
    let store: TraceStore;
    beforeAll(async () => {
      fx = await open();
      await migrate(fx.db, ALL_MIGRATIONS);
      await seed(fx.db);
      store = new TraceStore(fx.db);
      await store.upsertLinks([
        link("p1", "cam1/recA", T("10:00:00"), T("10:00:05")),
        link("p2", "cam1/recA", T("10:01:00"), T("10:01:04")),
        link("p3", "cam2/recB", T("10:02:00"), T("10:02:09")),
        link("p4", "cam2/recB", T("10:03:00"), T("10:03:01")),
        link("p1", "cam2/recC", T("11:00:00"), T("11:00:02")),
        link("p5", "cam1/recA", T("10:04:00"), T("10:04:02")), // deleted product: never found
      ]);
    }, 60_000);
    afterAll(async () => {
      await fx?.close();
    });

    it("finds the product a code names: the work order plus the fields the code carries; several → newest production date; deleted never", async () => {
      expect(await store.findProduct({ work_order_id: "WO100" })).toBe("p2");
      expect(await store.findProduct({ work_order_id: "WO100", instruction_id: "I1" })).toBe("p1");
      expect(await store.findProduct({ work_order_id: "WO100", machine_number: "M1", monthly_sequence: 1 })).toBe("p1");
      expect(await store.findProduct({ work_order_id: "WO100", monthly_sequence: 9 })).toBeUndefined();
      expect(await store.findProduct({ work_order_id: "WO300" })).toBeUndefined();
      expect(await store.findProduct({ work_order_id: "NOPE" })).toBeUndefined();
    });

    it("upserts links idempotently: replays and other nodes only widen the span (LEAST/GREATEST)", async () => {
      const a = link("p3", "cam9/recZ", T("12:00:10"), T("12:00:20"));
      const b = link("p3", "cam9/recZ", T("12:00:05"), T("12:00:15"));
      const c = link("p3", "cam9/recZ", T("12:00:12"), T("12:00:30"));
      const other = new TraceStore(fx.peer ?? fx.db);
      await Promise.all([store.upsertLinks([a, a]), other.upsertLinks([b]), store.upsertLinks([c]), other.upsertLinks([a])]);
      const got = await store.link("p3", "recording", "cam9/recZ");
      expect(got).toMatchObject({ stream: "cam9", first_seen_at: T("12:00:05"), last_seen_at: T("12:00:30") });
      expect(await store.deleteLink("p3", "recording", "cam9/recZ")).toBe(true);
      expect(await store.deleteLink("p3", "recording", "cam9/recZ")).toBe(false);
    });

    it("searches recording spans by every product field, time span and latest inspection result", async () => {
      const ids = async (f: Parameters<TraceStore["searchVideos"]>[0]) => (await store.searchVideos(f, { limit: 50 })).items.map((h) => `${h.product_id}@${h.recording_id}`);
      expect(await ids({})).toEqual(["p1@recA", "p2@recA", "p3@recB", "p4@recB", "p1@recC"]);
      expect(await ids({ work_order_id: "WO100" })).toEqual(["p1@recA", "p2@recA", "p1@recC"]);
      expect(await ids({ work_order_prefix: "WO2" })).toEqual(["p3@recB"]);
      expect(await ids({ work_order_prefix: "WO_%" })).toEqual(["p4@recB"]); // metacharacters are literal
      expect(await ids({ work_order_prefix: "W" })).toHaveLength(5);
      expect(await ids({ instruction_id: "I2" })).toEqual(["p2@recA"]);
      expect(await ids({ product_type: "TB" })).toEqual(["p3@recB", "p4@recB"]);
      expect(await ids({ machine_number: "M1" })).toEqual(["p1@recA", "p3@recB", "p1@recC"]);
      expect(await ids({ product_type: "TA", machine_number: "M2" })).toEqual(["p2@recA"]);
      // spans overlapping [from, to], edges included
      expect(await ids({ fromMs: T("10:00:05"), toMs: T("10:01:00") })).toEqual(["p1@recA", "p2@recA"]);
      expect(await ids({ fromMs: T("10:00:05.001"), toMs: T("10:00:59.999") })).toEqual([]);
      expect(await ids({ fromMs: T("10:30:00") })).toEqual(["p1@recC"]);
      expect(await ids({ toMs: T("10:00:00") })).toEqual(["p1@recA"]);
      // latest judged session: p1 OK (NG before), p3 NG (OK before); p2's only session is open
      expect(await ids({ inspection_result: "OK" })).toEqual(["p1@recA", "p1@recC"]);
      expect(await ids({ inspection_result: "NG" })).toEqual(["p3@recB"]);
      expect(await ids({ work_order_id: "NONE" })).toEqual([]);
      const hit = (await store.searchVideos({ instruction_id: "I2" }, { limit: 1 })).items[0];
      expect(hit).toEqual({ product_id: "p2", work_order_id: "WO100", stream: "cam1", recording_id: "recA", fromMs: T("10:01:00"), toMs: T("10:01:04") });
    });

    it("pages with an opaque cursor: every hit once, the last page without next_cursor, totals counted, a forged cursor refused", async () => {
      const seen: string[] = [];
      let cursor: string | undefined;
      let pages = 0;
      do {
        const page = await store.searchVideos({}, { limit: 2, ...(cursor ? { cursor } : {}) });
        expect(page.total).toBe(5);
        seen.push(...page.items.map((h) => `${h.product_id}@${h.recording_id}`));
        cursor = page.next_cursor ?? undefined;
        pages++;
      } while (cursor);
      expect(pages).toBe(3);
      expect(seen).toEqual(["p1@recA", "p2@recA", "p3@recB", "p4@recB", "p1@recC"]);
      const exact = await store.searchVideos({ product_type: "TB" }, { limit: 2 });
      expect(exact.items).toHaveLength(2);
      expect(exact.next_cursor).toBeNull(); // exactly one page
      const empty = await store.searchVideos({ work_order_id: "NONE" }, { limit: 2 });
      expect(empty).toEqual({ items: [], next_cursor: null, total: 0 });
      for (const bad of ["garbage!", Buffer.from('["x"]').toString("base64url"), Buffer.from("[1,2]").toString("base64url"), "e30"]) {
        expect(await thrown(store.searchVideos({}, { limit: 2, cursor: bad }))).toBeInstanceOf(InvalidInput);
      }
    });

    it("builds the chain oldest first: production, recordings (links and catalog tags), clips, sessions, results, executions, files", async () => {
      const media: MediaIndex = {
        recordings: async (tags) =>
          [
            { stream: "cam1", recordingId: "recA", startMs: T("09:59:00"), durationMs: 120_000, live: false, tags: { work_order: "WO100", instruction: "I1" } },
            { stream: "cam3", recordingId: "recT", startMs: T("08:00:00"), durationMs: 60_000, live: true, tags: { work_order: "WO100", instruction: "I1" } },
            { stream: "cam3", recordingId: "recU", startMs: T("08:30:00"), durationMs: 60_000, live: false, tags: { work_order: "WO100", instruction: "I2" } }, // p2's
          ].filter((r) => tags.every(([k, v]) => (r.tags as Record<string, string>)[k] === v)),
        clips: async () => [
          { id: "clip1", stream: "cam1", startMs: T("10:00:01"), durationMs: 5000, createdAt: "2026-11-20T12:00:00.000Z", sourceRecordingId: "recA", tags: {} },
          { id: "clip2", stream: "cam9", startMs: T("10:00:00"), durationMs: 5000, createdAt: "2026-11-20T12:00:00.000Z", sourceRecordingId: "other", tags: {} },
        ],
      };
      await store.upsertLinks([{ product_id: "p1", kind: "file", ref_id: "f2", stream: null, first_seen_at: T("05:00:00"), last_seen_at: T("05:00:00"), detail: {} }]);
      const service = new TraceService(async () => store, media, { playMaxDurationMs: 60_000 });
      const { entries, truncated } = await service.chain("p1");
      expect(truncated).toBe(false);
      expect(entries.map((e) => `${e.kind}:${e.id}`)).toEqual([
        "production:p1",
        "inspection_session:s1", "file:f1", "execution:e1", "inspection_result:r1", "inspection_result:r2",
        "inspection_session:s2", "inspection_result:r3", "file:f2",
        "recording:recT", "recording:recA", "clip:clip1", "recording:recC",
      ]);
      const recA = entries.find((e) => e.id === "recA");
      expect(recA).toMatchObject({ at: "2026-11-20T10:00:00.000Z", stream: "cam1", source: "link", duration_ms: 120_000, url: "/api/v1/recordings/cam1/play?start=2026-11-20T10%3A00%3A00.000Z&duration=5" });
      expect(entries.find((e) => e.id === "recT")).toMatchObject({ source: "tags", live: true, url: "/api/v1/recordings/cam3/play?start=2026-11-20T08%3A00%3A00.000Z&duration=60" });
      expect(entries.find((e) => e.id === "f2")).toMatchObject({ url: "/api/v1/files/f2/download", content_type: "application/pdf" });

      // paged: the same chain in pages of 4
      const ids: string[] = [];
      let cursor: string | undefined;
      do {
        const page = await service.trace("p1", { limit: 4, ...(cursor ? { cursor } : {}) });
        expect(page.total).toBe(13);
        ids.push(...page.items.map((e) => e.id));
        cursor = page.next_cursor ?? undefined;
      } while (cursor);
      expect(ids).toEqual(entries.map((e) => e.id));
      expect(await thrown(service.trace("p1", { limit: 4, cursor: "bad*" }))).toBeInstanceOf(InvalidInput);
      expect(await thrown(service.chain("p5"))).toBeInstanceOf(NotFound);

      const details = await service.details("p1", { limit: 1 });
      expect(details.product).toMatchObject({ product_id: "p1", production_date: "2026-11-01", monthly_sequence: 1, specifications: { color: "red", weight: "1.5kg" } });
      expect(details.inspection_history.total).toBe(2);
      expect(details.inspection_history.items.map((s) => [s.session_id, s.results.map((r) => r.result_id)])).toEqual([["s2", ["r3"]]]);
      const older = await service.details("p1", { limit: 1, cursor: details.inspection_history.next_cursor! });
      expect(older.inspection_history.items.map((s) => [s.session_id, s.results.map((r) => r.result_id)])).toEqual([["s1", ["r1", "r2"]]]);
      expect(older.inspection_history.next_cursor).toBeNull();
      expect(details.related_files.images.map((e) => e.id)).toEqual(["f1"]);
      expect(details.related_files.reports.map((e) => e.id)).toEqual(["f2"]);
      expect(details.related_files.recordings.map((e) => e.id)).toEqual(["recT", "recA", "recC"]);
      expect(details.trace_summary).toMatchObject({ total: 13, first_at: "2026-11-01T00:00:00.000Z", kinds: { recording: { count: 3 }, inspection_session: { count: 2 } } });
    });
  });
}

traceStoreSuite("PGlite", async () => {
  const db = await openTestPglite();
  return { db, close: () => db.close() };
});

traceStoreSuite("PostgreSQL", async () => {
  const shared = await sharedPostgresDatabase();
  const db = new PgDatabase({ url: shared.url });
  const peer = new PgDatabase({ url: shared.url });
  return {
    db,
    peer,
    close: async () => {
      await Promise.all([db.close(), peer.close()]);
      await shared.drop();
    },
  };
});
