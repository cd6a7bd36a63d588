/**
 * The publishers the ingest benches share: a cached pre-encoded clip and a fleet of N WHIP
 * publishers in a process of their own (bench/lib/publisher-fleet.ts), pinned to core 1 when the
 * server under test is pinned to core 0.
 */
import { execFile, spawn } from "node:child_process";
import { existsSync } from "node:fs";
import { mkdir } from "node:fs/promises";
import { homedir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import type { FleetReport, FleetStart } from "./publisher-fleet.js";

const run = promisify(execFile);

export const CLIP_WIDTH = 1280;
export const CLIP_HEIGHT = 720;

/** The clip, encoded once and kept in a cache: 10 s of testsrc2 at 3 Mbit/s, IDR every second, no B-frames; MPEG-TS repeats SPS/PPS in-band. */
export async function benchClip(): Promise<string> {
  const dir = path.join(process.env.XDG_CACHE_HOME ?? path.join(homedir(), ".cache"), "ifc-bench");
  const file = path.join(dir, `clip-${CLIP_WIDTH}x${CLIP_HEIGHT}p30-3M.ts`);
  if (existsSync(file)) return file;
  await mkdir(dir, { recursive: true });
  const tmp = `${file}.${process.pid}.ts`;
  await run("ffmpeg", ["-hide_banner", "-loglevel", "error", "-y", "-f", "lavfi", "-i", `testsrc2=size=${CLIP_WIDTH}x${CLIP_HEIGHT}:rate=30`, "-t", "10",
    "-c:v", "libx264", "-preset", "veryfast", "-tune", "zerolatency", "-bf", "0", "-g", "30", "-keyint_min", "30", "-sc_threshold", "0",
    "-pix_fmt", "yuv420p", "-b:v", "3M", "-maxrate", "3M", "-bufsize", "1M", tmp]);
  await run("mv", [tmp, file]);
  return file;
}

export interface Fleet {
  next(type: FleetReport["type"]): Promise<FleetReport>;
  stop(): void;
  /** SIGKILL to the fleet's process group: the fleet and its publishers' ffmpeg children. */
  kill(): void;
  exited: Promise<void>;
}

/** Starts the publishers' process (on core 1 when `pinned`) and sends it `start`. */
export function startFleet(start: FleetStart, pinned: boolean): Fleet {
  const script = path.resolve(import.meta.dirname, "publisher-fleet.ts");
  const argv = [process.execPath, "--import", "tsx", script];
  // A process group of its own, so a failed run can end every publisher with one kill.
  const child = spawn(pinned ? "taskset" : (argv.shift() as string), pinned ? ["-c", "1", ...argv] : argv, { stdio: ["ignore", "inherit", "inherit", "ipc"], detached: true });
  const waiting = new Map<string, (r: FleetReport) => void>();
  const got = new Map<string, FleetReport>();
  child.on("message", (r: FleetReport) => {
    const w = waiting.get(r.type);
    if (w) w(r);
    else got.set(r.type, r);
  });
  child.send(start);
  const exited = new Promise<void>((resolve) => child.once("exit", () => resolve()));
  return {
    next: (type) => {
      const have = got.get(type);
      if (have) return Promise.resolve(have);
      return new Promise((resolve, reject) => {
        waiting.set(type, resolve);
        void exited.then(() => reject(new Error(`publisher fleet exited before "${type}"`)));
      });
    },
    stop: () => void child.send({ type: "stop" }),
    kill: () => {
      try {
        process.kill(-(child.pid as number), "SIGKILL");
      } catch {
        // the group is gone already (ESRCH)
      }
    },
    exited,
  };
}
