import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import type { RecordingManifest } from "../../src/recorder/manifest.js";
import { publishTestStream, type TestStreamPublisher } from "../helpers/publish-test-stream.js";
import { expectNoIngestLoss } from "../support/ingest-accounting.js";
import { decodeErrors, probeStreams, probeVideoFrames } from "../support/recording-probe.js";
import { startTestServer, type TestServer } from "../support/server-harness.js";
import { waitFor } from "../support/wait-for.js";

/**
 * HLS and LL-HLS from the recorder's own parts: a werift WHIP client fed by ffmpeg (640x360@30,
 * 1 s GOP, Opus) publishes 12 s. While it is live, ffmpeg plays the live playlist and blocking
 * reloads and preload hints are answered as parts are stored; afterwards the VOD playlist of the
 * recorded span decodes to exactly the frames that were sent.
 */

const execFileAsync = promisify(execFile);
const PROBLEM = "urn:imageflowcanvas:problem:";

let ts: TestServer;
let pub: TestStreamPublisher | undefined;
let live: string;

beforeAll(async () => {
  ts = await startTestServer();
  live = `${ts.url}/hls/cam1/index.m3u8`;
  pub = await publishTestStream(`${ts.url}/whip/cam1`, { width: 640, height: 360, fps: 30, gopSeconds: 1, durationSeconds: 12, audio: true });
  // The playlist exists from the first stored part...
  await waitFor(async () => (await fetch(live)).status === 200, { timeoutMs: 10_000, intervalMs: 100, what: "a live playlist after publishing started" });
}, 60_000);

afterAll(async () => {
  await pub?.stop();
  await ts?.stop();
});

/** The preload hint of a playlist as the segment seq and part it names. */
function hint(playlist: string): { uri: string; seq: number; part: number } {
  const m = /#EXT-X-PRELOAD-HINT:TYPE=PART,URI="([^"]+\/(\d{6,})-(\d{2,})\.m4s)"/.exec(playlist);
  if (!m) throw new Error(`no preload hint in:\n${playlist}`);
  return { uri: m[1] as string, seq: Number(m[2]), part: Number(m[3]) };
}

function liveManifest(): RecordingManifest {
  const m = ts.server.recorder.liveManifest("cam1");
  if (!m) throw new Error("cam1 is not being recorded");
  return m;
}

function isStored(seq: number, part: number): boolean {
  return liveManifest().segments.find((s) => s.seq === seq)?.parts[part] !== undefined;
}

/** The live playlist's preload hint, checked to be not stored yet (refetched in the rare case it just was). */
async function unstoredHint(): Promise<ReturnType<typeof hint>> {
  for (let i = 0; i < 3; i++) {
    const next = hint(await (await fetch(live)).text());
    if (!isStored(next.seq, next.part)) return next;
  }
  throw new Error("the hinted part was always stored already");
}

async function timed(url: string): Promise<{ res: Response; body: Buffer; ms: number }> {
  const t0 = performance.now();
  const res = await fetch(url);
  const body = Buffer.from(await res.arrayBuffer());
  return { res, body, ms: performance.now() - t0 };
}

