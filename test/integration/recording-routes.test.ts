import { readdirSync, readlinkSync } from "node:fs";
import http from "node:http";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { StreamStats } from "../../src/core/stream-registry.js";
import { CLIPS_PREFIX } from "../../src/recorder/recording-catalog.js";
import { startTestServer, type TestServer } from "../support/server-harness.js";
import { waitFor } from "../support/wait-for.js";
import { SEGMENT_MS, readStored, storeRecording } from "../unit/recorder/stored-recordings.js";

/** Recording and clip routes of the real server (fs store) against bad input and limits. */
const T0 = Date.UTC(2026, 10, 1, 12, 0, 0);
const MAX_TAGS = 3;
let ts: TestServer;

async function call(method: string, url: string, body?: unknown): Promise<{ status: number; json: Record<string, unknown> }> {
  const res = await fetch(`${ts.url}${url}`, {
    method,
    ...(body !== undefined ? { body: JSON.stringify(body), headers: { "content-type": "application/json" } } : {}),
  });
  const text = await res.text();
  return { status: res.status, json: text ? (JSON.parse(text) as Record<string, unknown>) : {} };
}

beforeAll(async () => {
  ts = await startTestServer({ maxTags: MAX_TAGS, clipMaxDurationMs: 8000, clipMaxCount: 2 });
  await storeRecording(ts.server.store, "cam1", "rec1", T0, 10, 1000);
});

afterAll(async () => {
  await ts?.stop();
});

describe("clip requests that cannot succeed store nothing", () => {
  it('`to` = "99999999999999999999" answers 400 problem+json; the listing still answers 200', async () => {
    const res = await call("POST", "/api/v1/streams/cam1/clips", { from: String(T0), to: "99999999999999999999" });
    expect(res.status).toBe(400);
    expect(String(res.json.type)).toMatch(/^urn:imageflowcanvas:problem:/);
    expect(await ts.server.store.list(CLIPS_PREFIX)).toEqual([]);
    expect((await call("GET", "/api/v1/clips")).status).toBe(200);
  });
});

describe("listings skip unreadable manifests", () => {
  it("a corrupt clip manifest and a corrupt recording manifest on disk: both listings answer 200 with the good entries", async () => {
    await ts.server.store.put(`${CLIPS_PREFIX}cccccccccccccccc/manifest.json`, Buffer.from("{broken"));
    await ts.server.store.put("cam9/bad/manifest.json", Buffer.from('{"version":1}'));
    const clips = await call("GET", "/api/v1/clips");
    expect(clips.status).toBe(200);
    expect(clips.json.clips).toEqual([]);
    const recs = await call("GET", "/api/v1/recordings");
    expect(recs.status).toBe(200);
    expect((recs.json.recordings as { recordingId: string }[]).map((r) => r.recordingId)).toEqual(["rec1"]);
    expect(ts.server.catalog.unreadableManifests).toBe(1);
    expect(ts.server.clips.unreadableManifests).toBeGreaterThanOrEqual(1);
    expect(await ts.server.clips.deleteExpired(Number.MAX_SAFE_INTEGER)).toBe(0);
    await ts.server.clips.delete("cccccccccccccccc");
    await ts.server.store.delete("cam9/bad/manifest.json");
  });
});

