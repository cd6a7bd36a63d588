import { execFile } from "node:child_process";
import { promisify } from "node:util";
import { afterEach, describe, expect, it } from "vitest";
import { assemble, decodeErrors, probeStreams, probeVideoFrames, readManifests } from "../support/recording-probe.js";
import { ffmpegRtspPush, type RtspPush } from "../support/rtsp-ffmpeg.js";
import { startTestServer, type TestServer } from "../support/server-harness.js";
import { waitFor } from "../support/wait-for.js";

const execFileAsync = promisify(execFile);

let ts: TestServer | undefined;
const pushes: RtspPush[] = [];

afterEach(async () => {
  await Promise.all(pushes.splice(0).map((p) => p.kill()));
  await ts?.stop();
  ts = undefined;
});

interface StreamView {
  name: string;
  audio?: { codec: string; sampleRate: number; channels: number };
}

describe("RTSP publish with AAC (ffmpeg → MPEG4-GENERIC, RFC 3640)", () => {
  it("records H.264 + AAC pushed over TCP and over UDP: both tracks, the AAC decodes and spans the video", async () => {
    ts = await startTestServer();
    const port = ts.server.rtsp?.port;
    expect(port).toBeGreaterThan(0);
    const seconds = 6;
    const runs = (["tcp", "udp"] as const).map((transport) => {
      const push = ffmpegRtspPush(`rtsp://127.0.0.1:${port}/aac-${transport}`, { transport, seconds, width: 640, height: 360, aac: true });
      pushes.push(push);
      return { transport, name: `aac-${transport}`, push };
    });
    const url = ts.url;
    await waitFor(async () => {
      const list = ((await (await fetch(`${url}/api/v1/streams`)).json()) as { streams: StreamView[] }).streams;
      return runs.every((r) => list.some((s) => s.name === r.name && s.audio?.codec === "mp4a.40.2" && s.audio.sampleRate === 44100));
    }, { timeoutMs: 20_000, what: "both streams listed with their AAC track" });
    for (const r of runs) {
      const { code, stderr } = await r.push.done;
      expect(code, `ffmpeg ${r.transport}: ${stderr}`).toBe(0);
    }
    await waitFor(async () => ((await (await fetch(`${url}/api/v1/streams`)).json()) as { streams: unknown[] }).streams.length === 0, { timeoutMs: 10_000, what: "streams ended by TEARDOWN" });
    await ts.server.recorder.flush();
    for (const r of runs) {
      const [m] = await readManifests(ts.dataDir, r.name);
      expect(m?.inits[0]?.audio).toBe("mp4a.40.2");
      const file = await assemble(ts.dataDir, m!);
      const streams = await probeStreams(file);
      expect(streams.map((s) => [s.codec_type, s.codec_name]), r.transport).toEqual([["video", "h264"], ["audio", "aac"]]);
      const frames = await probeVideoFrames(file);
      expect(frames.length, `${r.transport}: frames recorded`).toBe(r.push.frames);
      expect(await decodeErrors(file)).toBe("");
      // 44.1 kHz AAC: 43 AUs a second; the first before the first IDR and ffmpeg's unsent tail aside.
      const aus = Number(streams[1]?.nb_read_packets);
      expect(aus, r.transport).toBeGreaterThan(Math.floor((seconds * 44100) / 1024) - 10);
      const { stdout } = await execFileAsync("ffprobe", ["-v", "error", "-select_streams", "a:0", "-show_entries", "frame=nb_samples,pts_time", "-of", "json", file], { maxBuffer: 16 << 20 });
      const af = (JSON.parse(stdout) as { frames: { nb_samples: number; pts_time: string }[] }).frames;
      expect(af.length, `${r.transport}: AAC frames decoded`).toBe(aus);
      expect(af.every((f) => f.nb_samples === 1024)).toBe(true);
      // Audio and video end together (within 0.2 s): the AAC clock is its 44.1 kHz, not 48 kHz.
      expect(Math.abs(Number(af.at(-1)?.pts_time) - (frames.at(-1)?.ptsTime ?? 0)), r.transport).toBeLessThan(0.2);
    }
  }, 90_000);
});
