import { spawn, type ChildProcess } from "node:child_process";
import { createSocket, type Socket } from "node:dgram";
import { RtpPacket, type MediaStreamTrack } from "werift";

export interface RtpSourceOptions {
  width: number;
  height: number;
  fps: number;
  gopSeconds: number;
  durationSeconds: number;
  audio: boolean;
  /** x264 profile (default high). */
  profile?: string;
  /** x264 preset (default veryfast). */
  preset?: string;
  /** A file or URL to publish (looped) instead of the test pattern; its audio is used when present. */
  input?: string;
}

export interface SentStats {
  /** Access units written to the track (RTP packets with the marker bit). */
  videoFrames: number;
  /** Access units holding an IDR slice. */
  keyframes: number;
  videoPackets: number;
  audioPackets: number;
}

export interface RtpSource {
  stats: SentStats;
  /** Resolves when ffmpeg has exited (after `durationSeconds`, or after stop()). */
  done: Promise<void>;
  stop(): Promise<void>;
}

/** Whether an H.264 RTP payload carries (the start of) an IDR slice. */
function carriesIdr(p: Buffer): boolean {
  const type = (p[0] ?? 0) & 0x1f;
  if (type === 5) return true;
  if (type === 28) return ((p[1] ?? 0) & 0x1f) === 5 && ((p[1] ?? 0) & 0x80) !== 0;
  if (type === 24) {
    for (let o = 1; o + 2 < p.length; ) {
      const size = p.readUInt16BE(o);
      if (((p[o + 2] ?? 0) & 0x1f) === 5) return true;
      o += 2 + size;
    }
  }
  return false;
}

async function loopbackSocket(): Promise<Socket> {
  const s = createSocket("udp4");
  await new Promise<void>((resolve) => s.bind(0, "127.0.0.1", resolve));
  return s;
}

/**
 * ffmpeg (lavfi testsrc2 → libx264, sine → libopus) sending live RTP to loopback sockets, each
 * packet written to a werift sender track as it arrives, and counted.
 */
export async function startRtpSource(video: MediaStreamTrack, audio: MediaStreamTrack | undefined, o: RtpSourceOptions): Promise<RtpSource> {
  const stats: SentStats = { videoFrames: 0, keyframes: 0, videoPackets: 0, audioPackets: 0 };
  const vs = await loopbackSocket();
  const as = o.audio && audio ? await loopbackSocket() : undefined;
  let unitHasIdr = false;
  vs.on("message", (msg) => {
    const p = RtpPacket.deSerialize(msg);
    if (carriesIdr(p.payload)) unitHasIdr = true;
    video.writeRtp(p);
    stats.videoPackets++;
    if (p.header.marker) {
      stats.videoFrames++;
      if (unitHasIdr) stats.keyframes++;
      unitHasIdr = false;
    }
  });
  as?.on("message", (msg) => {
    audio?.writeRtp(RtpPacket.deSerialize(msg));
    stats.audioPackets++;
  });
  const gop = Math.round(o.fps * o.gopSeconds);
  const inputs = o.input
    ? ["-re", "-stream_loop", "-1", "-i", o.input]
    : ["-re", "-f", "lavfi", "-i", `testsrc2=size=${o.width}x${o.height}:rate=${o.fps}`, ...(as ? ["-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"] : [])];
  const audioMap = o.input ? "0:a:0?" : "1:a";
  const args = [
    "-nostdin", "-v", "error",
    ...inputs,
    "-t", String(o.durationSeconds), "-map", "0:v:0",
    ...(o.input ? ["-vf", `scale=${o.width}:${o.height}`, "-r", String(o.fps)] : []),
    "-c:v", "libx264", "-profile:v", o.profile ?? "high", "-preset", o.preset ?? "veryfast", "-tune", "zerolatency", "-bf", "0",
    "-g", String(gop), "-keyint_min", String(gop), "-sc_threshold", "0", "-pix_fmt", "yuv420p",
    "-f", "rtp", "-payload_type", "102", `rtp://127.0.0.1:${vs.address().port}?pkt_size=1200`,
    ...(as ? ["-t", String(o.durationSeconds), "-map", audioMap, "-ac", "2", "-ar", "48000", "-c:a", "libopus", "-b:a", "48k", "-f", "rtp", "-payload_type", "111", `rtp://127.0.0.1:${as.address().port}?pkt_size=1200`] : []),
  ];
  const ff: ChildProcess = spawn("ffmpeg", args, { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  ff.stderr?.on("data", (d: Buffer) => (stderr += d.toString()));
  const exited = new Promise<number | null>((resolve) => ff.once("exit", (code) => resolve(code)));
  const done = exited.then(async (code) => {
    // Datagrams still in the socket buffers are delivered before we report done.
    await new Promise((r) => setTimeout(r, 200));
    if (code !== 0 && code !== 255 && !stopping) throw new Error(`ffmpeg exited with ${code}: ${stderr}`);
  });
  done.catch(() => undefined);
  let stopping = false;
  return {
    stats,
    done,
    stop: async () => {
      stopping = true;
      if (ff.exitCode === null && ff.signalCode === null) {
        ff.kill("SIGINT");
        const killer = setTimeout(() => ff.kill("SIGKILL"), 3000);
        await exited;
        clearTimeout(killer);
      }
      vs.close();
      as?.close();
    },
  };
}