describe("LL-HLS while the stream is live", () => {
  it("plays the live playlist with ffmpeg over HTTP", async () => {
    // a blocking reload for segment 0 returns once it is complete
    const first = await fetch(`${live}?_HLS_msn=0`);
    expect(first.status).toBe(200);
    expect(first.headers.get("content-type")).toBe("application/vnd.apple.mpegurl");
    const playlist = await first.text();
    expect(playlist).toMatch(/#EXTINF:4\.0\d\d,\n[^\n]+\/000000\.m4s\n/);
    const { stdout, stderr } = await execFileAsync("ffmpeg", ["-nostdin", "-v", "error", "-i", live, "-t", "3", "-map", "0:v:0", "-map", "0:a:0", "-f", "framecrc", "-"], {
      timeout: 20_000,
      maxBuffer: 16 * 1024 * 1024,
    });
    expect(stderr.trim()).toBe("");
    const lines = stdout.split("\n").filter((l) => /^\d+,/.test(l));
    const video = lines.filter((l) => l.startsWith("0,")).length;
    const audio = lines.filter((l) => l.startsWith("1,")).length;
    console.log(`live playlist via ffmpeg: ${video} video frames, ${audio} audio frames in 3 s`);
    expect(video).toBeGreaterThanOrEqual(88);
    expect(video).toBeLessThanOrEqual(91);
    expect(audio).toBeGreaterThanOrEqual(140);
  });

  // How soon a held request answers once its part is stored is asserted without a clock in
  // test/unit/distributor/hls-routes.test.ts; here, that it is held and answered with the part.
  it("holds a blocking reload for the next part and answers once it is stored", async () => {
    const next = await unstoredHint();
    const { res, body, ms } = await timed(`${live}?_HLS_msn=${next.seq}&_HLS_part=${next.part}`);
    console.log(`blocking reload for part ${next.seq}/${next.part}: ${ms.toFixed(0)} ms`);
    expect(res.status).toBe(200);
    expect(body.toString()).toContain(`URI="${next.uri}"`);
    expect(body.toString()).toMatch(new RegExp(`#EXT-X-PART:DURATION=[\\d.]+,URI="${next.uri}"`));
    const part = await fetch(`${ts.url}/hls/cam1/${next.uri}`);
    expect(part.status).toBe(200);
    expect(part.headers.get("content-type")).toBe("video/iso.segment");
    expect(part.headers.get("cache-control")).toBe("public, max-age=31536000, immutable");
  });

  it("holds a request for the preload-hinted part until it is stored", async () => {
    const next = await unstoredHint();
    const { res, body, ms } = await timed(`${ts.url}/hls/cam1/${next.uri}`);
    console.log(`preload-hinted part ${next.seq}/${next.part}: ${ms.toFixed(0)} ms`);
    expect(res.status).toBe(200);
    const stored = liveManifest().segments.find((s) => s.seq === next.seq)?.parts[next.part];
    expect(body.length).toBe(stored?.bytes);
    expect(Number(res.headers.get("content-length"))).toBe(stored?.bytes);
    expect(body.subarray(4, 8).toString("latin1")).toBe("moof");
  });

  it("answers 400 for a blocking reload far beyond what can arrive in time", async () => {
    for (const q of ["_HLS_msn=999999", "_HLS_msn=999999&_HLS_part=0"]) {
      const { res, body } = await timed(`${live}?${q}`);
      expect(res.status, q).toBe(400);
      expect(res.headers.get("content-type")).toMatch(/^application\/problem\+json/);
      // refused before holding: a held request would answer 200 with the part or 503 at its timeout
      expect((JSON.parse(body.toString()) as { type: string }).type).toBe(`${PROBLEM}blocking-request-too-far`);
    }
    const bad = await fetch(`${live}?_HLS_part=1`);
    expect(bad.status).toBe(400);
    expect(((await bad.json()) as { type: string }).type).toBe(`${PROBLEM}invalid-blocking-request`);
  });
});

describe("after the stream ended", () => {
  let sent: { videoFrames: number; audioPackets: number };
  let span: { startMs: number; durationMs: number; recordingId: string };

  beforeAll(async () => {
    const p = pub as TestStreamPublisher;
    await p.done;
    // every packet sent reached the server (none lost on the way): the exact count below holds
    await expectNoIngestLoss(ts.url, "cam1", p.stats);
    sent = { ...p.stats };
    await p.stop();
    pub = undefined;
    await ts.server.recorder.flush();
    const list = (await (await fetch(`${ts.url}/api/v1/recordings?stream=cam1`)).json()) as { recordings: (typeof span)[] };
    expect(list.recordings.length).toBe(1);
    span = list.recordings[0] as typeof span;
  }, 60_000);

  it("no longer has a live playlist", async () => {
    const res = await fetch(live);
    expect(res.status).toBe(404);
    expect(((await res.json()) as { type: string }).type).toBe(`${PROBLEM}stream-not-found`);
  });

  it("serves a VOD playlist of the recorded span that decodes to exactly the frames sent", async () => {
    const vod = `${ts.url}/hls/cam1/vod.m3u8?start=${new Date(span.startMs).toISOString()}&duration=${Math.ceil(span.durationMs / 1000)}`;
    const res = await fetch(vod);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("application/vnd.apple.mpegurl");
    expect(res.headers.get("cache-control")).toBe("public, max-age=3600");
    const playlist = await res.text();
    expect(playlist).toContain("#EXT-X-PLAYLIST-TYPE:VOD");
    expect(playlist.endsWith("#EXT-X-ENDLIST\n")).toBe(true);
    expect(playlist.match(/#EXTINF/g)?.length).toBeGreaterThanOrEqual(3);

    const t0 = performance.now();
    const frames = await probeVideoFrames(vod);
    console.log(`VOD: ${frames.length} frames decoded (sent ${sent.videoFrames}) in ${(performance.now() - t0).toFixed(0)} ms`);
    expect(frames.length).toBe(sent.videoFrames);
    expect(frames[0]?.keyFrame).toBe(true);
    for (let i = 1; i < frames.length; i++) expect((frames[i]?.ptsTime ?? 0) > (frames[i - 1]?.ptsTime ?? 0), `pts at frame ${i}`).toBe(true);
    expect(frames.every((f) => f.width === 640 && f.height === 360)).toBe(true);
    expect(await decodeErrors(vod)).toBe("");
    const streams = await probeStreams(vod);
    expect(streams.map((s) => s.codec_name).sort()).toEqual(["h264", "opus"]);
    const audio = streams.find((s) => s.codec_type === "audio");
    expect(Number(audio?.nb_read_packets)).toBeGreaterThan(sent.audioPackets - 10);
    expect(Number(audio?.nb_read_packets)).toBeLessThanOrEqual(sent.audioPackets);
  });

  it("serves a whole segment as its parts concatenated", async () => {
    const res = await fetch(`${ts.url}/hls/cam1/${span.recordingId}/000001.m4s`);
    expect(res.status).toBe(200);
    expect(res.headers.get("content-type")).toBe("video/iso.segment");
    const body = Buffer.from(await res.arrayBuffer());
    expect(body.length).toBe(Number(res.headers.get("content-length")));
    const parts = await Promise.all([0, 1, 2, 3].map(async (i) => Buffer.from(await (await fetch(`${ts.url}/hls/cam1/${span.recordingId}/000001-0${i}.m4s`)).arrayBuffer())));
    expect(body.equals(Buffer.concat(parts))).toBe(true);
  });

  it("answers errors as problem+json: unknown stream 404, bad names 400, unknown objects 404", async () => {
    const cases: [string, number, string][] = [
      ["/hls/nosuchstream/index.m3u8", 404, "stream-not-found"],
      ["/hls/bad%20name/index.m3u8", 400, "invalid-stream-name"],
      [`/hls/cam1/${span.recordingId}/manifest.json`, 400, "invalid-media-name"],
      [`/hls/cam1/${span.recordingId}/..%2F..%2Fcam1.json`, 400, "invalid-media-name"],
      [`/hls/cam1/..%2Fcam1/init-0.mp4`, 400, "invalid-media-name"],
      [`/hls/cam1/${span.recordingId}/000001-1.m4s`, 400, "invalid-media-name"],
      [`/hls/cam1/${span.recordingId}/009999.m4s`, 404, "media-not-found"],
      [`/hls/cam1/${span.recordingId}/init-7.mp4`, 404, "media-not-found"],
      ["/hls/cam1/20000101T000000000Z-0000/init-0.mp4", 404, "recording-not-found"],
      ["/hls/nosuchstream/vod.m3u8?start=2000-01-01T00:00:00Z&duration=5", 404, "recording-not-found"],
      ["/hls/cam1/vod.m3u8?start=yesterday&duration=5", 400, "invalid-time"],
      [`/hls/cam1/vod.m3u8?start=${span.startMs}&duration=999999`, 400, "duration-too-long"],
    ];
    for (const [url, status, slug] of cases) {
      const res = await fetch(`${ts.url}${url}`);
      expect(res.status, url).toBe(status);
      expect(res.headers.get("content-type"), url).toMatch(/^application\/problem\+json/);
      expect(((await res.json()) as { type: string }).type, url).toBe(`${PROBLEM}${slug}`);
    }
  });
});
