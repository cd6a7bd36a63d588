import { mkdtemp, readFile, rm } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import type { FastifyInstance } from "fastify";
import { pino } from "pino";
import { afterEach, beforeAll, beforeEach, describe, expect, it, vi } from "vitest";
import { FsObjectStore } from "../../../src/adapters/storage/fs-object-store.js";
import { createApp } from "../../../src/control/app.js";
import { hlsRoutes, type HlsManifestSource, type HlsRoutesOptions } from "../../../src/distributor/hls/hls-routes.js";
import { ManifestWaiters } from "../../../src/distributor/hls/manifest-waiters.js";
import { nalType } from "../../../src/media/h264-nal.js";
import type { VideoAccessUnit } from "../../../src/media/types.js";
import type { RecordingManifest } from "../../../src/recorder/manifest.js";
import { RecordingCatalog } from "../../../src/recorder/recording-catalog.js";
import { RecordingWriter } from "../../../src/recorder/recording-writer.js";
import { SegmentLeases } from "../../../src/recorder/segment-leases.js";
import { Segmenter } from "../../../src/recorder/segmenter.js";
import { h264Fixture, type EncodedUnit } from "../../support/h264-fixtures.js";
import { waitFor } from "../../support/wait-for.js";

/**
 * The HLS routes over a real recording written frame by frame: the real Segmenter and
 * RecordingWriter fed with x264 access units (30 fps, 1 s GOP: parts of 30 frames, segments of
 * 120) into the fs store, driven by hand so every blocking edge is hit deterministically.
 */

const REC = "20261123T054000123Z-3f9a";
const T0 = Date.UTC(2026, 10, 23, 5, 40, 0, 123);
const FRAME_TICKS = 3000;
const log = pino({ level: "silent" });
const PROBLEM = "urn:imageflowcanvas:problem:";

let units: EncodedUnit[];
beforeAll(async () => {
  units = await h264Fixture({ width: 320, height: 180, fps: 30, seconds: 12, gop: 30 });
});

function toUnit(u: EncodedUnit, index: number): VideoAccessUnit {
  const sps = u.nalus.find((n) => nalType(n) === 7);
  const pps = u.nalus.find((n) => nalType(n) === 8);
  const ms = T0 + (index * FRAME_TICKS) / 90;
  return { kind: "video", codec: "h264", nalus: u.nalus, isKeyframe: u.isKeyframe, rtpTime: index * FRAME_TICKS, arrivalMs: ms, wallClockMs: ms, ...(sps ? { sps } : {}), ...(pps ? { pps } : {}) };
}

/** One live recording of stream "cam1", advanced by hand (what Recorder does per stream). */
class DrivenRecording implements HlsManifestSource {
  private readonly listeners = new Set<(stream: string, m: RecordingManifest) => void>();
  readonly writer: RecordingWriter;
  private readonly segmenter: Segmenter;
  private next = 0;
  private ended = false;

  constructor(store: FsObjectStore) {
    this.writer = new RecordingWriter(store, "cam1", REC, T0, log, (m) => {
      for (const l of this.listeners) l("cam1", m);
    });
    this.segmenter = new Segmenter(
      { segmentDurationMs: 4000, partDurationMs: 1000, keyframeRequestLeadMs: 300, maxSegmentDurationMs: 20000 },
      {
        init: (o) => this.writer.init(o),
        part: (o) => this.writer.part(o),
        segmentClosed: (o) => this.writer.segmentClosed(o),
        requestKeyframe: () => undefined,
      },
    );
  }

  liveManifest(stream: string): RecordingManifest | undefined {
    return stream === "cam1" && !this.ended ? this.writer.manifest : undefined;
  }

