import { mkdtemp, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { formatProductInfo } from "../../src/extractor/product-info.js";
import { launchChromium, type ChromiumHandle } from "../helpers/chromium.js";
import { startStaticServer, type StaticServer } from "../helpers/static-server.js";
import { qrY4m } from "../support/qr-video.js";
import { startTestServer, type TestServer } from "../support/server-harness.js";
import { waitFor, waitForValue } from "../support/wait-for.js";

/**
 * QR → product, end to end: Chromium's camera shows a work piece's QR code (a Y4M scene as its
 * fake capture), published over WHIP; the decode-once AI feed reads the code, the recording is
 * tagged, and the product master links the recording to the product. The product's trace lists
 * the recording, and a video search by work order returns a span that plays.
 */
const PRODUCT = { work_order: "WO777001", instruction: "INST-77", product_type: "TYPE-QR", machine_number: "MACH-7", production_date: "2026-11-20", monthly_sequence: "7" };
const PRODUCT_ID = "P-WO777001";

let ts: TestServer;
let pages: StaticServer;
let browser: ChromiumHandle;
let dir: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(tmpdir(), "ifc-qr-trace-"));
  const scene = await qrY4m(dir, formatProductInfo(PRODUCT), { width: 1280, height: 720, frames: 10, x: 500, y: 160, scale: 8 });
  pages = await startStaticServer();
  ts = await startTestServer({ corsOrigins: [new URL(pages.url).origin], aiEnabled: true, aiMaxPreset: "high" });
  browser = await launchChromium([`--use-file-for-fake-video-capture=${scene.file}`]);
}, 60_000);

afterAll(async () => {
  await browser?.close();
  await pages?.close();
  await ts?.stop();
  if (dir) await rm(dir, { recursive: true, force: true });
});

interface Json {
  [k: string]: unknown;
}

async function json<T = Json>(res: Response | Promise<Response>): Promise<{ status: number; body: T }> {
  const r = await res;
  return { status: r.status, body: (await r.json()) as T };
}

describe("QR code in a browser's camera → product → trace and video search", () => {
  it("links the recording to the product, lists it in the trace, and finds a playable span by work order", async () => {
    const created = await json(fetch(`${ts.url}/api/v1/products`, {
      method: "POST",
      headers: { "content-type": "application/json" },
      body: JSON.stringify({
        product_id: PRODUCT_ID, work_order_id: PRODUCT.work_order, instruction_id: PRODUCT.instruction, product_type: PRODUCT.product_type,
        machine_number: PRODUCT.machine_number, production_date: PRODUCT.production_date, monthly_sequence: Number(PRODUCT.monthly_sequence),
      }),
    }));
    expect(created.status, JSON.stringify(created.body)).toBe(201);

    const page = await browser.newPage();
    await page.goto(`${pages.url}/whip-publish.html?whip=${encodeURIComponent(`${ts.url}/whip/line7`)}&video=1&audio=0`);
    await page.waitForFunction(() => (globalThis as unknown as { __whip?: { state: string } }).__whip?.state === "connected", undefined, { timeout: 30_000 });

    // The recording is tagged with the product once the worker has read the code.
    const tagged = await waitForValue(async () => {
      const list = (await (await fetch(`${ts.url}/api/v1/recordings?stream=line7`)).json()) as { recordings: { recordingId: string; stream: string; tags: Record<string, string> }[] };
      return list.recordings.find((r) => r.tags.work_order === PRODUCT.work_order);
    }, { timeoutMs: 60_000, intervalMs: 500, what: "the live recording tagged with the QR code's work order" });

    // The trace lists the recording (linked from the live sighting) with its timestamps.
    const trace = await waitForValue(async () => {
      const t = await json<{ items: { kind: string; id: string; at: string; source?: string; first_seen_at?: string; last_seen_at?: string }[] }>(fetch(`${ts.url}/api/v1/products/${PRODUCT_ID}/trace`));
      // `source: "link"`: the live sighting linked it (not only the recording's tags).
      return t.status === 200 && t.body.items.some((e) => e.kind === "recording" && e.id === tagged.recordingId && e.source === "link") ? t.body : undefined;
    }, { timeoutMs: 20_000, intervalMs: 500, what: "the product's trace listing the recording linked by the live sighting" });
    expect(trace.items[0]).toMatchObject({ kind: "production", id: PRODUCT_ID });
    const rec = trace.items.find((e) => e.kind === "recording" && e.id === tagged.recordingId)!;
    expect(Date.parse(rec.first_seen_at!)).toBeLessThanOrEqual(Date.parse(rec.last_seen_at!));
    expect(Date.parse(rec.at)).toBe(Date.parse(rec.first_seen_at!));

    // Stop publishing so the recording is complete, then search by work order.
    await page.evaluate(() => (globalThis as unknown as { __whip: { stop(): Promise<void> } }).__whip.stop());
    await page.close();
    await waitFor(() => ts.server.registry.get("line7") === undefined, { timeoutMs: 20_000, what: "the stream ended" });
    await ts.server.recorder.flush();

    const search = await json<{ items: { product_id: string; stream: string; recording_id: string; from: string; to: string; play_url: string }[]; total: number; next_cursor: string | null }>(
      fetch(`${ts.url}/api/v1/videos/search?work_order_id=${PRODUCT.work_order}`),
    );
    expect(search.status).toBe(200);
    expect(search.body.items.length).toBeGreaterThanOrEqual(1);
    const hit = search.body.items[0]!;
    expect(hit).toMatchObject({ product_id: PRODUCT_ID, stream: "line7" });
    const play = await fetch(`${ts.url}${hit.play_url}`);
    expect(play.status).toBe(200);
    expect(play.headers.get("content-type")).toMatch(/^video\/mp4/);
    const bytes = Buffer.from(await play.arrayBuffer());
    expect(bytes.length).toBeGreaterThan(1000);
    expect(bytes.subarray(4, 8).toString("latin1")).toBe("ftyp");
  }, 180_000);
});
