import { execFile } from "node:child_process";
import { once } from "node:events";
import net from "node:net";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { publishTestStream, type TestStreamPublisher } from "../helpers/publish-test-stream.js";
import { decodeErrors, probeStreams, probeVideoFrames } from "../support/recording-probe.js";
import { startTestServer, type TestServer } from "../support/server-harness.js";
import { waitFor, waitForValue } from "../support/wait-for.js";

const execFileAsync = promisify(execFile);

/**
 * RTSP read (issue 13): a WHIP-published stream (werift + ffmpeg testsrc2, 1280x720@30 H.264,
 * Opus) is read over RTSP by ffmpeg and by GStreamer, over TCP interleaved and over UDP at
 * once, and what they read decodes: from the first frame (the reader starts at the buffered
 * GOP's IDR), at the published size, audio beside video. Meanwhile a reader that PLAYs and then
 * reads nothing drops and counts frames (IFC_RTSP_WRITE_BUFFER_BYTES at its minimum), and
 * neither the publisher nor the other readers notice.
 */
let ts: TestServer;
let pub: TestStreamPublisher;

beforeAll(async () => {
  ts = await startTestServer({ recordByDefault: false, rtspWriteBufferBytes: 65_536 });
  pub = await publishTestStream(`${ts.url}/whip/cam`, { width: 1280, height: 720, fps: 30, gopSeconds: 1, durationSeconds: 10, audio: true });
  // A keyframe in the stream buffer: readers join at it.
  await waitForValue(() => (ts.server.registry.get("cam")?.hub.buffer.lastGop().length ?? 0) > 0 || undefined, { timeoutMs: 20_000, what: "a buffered GOP" });
}, 60_000);

afterAll(async () => {
  await pub?.stop();
  await ts?.stop();
});

/**
 * ffmpeg reads `seconds` of the stream over RTSP and copies it (no re-encode) to a Matroska file.
 * Over UDP it asks for a 4 MiB socket receive buffer, as a player should: ffmpeg's default is
 * 64 KiB, less than one 720p IDR, and on a busy machine a keyframe burst then overflows it.
 */
async function ffmpegRead(url: string, transport: "tcp" | "udp", file: string, seconds: number): Promise<void> {
  const buffer = transport === "udp" ? ["-buffer_size", String(4 * 1024 * 1024)] : [];
  await execFileAsync("ffmpeg", ["-hide_banner", "-loglevel", "error", "-nostdin", "-rtsp_transport", transport, ...buffer, "-i", url, "-t", String(seconds), "-map", "0", "-c", "copy", "-y", file], { timeout: 30_000 });
}

/**
 * GStreamer's rtspsrc decodes 60 pictures and 100 Opus frames, then ends (each branch stops
 * after its buffers; the pipeline's EOS needs both). Resolves with its message log.
 */
async function gstRead(url: string, proto: "tcp" | "udp"): Promise<string> {
  const { stdout } = await execFileAsync("gst-launch-1.0", [
    "-m", "rtspsrc", `location=${url}`, `protocols=${proto}`, "name=src",
    "src.", "!", "rtph264depay", "!", "h264parse", "!", "avdec_h264", "!", "fakesink", "num-buffers=60", "sync=false",
    "src.", "!", "rtpopusdepay", "!", "opusdec", "!", "fakesink", "num-buffers=100", "sync=false",
  ], { timeout: 30_000 });
  return stdout;
}

/**
 * A reader that sets up the video track over TCP, PLAYs, and then reads nothing more: its
 * socket's receive window closes and the server's writes back up.
 */
async function stalledReader(port: number, stream: string): Promise<{ socket: net.Socket; session: string }> {
  const socket = net.connect(port, "127.0.0.1");
  await once(socket, "connect");
  let buf = Buffer.alloc(0);
  let wake: (() => void) | undefined;
  socket.on("data", (d: Buffer) => {
    buf = Buffer.concat([buf, d]);
    wake?.();
  });
  let cseq = 0;
  const request = async (line: string, headers: string[] = [], pauseAfter = false): Promise<string> => {
    socket.write([line, `CSeq: ${++cseq}`, ...headers, "", ""].join("\r\n"));
    for (;;) {
      const end = buf.indexOf("\r\n\r\n");
      if (end >= 0) {
        const head = buf.subarray(0, end).toString();
        const length = Number(/content-length: *(\d+)/i.exec(head)?.[1] ?? 0);
        if (buf.length >= end + 4 + length) {
          buf = buf.subarray(end + 4 + length);
          if (pauseAfter) socket.pause();
          expect(head).toMatch(/^RTSP\/1\.0 200 /);
          return head;
        }
      }
      await new Promise<void>((resolve) => (wake = resolve));
    }
  };
  const url = `rtsp://127.0.0.1:${port}/${stream}`;
  await request(`DESCRIBE ${url} RTSP/1.0`, ["Accept: application/sdp"]);
  const setup = await request(`SETUP ${url}/trackID=0 RTSP/1.0`, ["Transport: RTP/AVP/TCP;unicast;interleaved=0-1"]);
  const session = (/^Session: *([^;\r\n]+)/im.exec(setup)?.[1] ?? "").trim();
  await request(`PLAY ${url} RTSP/1.0`, [`Session: ${session}`, "Range: npt=0.000-"], true);
  return { socket, session };
}