  onManifestChange(listener: (stream: string, m: RecordingManifest) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Feeds frames up to (not including) `to`, then waits until everything they produced is stored. */
  async feedTo(to: number): Promise<void> {
    for (; this.next < to; this.next++) this.segmenter.video(toUnit(units[this.next] as EncodedUnit, this.next));
    await this.writer.flush();
  }

  async end(): Promise<void> {
    this.ended = true;
    this.segmenter.finish();
    await this.writer.close(T0 + 60_000);
  }
}

interface Harness {
  app: FastifyInstance;
  rec: DrivenRecording;
  dir: string;
  leases: SegmentLeases;
  get(url: string, headers?: Record<string, string>): Promise<{ status: number; headers: Record<string, unknown>; body: string; raw: Buffer; json: () => { type: string } }>;
}

const open: { app: FastifyInstance; dir: string }[] = [];
afterEach(async () => {
  for (const h of open.splice(0)) {
    await h.app.close(); // a no-op when the test closed it already
    await rm(h.dir, { recursive: true, force: true });
  }
});

const PLAYER_ORIGIN = "https://player.example";

async function harness(opts: Partial<HlsRoutesOptions> = {}): Promise<Harness> {
  const dir = await mkdtemp(path.join(tmpdir(), "ifc-hls-"));
  const store = new FsObjectStore(dir);
  await store.init();
  const rec = new DrivenRecording(store);
  const leases = new SegmentLeases();
  const catalog = new RecordingCatalog(store, (s) => rec.liveManifest(s), leases);
  const app = createApp({ logger: log, bodyLimit: 1024, corsOrigins: [PLAYER_ORIGIN] });
  await app.register(hlsRoutes, { recorder: rec, catalog, store, leases, blockingReloadTimeoutMs: 2000, ...opts });
  await app.ready();
  open.push({ app, dir });
  const get: Harness["get"] = async (url, headers = {}) => {
    const res = await app.inject({ method: "GET", url, headers });
    return { status: res.statusCode, headers: res.headers, body: res.body, raw: res.rawPayload, json: () => res.json() };
  };
  return { app, rec, dir, leases, get };
}

/**
 * Whether a request is held is read from the routes' own ManifestWaiters (the real class, spied
 * on only to find the instance): a test waits until the request is held rather than guessing
 * with a timer, and a request that should answer at once is one that never asked to wait.
 */
const waitSpy = vi.spyOn(ManifestWaiters.prototype, "wait");
beforeEach(() => {
  waitSpy.mockClear(); // (in braces: a function returned from beforeEach would be run as its teardown)
});
/** Requests of cam1 held right now. */
const heldNow = (): number => (waitSpy.mock.contexts.at(-1) as ManifestWaiters | undefined)?.count("cam1") ?? 0;
const untilHeld = (n: number): Promise<void> => waitFor(() => heldNow() === n, { what: `${n} request(s) held` });
/** A promise that also says whether it has settled. */
function track<T>(p: Promise<T>): Promise<T> & { settled: boolean } {
  const t = Object.assign(p, { settled: false });
  void p.then(() => (t.settled = true), () => (t.settled = true));
  return t;
}

const playlistUrl = "/hls/cam1/index.m3u8";
const media = (file: string): string => `/hls/cam1/${REC}/${file}`;

describe("live playlist", () => {
  it("is 404 for a stream that is not live, and until the first part is stored", async () => {
    const h = await harness();
    const none = await h.get("/hls/cam2/index.m3u8");
    expect(none.status).toBe(404);
    expect(none.json().type).toBe(`${PROBLEM}stream-not-found`);
    await h.rec.feedTo(1); // the init is stored, no part yet
    const early = await h.get(playlistUrl);
    expect(early.status).toBe(404);
    expect(early.headers["content-type"]).toMatch(/^application\/problem\+json/);
    expect(early.json().type).toBe(`${PROBLEM}playlist-not-ready`);
    const bad = await h.get("/hls/bad.name/index.m3u8");
    expect(bad.status).toBe(400);
    expect(bad.json().type).toBe(`${PROBLEM}invalid-stream-name`);
  });

  it("carries ?token= onto every URI of the playlist (players that cannot set headers)", async () => {
    const h = await harness();
    await h.rec.feedTo(75);
    const res = await h.get(`${playlistUrl}?token=vt.abc`);
    expect(res.status).toBe(200);
    const uris = [...res.body.matchAll(/URI="([^"]+)"/g)].map((m) => m[1]!);
    const lines = res.body.split("\n").filter((l) => l !== "" && !l.startsWith("#"));
    expect(uris.length).toBeGreaterThan(2);
    for (const u of [...uris, ...lines]) expect(u).toMatch(/\?token=vt\.abc$/);
    // without a token, nothing is added
    expect((await h.get(playlistUrl)).body).not.toContain("token=");
  });

  it("lists the stored parts with a preload hint, as an uncached LL-HLS playlist", async () => {
    const h = await harness();
    await h.rec.feedTo(75); // parts 0/0 and 0/1 stored
    const res = await h.get(playlistUrl, { origin: PLAYER_ORIGIN });
    expect(res.status).toBe(200);
    expect(res.headers["content-type"]).toBe("application/vnd.apple.mpegurl");
    expect(res.headers["cache-control"]).toBe("no-cache");
    // The allowed origin is echoed (never *), and caches key on it.
    expect(res.headers["access-control-allow-origin"]).toBe(PLAYER_ORIGIN);
    expect(res.headers["vary"]).toMatch(/origin/i);
    expect(res.body).toContain(`#EXT-X-MAP:URI="${REC}/init-0.mp4"`);
    expect(res.body).toContain(`#EXT-X-PART:DURATION=1.000,URI="${REC}/000000-01.m4s",INDEPENDENT=YES`);
    expect(res.body).toContain(`#EXT-X-PRELOAD-HINT:TYPE=PART,URI="${REC}/000000-02.m4s"`);
  });

  it("holds a blocking reload until the asked part is stored, then answers at once", async () => {
    const h = await harness();
    await h.rec.feedTo(75);
    const held = track(h.get(`${playlistUrl}?_HLS_msn=0&_HLS_part=2`));
    await untilHeld(1);
    await h.rec.feedTo(89); // frames of part 2, but it is not closed yet
    expect(heldNow()).toBe(1); // every manifest change so far has been seen: still held
    expect(held.settled).toBe(false);
    await h.rec.feedTo(91); // frame 90 closes part 2
    const res = await held;
    expect(res.status).toBe(200);
    expect(res.body).toContain(`URI="${REC}/000000-02.m4s"`);
    expect(res.body).toContain(`#EXT-X-PRELOAD-HINT:TYPE=PART,URI="${REC}/000000-03.m4s"`);
    expect(res.headers["cache-control"]).toBe("public, max-age=6");
    // what is already there answers without waiting
    const waitsBefore = waitSpy.mock.calls.length;
    expect((await h.get(`${playlistUrl}?_HLS_msn=0&_HLS_part=1`)).status).toBe(200);
    expect(waitSpy.mock.calls.length).toBe(waitsBefore);
  });

  it("holds _HLS_msn alone until that segment is complete", async () => {
    const h = await harness();
    await h.rec.feedTo(100);
    const held = track(h.get(`${playlistUrl}?_HLS_msn=0`));
    await untilHeld(1);
    await h.rec.feedTo(119);
    expect(heldNow()).toBe(1);
    expect(held.settled).toBe(false);
    await h.rec.feedTo(121); // frame 120 is the IDR that closes segment 0
    const res = await held;
    expect(res.status).toBe(200);
    expect(res.body).toContain("#EXTINF:4.000,\n" + `${REC}/000000.m4s`);
  });

  it("answers 400 past two segments ahead or past the Advance Part Limit, and holds at the edge", async () => {
    const h = await harness({ blockingReloadTimeoutMs: 200 });
    await h.rec.feedTo(151); // segment 0 complete; segment 1 open with part 1/0 stored
    const tooFar = await h.get(`${playlistUrl}?_HLS_msn=4`);
    expect(tooFar.status).toBe(400);
    expect(tooFar.json().type).toBe(`${PROBLEM}blocking-request-too-far`);
    expect((await h.get(`${playlistUrl}?_HLS_msn=999999&_HLS_part=0`)).status).toBe(400);
    expect((await h.get(`${playlistUrl}?_HLS_msn=1&_HLS_part=4`)).status).toBe(400); // last part 1/0 + 3 < 4
    // at the edges the request is held (and times out here, nothing more is recorded)
    expect((await h.get(`${playlistUrl}?_HLS_msn=2`)).status).toBe(503);
    expect((await h.get(`${playlistUrl}?_HLS_msn=1&_HLS_part=3`)).status).toBe(503);
  });

  it("refuses malformed blocking directives with 400", async () => {
    const h = await harness();
    await h.rec.feedTo(31);
    for (const q of ["_HLS_part=1", "_HLS_msn=-1", "_HLS_msn=abc", "_HLS_msn=1&_HLS_part=1.5", `_HLS_msn=${"9".repeat(17)}`]) {
      const res = await h.get(`${playlistUrl}?${q}`);
      expect(res.status, q).toBe(400);
      expect(res.headers["content-type"], q).toMatch(/^application\/problem\+json/);
    }
    expect((await h.get(`${playlistUrl}?_HLS_msn=abc`)).json().type).toBe(`${PROBLEM}invalid-blocking-request`);
  });

  it("gives up after blockingReloadTimeoutMs with 503, not before", async () => {
    const h = await harness({ blockingReloadTimeoutMs: 300 });
    await h.rec.feedTo(31);
    const t0 = performance.now();
    const res = await h.get(`${playlistUrl}?_HLS_msn=0&_HLS_part=1`);
    const elapsed = performance.now() - t0;
    expect(res.status).toBe(503);
    expect(res.json().type).toBe(`${PROBLEM}blocking-reload-timeout`);
    expect(res.headers["retry-after"]).toBe("1");
    expect(waitSpy.mock.calls[0]?.[2]).toBe(300); // held for the configured time …
    // … and not less (a timer never fires early; a busy machine only makes it later, so there
    // is no upper bound here: a request held forever fails on the test's own timeout)
    expect(elapsed).toBeGreaterThanOrEqual(295);
  });

  it("holds at most maxBlockedRequests per stream: one more is 503 at once", async () => {
    const h = await harness({ maxBlockedRequests: 2 });
    await h.rec.feedTo(31);
    const a = h.get(`${playlistUrl}?_HLS_msn=0&_HLS_part=1`);
    const b = h.get(media("000000-01.m4s")); // a preload-hinted part counts too
    await untilHeld(2);
    const c = await h.get(`${playlistUrl}?_HLS_msn=0&_HLS_part=1`);
    expect(c.status).toBe(503);
    expect(c.json().type).toBe(`${PROBLEM}too-many-blocked-requests`);
    await h.rec.feedTo(61);
    expect((await a).status).toBe(200);
    expect((await b).status).toBe(200);
    // the slots are free again
    expect(heldNow()).toBe(0);
    const d = h.get(`${playlistUrl}?_HLS_msn=0&_HLS_part=2`);
    await untilHeld(1);
    await h.rec.feedTo(91);
    expect((await d).status).toBe(200);
  });

  it("frees the slot of a client that went away", async () => {
    const h = await harness({ maxBlockedRequests: 1 });
    await h.rec.feedTo(31);
    const url = await h.app.listen({ host: "127.0.0.1", port: 0 });
    const abort = new AbortController();
    const gone = fetch(`${url}${playlistUrl}?_HLS_msn=0&_HLS_part=1`, { signal: abort.signal }).catch((e: unknown) => e);
    await untilHeld(1);
    expect((await fetch(`${url}${playlistUrl}?_HLS_msn=0&_HLS_part=1`)).status).toBe(503); // the one slot is held
    abort.abort();
    expect(await gone).toBeInstanceOf(Error);
    await untilHeld(0); // the server saw the socket close and let the slot go
    const next = fetch(`${url}${playlistUrl}?_HLS_msn=0&_HLS_part=1`);
    await untilHeld(1);
    await h.rec.feedTo(61);
    expect((await next).status).toBe(200);
  });

  it("answers a held request with ENDLIST when the recording ends, and 404 afterwards", async () => {
    const h = await harness();
    await h.rec.feedTo(100);
    const held = h.get(`${playlistUrl}?_HLS_msn=1&_HLS_part=0`);
    await untilHeld(1);
    await h.rec.end();
    const res = await held;
    expect(res.status).toBe(200);
    expect(res.body).toContain("#EXTINF:");
    expect(res.body.endsWith("#EXT-X-ENDLIST\n")).toBe(true);
    expect(res.body).not.toContain("PRELOAD-HINT");
    expect((await h.get(playlistUrl)).json().type).toBe(`${PROBLEM}stream-not-found`);
  });

  it("releases held requests with 503 when the server closes", async () => {
    const h = await harness();
    await h.rec.feedTo(31);
    const held = h.get(`${playlistUrl}?_HLS_msn=0&_HLS_part=1`);
    await untilHeld(1);
    await h.app.close();
    const res = await held;
    // released by the close, not by its 2 s blocking timeout (that answer's type differs)
    expect(res.status).toBe(503);
    expect(res.json().type).toBe(`${PROBLEM}shutting-down`);
  });

  it("refuses options outside their range at registration", async () => {
    for (const bad of [{ windowSegments: 0 }, { maxBlockedRequests: 0 }, { blockingReloadTimeoutMs: 0 }, { partSegments: -1 }, { partDurationMs: 1.5 }]) {
      await expect(harness(bad), JSON.stringify(bad)).rejects.toThrow(RangeError);
    }
  });
});

describe("media objects", () => {
  it("serves init, parts and whole segments from the recording, immutable", async () => {
    const h = await harness();
    await h.rec.feedTo(125);
    const m = h.rec.writer.manifest;
    const init = await h.get(media("init-0.mp4"));
    expect(init.status).toBe(200);
    expect(init.headers["content-type"]).toBe("video/mp4");
    expect(init.headers["cache-control"]).toBe("public, max-age=31536000, immutable");
    expect(init.raw.equals(await readFile(path.join(h.dir, m.inits[0]?.key as string)))).toBe(true);

    const part = await h.get(media("000000-02.m4s"));
    expect(part.status).toBe(200);
    expect(part.headers["content-type"]).toBe("video/iso.segment");
    expect(part.headers["cache-control"]).toBe("public, max-age=31536000, immutable");
    expect(Number(part.headers["content-length"])).toBe(m.segments[0]?.parts[2]?.bytes);
    expect(part.raw.equals(await readFile(path.join(h.dir, m.segments[0]?.parts[2]?.key as string)))).toBe(true);

    const seg = await h.get(media("000000.m4s"));
    expect(seg.status).toBe(200);
    expect(seg.headers["content-type"]).toBe("video/iso.segment");
    const parts = await Promise.all((m.segments[0]?.parts ?? []).map((p) => readFile(path.join(h.dir, p.key))));
    expect(parts.length).toBe(4);
    expect(Number(seg.headers["content-length"])).toBe(m.segments[0]?.bytes);
    expect(seg.raw.equals(Buffer.concat(parts))).toBe(true);
    expect(h.leases.size).toBe(0); // released once sent

    const head = await h.app.inject({ method: "HEAD", url: media("000000.m4s") });
    expect(head.statusCode).toBe(200);
    expect(Number(head.headers["content-length"])).toBe(m.segments[0]?.bytes);
    expect(head.rawPayload.length).toBe(0);
    await waitFor(() => h.leases.size === 0, { what: "the HEAD's lease released" });
  });

  it("does not serve the open segment as a whole (only its parts are listed)", async () => {
    const h = await harness();
    await h.rec.feedTo(75);
    const res = await h.get(media("000000.m4s"));
    expect(res.status).toBe(404);
    expect(res.json().type).toBe(`${PROBLEM}media-not-found`);
  });

  it("answers a preload-hinted part once it is stored", async () => {
    const h = await harness();
    await h.rec.feedTo(75);
    const held = track(h.get(media("000000-02.m4s")));
    await untilHeld(1);
    await h.rec.feedTo(89);
    expect(heldNow()).toBe(1);
    expect(held.settled).toBe(false);
    await h.rec.feedTo(91);
    const res = await held;
    expect(res.status).toBe(200);
    expect(res.raw.equals(await readFile(path.join(h.dir, h.rec.writer.manifest.segments[0]?.parts[2]?.key as string)))).toBe(true);
  });

  it("answers 404 for a hinted part that can no longer come (its segment closed without it)", async () => {
    const h = await harness();
    await h.rec.feedTo(95); // parts 0..2 of segment 0; the IDR at frame 120 will close it with part 3
    const held = track(h.get(media("000000-04.m4s")));
    await untilHeld(1);
    await h.rec.feedTo(119);
    expect(heldNow()).toBe(1);
    expect(held.settled).toBe(false);
    await h.rec.feedTo(121);
    const res = await held;
    expect(res.status).toBe(404);
    expect(res.json().type).toBe(`${PROBLEM}media-not-found`);
    // beyond the Advance Part Limit it is 404 at once
    expect((await h.get(media("000001-03.m4s"))).status).toBe(404);
    expect((await h.get(media("000009-00.m4s"))).status).toBe(404);
  });

  it("serves an ended recording from its stored manifest", async () => {
    const h = await harness();
    await h.rec.feedTo(200);
    await h.rec.end();
    const m = h.rec.writer.manifest;
    expect(m.segments.length).toBe(2);
    const seg = await h.get(media("000001.m4s"));
    expect(seg.status).toBe(200);
    expect(Number(seg.headers["content-length"])).toBe(m.segments[1]?.bytes);
    expect((await h.get(media("000000-03.m4s"))).status).toBe(200);
    expect((await h.get(media("000001-09.m4s"))).status).toBe(404);
  });

  it("validates names strictly: 400 for anything not an object name of a recording, 404 for unknown ones", async () => {
    const h = await harness();
    await h.rec.feedTo(31);
    for (const url of [
      media("manifest.json"), media("..%2Fmanifest.json"), media("init-0.mp4%00"), media("0000000.m4s"), media("000000-0.m4s"),
      `/hls/cam1/..%2F..%2Fetc/init-0.mp4`, `/hls/cam1/a.b/init-0.mp4`, `/hls/clips/${REC}/init-0.mp4`,
    ]) {
      const res = await h.get(url);
      expect(res.status, url).toBe(400);
      expect(res.headers["content-type"], url).toMatch(/^application\/problem\+json/);
      expect(res.json().type, url).toMatch(/^urn:imageflowcanvas:problem:(invalid-media-name|invalid-stream-name)$/);
    }
    const other = await h.get(`/hls/cam1/20000101T000000000Z-0000/init-0.mp4`);
    expect(other.status).toBe(404);
    expect(other.json().type).toBe(`${PROBLEM}recording-not-found`);
    expect((await h.get(media("init-1.mp4"))).json().type).toBe(`${PROBLEM}media-not-found`);
    // a stream's recording is not reachable under another stream's name
    expect((await h.get(`/hls/cam2/${REC}/init-0.mp4`)).status).toBe(404);
  });
});

describe("VOD playlist", () => {
  it("lists the complete segments of a span, cacheable once the recording ended", async () => {
    const h = await harness();
    await h.rec.feedTo(250); // segments 0 and 1 complete, 2 open
    const live = await h.get(`/hls/cam1/vod.m3u8?start=${T0}&duration=60`);
    expect(live.status).toBe(200);
    expect(live.headers["cache-control"]).toBe("no-cache");
    expect(live.body.match(/#EXTINF/g)?.length).toBe(2);
    await h.rec.end();
    const res = await h.get(`/hls/cam1/vod.m3u8?start=${new Date(T0).toISOString()}&duration=60`);
    expect(res.status).toBe(200);
    expect(res.headers["content-type"]).toBe("application/vnd.apple.mpegurl");
    expect(res.headers["cache-control"]).toBe("public, max-age=3600");
    expect(res.body).toContain("#EXT-X-PLAYLIST-TYPE:VOD");
    expect(res.body.match(/#EXTINF/g)?.length).toBe(3);
    expect(res.body.endsWith("#EXT-X-ENDLIST\n")).toBe(true);
    // a span in the middle starts at the segment holding its start
    const mid = await h.get(`/hls/cam1/vod.m3u8?start=${T0 + 5000}&duration=1`);
    expect(mid.body).toContain("#EXT-X-MEDIA-SEQUENCE:1");
    expect(mid.body.match(/#EXTINF/g)?.length).toBe(1);
  });

  it("validates start and duration as playback does, and limits the duration at playMaxDurationMs", async () => {
    const h = await harness({ playMaxDurationMs: 10_000 });
    await h.rec.feedTo(151); // segment 0 complete, segment 1 open with one part
    expect((await h.get(`/hls/cam1/vod.m3u8?start=${T0}&duration=10`)).status).toBe(200);
    const tooLong = await h.get(`/hls/cam1/vod.m3u8?start=${T0}&duration=10.001`);
    expect(tooLong.status).toBe(400);
    expect(tooLong.json().type).toBe(`${PROBLEM}duration-too-long`);
    expect((await h.get(`/hls/cam1/vod.m3u8?start=yesterday&duration=5`)).json().type).toBe(`${PROBLEM}invalid-time`);
    expect((await h.get(`/hls/cam1/vod.m3u8?start=${T0}`)).status).toBe(400);
    expect((await h.get(`/hls/cam1/vod.m3u8?start=${T0}&duration=0`)).status).toBe(400);
    const none = await h.get(`/hls/cam1/vod.m3u8?start=2000-01-01T00:00:00Z&duration=5`);
    expect(none.status).toBe(404);
    expect(none.json().type).toBe(`${PROBLEM}recording-not-found`);
    // only the open segment covers it: nothing fixed to list yet
    expect((await h.get(`/hls/cam1/vod.m3u8?start=${T0 + 4100}&duration=0.5`)).status).toBe(404);
  });
});
