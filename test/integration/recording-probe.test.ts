import { execFile } from "node:child_process";
import { mkdtemp, readFile, rm, writeFile } from "node:fs/promises";
import os from "node:os";
import path from "node:path";
import { promisify } from "node:util";
import { afterAll, beforeAll, describe, expect, it } from "vitest";
import { decodeErrors } from "../support/recording-probe.js";

const execFileAsync = promisify(execFile);

/**
 * The decode check every recording test relies on, against real ffmpeg: it must pass a valid
 * variable-frame-rate file (what browsers send) and still fail on corrupt video.
 */
let dir: string;
let vfr: string;

beforeAll(async () => {
  dir = await mkdtemp(path.join(os.tmpdir(), "ifc-probe-"));
  vfr = path.join(dir, "vfr.mp4");
  // 30 fps nominal, but frames land 16–41 ms apart: pairs of them share one 1/30 s tick.
  await execFileAsync("ffmpeg", [
    "-v", "error", "-y", "-f", "lavfi", "-i", "testsrc2=s=320x240:r=30", "-t", "3",
    "-vf", "settb=1/90000,setpts='if(eq(N\\,0)\\,0\\,N*3000-if(mod(N\\,2)\\,1400\\,1700))'",
    "-fps_mode", "passthrough", "-c:v", "libx264", "-bf", "0", "-video_track_timescale", "90000", vfr,
  ]);
});

afterAll(async () => {
  await rm(dir, { recursive: true, force: true });
});

describe("decodeErrors", () => {
  it("accepts a valid variable-frame-rate recording", async () => {
    expect(await decodeErrors(vfr)).toBe("");
  });

  it("reports corrupt video", async () => {
    const bytes = await readFile(vfr);
    const mdat = bytes.indexOf(Buffer.from("mdat"));
    expect(mdat).toBeGreaterThan(0);
    // Overwrite a stretch of coded slice data well inside the first frames.
    bytes.fill(0x5a, mdat + 2000, mdat + 6000);
    const corrupt = path.join(dir, "corrupt.mp4");
    await writeFile(corrupt, bytes);
    expect(await decodeErrors(corrupt)).not.toBe("");
  });
});