async function streamStarts(file: string): Promise<Record<string, { start: number; packets: number }>> {
  const { stdout } = await execFileAsync("ffprobe", ["-v", "error", "-count_packets", "-show_entries", "stream=codec_name,start_time,nb_read_packets", "-of", "json", file]);
  const streams = (JSON.parse(stdout) as { streams: { codec_name: string; start_time: string; nb_read_packets: string }[] }).streams;
  return Object.fromEntries(streams.map((x) => [x.codec_name, { start: Number(x.start_time), packets: Number(x.nb_read_packets) }]));
}

describe("RTSP read of a WHIP-published stream (ffmpeg DESCRIBE/SETUP/PLAY)", () => {
  it("ffmpeg and GStreamer read it over TCP interleaved and over UDP, four readers at once: H.264 1280x720 from a keyframe plus Opus, decoding without error", async () => {
    const port = ts.server.rtsp?.port;
    expect(port).toBeGreaterThan(0);
    const url = `rtsp://127.0.0.1:${port}/cam`;
    const files = { tcp: path.join(ts.dataDir, "read-tcp.mkv"), udp: path.join(ts.dataDir, "read-udp.mkv") };
    const stalled = await stalledReader(port as number, "cam");
    const [, , ...gst] = await Promise.all([
      ffmpegRead(url, "tcp", files.tcp, 3),
      ffmpegRead(url, "udp", files.udp, 3),
      gstRead(url, "tcp"),
      gstRead(url, "udp"),
    ]);
    for (const stdout of gst) {
      expect(stdout).toMatch(/Got EOS from element "pipeline0"/);
      expect(stdout).not.toMatch(/\(error\)/);
    }
    for (const t of ["tcp", "udp"] as const) {
      const streams = await probeStreams(files[t]);
      expect(streams.map((s) => s.codec_name).sort(), t).toEqual(["h264", "opus"]);
      const frames = await probeVideoFrames(files[t]);
      // 3 s at 30 fps, give or take where ffmpeg's -t cut it.
      expect(frames.length, `${t}: frames read`).toBeGreaterThanOrEqual(60);
      expect(frames[0], t).toMatchObject({ keyFrame: true, width: 1280, height: 720 });
      expect(await decodeErrors(files[t]), t).toBe("");
      // Audio beside video on one clock (RTP-Info rtptime and sender reports): they start within
      // the publisher's own audio/video offset of each other, not seconds apart.
      const starts = await streamStarts(files[t]);
      expect(starts.opus?.packets ?? 0, `${t}: Opus packets`).toBeGreaterThanOrEqual(100);
      expect(Math.abs((starts.opus?.start ?? NaN) - (starts.h264?.start ?? NaN)), `${t}: audio/video start`).toBeLessThan(0.5);
    }
    // The stalled reader dropped (its socket backlog over the limit) and counted; the publisher lost nothing to it.
    const slow = [...(ts.server.rtsp?.sessions.values() ?? [])].find((x) => x.id === stalled.session);
    expect(slow?.reader?.stats.framesDropped ?? 0, "frames the stalled reader dropped").toBeGreaterThan(0);
    expect(slow?.reader?.stats.keyframeWaits ?? 0).toBeGreaterThan(0);
    expect(ts.server.registry.get("cam")?.stats().framesDropped).toBe(0);
    stalled.socket.destroy();
    // The readers left with their TEARDOWN: no RTSP reader is attached any more.
    const hub = ts.server.registry.get("cam")?.hub;
    await waitFor(() => hub?.readerStats.every((r) => !r.name.startsWith("rtsp")) === true, { what: "RTSP readers detached after TEARDOWN" });
  }, 60_000);

  it("a stream that is not live gets 404 on DESCRIBE", async () => {
    const port = ts.server.rtsp?.port;
    const err = await execFileAsync("ffmpeg", ["-hide_banner", "-nostdin", "-rtsp_transport", "tcp", "-i", `rtsp://127.0.0.1:${port}/nobody`, "-f", "null", "-"], { timeout: 20_000 }).then(
      () => undefined,
      (e: { stderr?: string }) => e.stderr ?? "",
    );
    expect(err).toMatch(/404/);
  });
});
