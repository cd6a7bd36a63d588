import { execFile } from "node:child_process";
import { writeFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { whepWatch } from "../helpers/whep-client.js";
import { decodeErrors, probeVideoFrames } from "../support/recording-probe.js";
import { ffmpegRtspPush, type RtspPush } from "../support/rtsp-ffmpeg.js";
import { startTestServer, type TestServer } from "../support/server-harness.js";
import { waitForValue } from "../support/wait-for.js";

/**
 * An RTSP-published stream is a first-class stream (issue 13): ffmpeg pushes H.264 over RTSP
 * (TCP interleaved) and the stream plays over WHEP (a werift viewer decodes it), over LL-HLS
 * (the live playlist has parts, a segment decodes) and is decoded for the AI feed like a WHIP
 * stream (the bundled reference worker answers frames); and it reads back over RTSP.
 */
const execFileAsync = promisify(execFile);
const NAME = "rtspcam";
const W = 640;
const H = 360;
let ts: TestServer;
let push: RtspPush;
/** Watched from the start: the feed's worker starts while the other checks run, within the 10 s pushed. */
let aiFed: Promise<AiStats>;

interface AiStats { state: string; framesSent: number; results: number }

beforeAll(async () => {
  ts = await startTestServer({ aiEnabled: true, recordByDefault: true });
  const port = ts.server.rtsp?.port;
  push = ffmpegRtspPush(`rtsp://127.0.0.1:${port}/${NAME}`, { transport: "tcp", width: W, height: H, fps: 30, seconds: 10, gop: 30 });
  await waitForValue(() => ts.server.registry.get(NAME)?.state === "live" || undefined, { timeoutMs: 20_000, what: "the RTSP stream live" });
  aiFed = waitForValue(async () => {
    const res = await fetch(`${ts.url}/api/v1/streams/${NAME}/ai`);
    const stats = res.status === 200 ? ((await res.json()) as AiStats) : undefined;
    return (stats?.results ?? 0) >= 5 ? stats : undefined;
  }, { timeoutMs: 30_000, intervalMs: 200, what: "AI results for the RTSP stream" });
  aiFed.catch(() => undefined); // awaited (and reported) by its test
}, 60_000);

afterAll(async () => {
  await push?.kill();
  await ts?.stop();
});

describe("an RTSP-published stream (ffmpeg push over TCP)", () => {
  it("plays over WHEP: a werift viewer gets decodable H.264 from a keyframe on", async () => {
    const viewer = await whepWatch(`${ts.url}/whep/${NAME}`, { keepAnnexB: true, audio: false });
    try {
      await viewer.waitUnits(30, 30_000);
      expect(viewer.units[0]?.isKeyframe).toBe(true);
      const file = path.join(ts.dataDir, "whep.h264");
      await writeFile(file, viewer.annexB());
      expect(await decodeErrors(file)).toBe("");
      const frames = await probeVideoFrames(file);
      expect(frames.length).toBeGreaterThanOrEqual(30);
      expect(frames[0]).toMatchObject({ keyFrame: true, width: W, height: H });
    } finally {
      await viewer.close();
    }
  });

  it("is read back over RTSP: ffmpeg (TCP) gets decodable H.264 from a keyframe, SPS/PPS from the DESCRIBE and in band", async () => {
    const file = path.join(ts.dataDir, "rtsp-back.mkv");
    await execFileAsync("ffmpeg", ["-hide_banner", "-loglevel", "error", "-nostdin", "-rtsp_transport", "tcp", "-i", `rtsp://127.0.0.1:${ts.server.rtsp?.port}/${NAME}`, "-t", "2", "-c", "copy", "-y", file], { timeout: 30_000 });
    expect(await decodeErrors(file)).toBe("");
    const frames = await probeVideoFrames(file);
    expect(frames.length).toBeGreaterThanOrEqual(30);
    expect(frames[0]).toMatchObject({ keyFrame: true, width: W, height: H });
  });

  it("plays over LL-HLS: the live playlist has parts, and its first segment decodes", async () => {
    const live = `${ts.url}/hls/${NAME}/index.m3u8`;
    // A blocking reload for segment 1 returns once segment 0 is complete and 1 has begun.
    const playlist = await waitForValue(async () => {
      const res = await fetch(`${live}?_HLS_msn=1`);
      return res.status === 200 ? res.text() : undefined;
    }, { timeoutMs: 20_000, intervalMs: 200, what: "the live playlist" });
    expect(playlist).toMatch(/#EXT-X-PART:DURATION=[\d.]+,URI="[^"]+"/);
    const init = /#EXT-X-MAP:URI="([^"]+)"/.exec(playlist)?.[1];
    const segment = /#EXTINF:[\d.]+,\n(\S+)\n/.exec(playlist)?.[1];
    expect(init).toBeDefined();
    expect(segment).toBeDefined();
    const get = async (uri: string): Promise<Buffer> => {
      const res = await fetch(`${ts.url}/hls/${NAME}/${uri}`);
      expect(res.status, uri).toBe(200);
      return Buffer.from(await res.arrayBuffer());
    };
    const file = path.join(ts.dataDir, "hls-segment.mp4");
    await writeFile(file, Buffer.concat([await get(init as string), await get(segment as string)]));
    expect(await decodeErrors(file)).toBe("");
    const frames = await probeVideoFrames(file);
    expect(frames.length).toBeGreaterThanOrEqual(25);
    expect(frames[0]).toMatchObject({ keyFrame: true, width: W, height: H });
  });

  it("is decoded for the AI feed: the reference worker answers frames", async () => {
    const stats = await aiFed;
    expect(stats.state).toBe("streaming");
    expect(stats.framesSent).toBeGreaterThanOrEqual(5);
    expect(stats.results).toBeGreaterThanOrEqual(5);
  });
});