describe("IFC_MAX_TAGS on every path", () => {
  it("stored recording: exactly the max is accepted, one more is refused 400 with nothing changed", async () => {
    expect((await call("PUT", "/api/v1/recordings/cam1/rec1/tags", { tags: { a: "1", b: "2", c: "3" } })).status).toBe(200);
    const refused = await call("PUT", "/api/v1/recordings/cam1/rec1/tags", { tags: { d: "4" } });
    expect(refused.status).toBe(400);
    expect(refused.json.type).toBe("urn:imageflowcanvas:problem:too-many-tags");
    expect((await readStored(ts.server.store, "cam1", "rec1"))?.tags).toEqual({ a: "1", b: "2", c: "3" });
    // Changing a value of a tag it has is not one more tag.
    expect((await call("PUT", "/api/v1/recordings/cam1/rec1/tags", { tags: { a: "x" } })).json.tags).toEqual({ a: "x", b: "2", c: "3" });
    // A clip carries its recording's tags and its own: together within the max too.
    const clip = await call("POST", "/api/v1/streams/cam1/clips", { from: T0, to: T0 + SEGMENT_MS, tags: { z: "1" } });
    expect(clip.status).toBe(400);
    expect(clip.json.type).toBe("urn:imageflowcanvas:problem:too-many-tags");
    expect(await ts.server.store.list(CLIPS_PREFIX)).toEqual([]);
  });

  it("live recording: repeated start and tag calls stop at the max; the AI path too", async () => {
    const stats = (): StreamStats => ({ protocol: "whip", sessionId: "s1", since: T0, state: "live", reconnects: 0, bitrateBps: 0, packetsReceived: 0, packetsLost: 0, framesReceived: 0, framesDropped: 0, keyframeRequests: 0 });
    const live = ts.server.registry.claim("live1", "s1", { video: { codec: "h264" } }, stats);
    try {
      const started = await call("POST", "/api/v1/streams/live1/recording", { tags: { a: "1" } });
      expect(started.status).toBe(201);
      const id = String(started.json.recordingId);
      expect((await call("POST", "/api/v1/streams/live1/recording", { tags: { b: "2", c: "3" } })).status).toBe(200);
      const more = await call("POST", "/api/v1/streams/live1/recording", { tags: { d: "4" } });
      expect(more.status).toBe(400);
      expect((await call("PUT", `/api/v1/recordings/live1/${id}/tags`, { tags: { e: "5" } })).status).toBe(400);
      expect(ts.server.recorder.tagLive("live1", { f: "6" })).toBeUndefined();
      expect(ts.server.recorder.liveManifest("live1")?.tags).toEqual({ a: "1", b: "2", c: "3" });
      expect((await call("PUT", `/api/v1/recordings/live1/${id}/tags`, { tags: { c: "x" } })).json.tags).toEqual({ a: "1", b: "2", c: "x" });
    } finally {
      ts.server.registry.release(live);
      await ts.server.recorder.flush();
    }
  });
});

describe("clip limits answer their status", () => {
  it("a span over IFC_CLIP_MAX_DURATION_MS is 400; past IFC_CLIP_MAX_COUNT is 409", async () => {
    const long = await call("POST", "/api/v1/streams/cam1/clips", { from: T0, to: T0 + 8001 });
    expect(long.status).toBe(400);
    expect(long.json.type).toBe("urn:imageflowcanvas:problem:clip-too-long");
    expect((await call("POST", "/api/v1/streams/cam1/clips", { from: T0, to: T0 + 8000 })).status).toBe(201);
    expect((await call("POST", "/api/v1/streams/cam1/clips", { from: T0 + 8000, to: T0 + 8000 + SEGMENT_MS })).status).toBe(201);
    const third = await call("POST", "/api/v1/streams/cam1/clips", { from: T0, to: T0 + SEGMENT_MS });
    expect(third.status).toBe(409);
    expect(third.json.type).toBe("urn:imageflowcanvas:problem:clip-limit");
  });

  it("past IFC_CLIP_TOTAL_BYTES is 507", async () => {
    const small = await startTestServer({ clipTotalBytes: 1000 });
    try {
      await storeRecording(small.server.store, "cam1", "rec1", T0, 2, 1000);
      const res = await fetch(`${small.url}/api/v1/streams/cam1/clips`, {
        method: "POST",
        body: JSON.stringify({ from: T0, to: T0 + SEGMENT_MS }),
        headers: { "content-type": "application/json" },
      });
      expect(res.status).toBe(507);
      expect(((await res.json()) as { type: string }).type).toBe("urn:imageflowcanvas:problem:clip-storage-full");
      expect(await small.server.store.list(CLIPS_PREFIX)).toEqual([]);
    } finally {
      await small.stop();
    }
  });
});

describe("an abandoned playback download", () => {
  it("closes every file handle at once and draws no DEP0137 warning", async () => {
    await storeRecording(ts.server.store, "big", "recb", T0, 30, 256 * 1024);
    const openIntoData = (): number =>
      readdirSync("/proc/self/fd").filter((fd) => {
        try {
          return readlinkSync(`/proc/self/fd/${fd}`).startsWith(ts.dataDir);
        } catch {
          return false; // closed while we looked
        }
      }).length;
    const warnings: Error[] = [];
    const onWarning = (w: Error): void => void warnings.push(w);
    process.on("warning", onWarning);
    try {
      const got = await new Promise<number>((resolve, reject) => {
        const req = http.get(`${ts.url}/api/v1/recordings/big/play?start=${new Date(T0).toISOString()}&duration=120`, (res) => {
          res.once("data", (chunk: Buffer) => {
            // mid-way: the first chunk of ~7.5 MB, then the client goes away
            req.destroy();
            resolve(chunk.length);
          });
        });
        req.on("error", (err) => (req.destroyed ? undefined : reject(err)));
      });
      expect(got).toBeGreaterThan(0);
      await waitFor(() => openIntoData() === 0 && ts.server.leases.size === 0, { what: "playback file handles closed and leases released" });
      expect(warnings.filter((w) => (w as { code?: string }).code === "DEP0137")).toEqual([]);
    } finally {
      process.off("warning", onWarning);
    }
  });
});
