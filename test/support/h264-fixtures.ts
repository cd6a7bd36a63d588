import { execFile } from "node:child_process";
import { mkdir, readFile, stat } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import { nalType, splitAnnexB } from "../../src/media/h264-nal.js";

const execFileAsync = promisify(execFile);
const CACHE = path.resolve(import.meta.dirname, "../../.cache/fixtures");

export interface EncodedUnit {
  nalus: Uint8Array[];
  isKeyframe: boolean;
}

/**
 * A real libx264 stream, split into access units (x264 writes an AUD before each). Encoded once
 * per parameter set and kept under .cache/, so tests and benchmarks share it.
 */
export async function h264Fixture(opts: { width: number; height: number; fps: number; seconds: number; gop: number; profile?: string }): Promise<EncodedUnit[]> {
  const profile = opts.profile ?? "high";
  const file = path.join(CACHE, `testsrc2-${opts.width}x${opts.height}-${opts.fps}-${opts.seconds}s-g${opts.gop}-${profile}.h264`);
  if (!(await stat(file).catch(() => undefined))) {
    await mkdir(CACHE, { recursive: true });
    await execFileAsync("ffmpeg", [
      "-v", "error", "-y", "-f", "lavfi", "-i", `testsrc2=size=${opts.width}x${opts.height}:rate=${opts.fps}`, "-t", String(opts.seconds),
      "-c:v", "libx264", "-profile:v", profile, "-preset", "veryfast", "-bf", "0", "-g", String(opts.gop), "-keyint_min", String(opts.gop),
      "-sc_threshold", "0", "-pix_fmt", "yuv420p", "-x264-params", "aud=1", "-f", "h264", file,
    ]);
  }
  const units: EncodedUnit[] = [];
  let current: Uint8Array[] = [];
  const flush = (): void => {
    if (current.some((n) => { const t = nalType(n); return t === 1 || t === 5; })) {
      units.push({ nalus: current, isKeyframe: current.some((n) => nalType(n) === 5) });
    }
    current = [];
  };
  for (const nal of splitAnnexB(await readFile(file))) {
    if (nalType(nal) === 9) flush();
    else current.push(nal);
  }
  flush();
  return units;
}
