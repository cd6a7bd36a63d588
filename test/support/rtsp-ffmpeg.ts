import { spawn, type ChildProcess } from "node:child_process";

export interface RtspPushOptions {
  transport: "tcp" | "udp";
  width?: number;
  height?: number;
  fps?: number;
  seconds?: number;
  /** Keyframe interval in frames (default: one per second). */
  gop?: number;
  /** Add a 440 Hz tone as AAC (needs the aac branch to be recorded). */
  aac?: boolean;
  /** Extra ffmpeg output options (before the URL). */
  extra?: string[];
}

export interface RtspPush {
  child: ChildProcess;
  /** Frames ffmpeg encodes and sends: fps × seconds. */
  frames: number;
  /** Resolves with the exit code and stderr when ffmpeg exits (after its TEARDOWN). */
  done: Promise<{ code: number | null; stderr: string }>;
  /** Kills ffmpeg (SIGKILL: no TEARDOWN, like a camera losing power) and waits for it. */
  kill(): Promise<void>;
}

/**
 * ffmpeg pushes testsrc2 as H.264 (libx264, no B-frames) over RTSP (ANNOUNCE/SETUP/RECORD) in
 * real time (`-re`), as an encoder or camera would.
 */
export function ffmpegRtspPush(url: string, o: RtspPushOptions): RtspPush {
  const width = o.width ?? 1280;
  const height = o.height ?? 720;
  const fps = o.fps ?? 30;
  const seconds = o.seconds ?? 10;
  const gop = o.gop ?? fps;
  const args = [
    "-hide_banner", "-loglevel", "warning", "-nostdin", "-re",
    "-f", "lavfi", "-i", `testsrc2=size=${width}x${height}:rate=${fps}`,
    ...(o.aac ? ["-f", "lavfi", "-i", `sine=frequency=440:sample_rate=44100`] : []),
    "-t", String(seconds),
    "-c:v", "libx264", "-preset", "ultrafast", "-tune", "zerolatency", "-pix_fmt", "yuv420p", "-g", String(gop), "-keyint_min", String(gop), "-sc_threshold", "0", "-bf", "0",
    ...(o.aac ? ["-c:a", "aac", "-b:a", "96k"] : []),
    ...(o.extra ?? []),
    "-f", "rtsp", "-rtsp_transport", o.transport, url,
  ];
  const child = spawn("ffmpeg", args, { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  child.stderr?.on("data", (d: Buffer) => {
    stderr += d.toString();
  });
  const done = new Promise<{ code: number | null; stderr: string }>((resolve) => {
    child.on("exit", (code) => resolve({ code, stderr }));
  });
  return {
    child,
    frames: fps * seconds,
    done,
    kill: async () => {
      if (child.exitCode === null && child.signalCode === null) child.kill("SIGKILL");
      await done;
    },
  };
}
