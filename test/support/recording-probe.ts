import { execFile } from "node:child_process";
import { readFile, writeFile } from "node:fs/promises";
import path from "node:path";
import { promisify } from "node:util";
import type { ObjectStore } from "../../src/ports/object-store.js";
import { parseManifest, type RecordingManifest } from "../../src/recorder/manifest.js";

const execFileAsync = promisify(execFile);

/** Every recording manifest stored under a data directory for `stream`. */
export async function readManifests(dataDir: string, stream: string): Promise<RecordingManifest[]> {
  const { readdir } = await import("node:fs/promises");
  const dir = path.join(dataDir, stream);
  const out: RecordingManifest[] = [];
  for (const rec of (await readdir(dir)).sort()) {
    out.push(parseManifest(await readFile(path.join(dir, rec, "manifest.json"))));
  }
  return out;
}

/** Writes the init of the first given segment plus the segments' parts to one file; returns its path. */
export async function assemble(dataDir: string, m: RecordingManifest, segs = m.segments, file?: string): Promise<string> {
  const initIndex = segs[0]?.init ?? 0;
  const init = m.inits.find((i) => i.index === initIndex);
  if (!init) throw new Error(`init ${initIndex} missing from manifest`);
  const chunks = [await readFile(path.join(dataDir, init.key))];
  for (const s of segs) for (const p of s.parts) chunks.push(await readFile(path.join(dataDir, p.key)));
  const target = file ?? path.join(dataDir, `${m.recordingId}-assembled-${segs[0]?.seq ?? 0}.mp4`);
  await writeFile(target, Buffer.concat(chunks));
  return target;
}

export interface ProbedFrame {
  keyFrame: boolean;
  ptsTime: number;
  width: number;
  height: number;
}

/** Decodes every video frame with ffprobe (a real decode, not a header read). */
export async function probeVideoFrames(file: string): Promise<ProbedFrame[]> {
  const { stdout } = await execFileAsync("ffprobe", [
    "-v", "error", "-select_streams", "v:0", "-show_entries", "frame=key_frame,pts_time,best_effort_timestamp_time,width,height", "-of", "json", file,
  ], { maxBuffer: 64 * 1024 * 1024 });
  const frames = (JSON.parse(stdout) as { frames: Record<string, string | number>[] }).frames;
  return frames.map((f) => ({
    keyFrame: Number(f.key_frame) === 1,
    ptsTime: Number(f.pts_time ?? f.best_effort_timestamp_time),
    width: Number(f.width),
    height: Number(f.height),
  }));
}

export async function probeStreams(file: string): Promise<{ codec_type: string; codec_name: string; nb_read_packets?: string; width?: number; height?: number }[]> {
  const { stdout } = await execFileAsync("ffprobe", ["-v", "error", "-count_packets", "-show_entries", "stream=codec_type,codec_name,nb_read_packets,width,height", "-of", "json", file]);
  return (JSON.parse(stdout) as { streams: { codec_type: string; codec_name: string; nb_read_packets?: string; width?: number; height?: number }[] }).streams;
}

/**
 * Runs a full decode of every stream; returns ffmpeg's error output (empty when clean).
 * `-enc_time_base -1` keeps the null muxer on the file's own time base: by default it
 * rescales to 1/frame-rate, and a variable-rate source (a browser camera under load, two
 * frames 20 ms apart) then collides on one tick and ffmpeg reports "non monotonically
 * increasing dts" about its own rounding, not about the file.
 */
export async function decodeErrors(file: string): Promise<string> {
  const { stderr } = await execFileAsync("ffmpeg", ["-v", "error", "-i", file, "-enc_time_base", "-1", "-f", "null", "-"], { maxBuffer: 16 * 1024 * 1024 });
  return stderr.trim();
}

/** Like `assemble`, reading the objects from any ObjectStore (e.g. MinIO). */
export async function assembleFromStore(store: ObjectStore, m: RecordingManifest, segs: RecordingManifest["segments"], file: string): Promise<string> {
  const init = m.inits.find((i) => i.index === (segs[0]?.init ?? 0));
  if (!init) throw new Error("init missing from manifest");
  const chunks = [await store.get(init.key)];
  for (const s of segs) for (const p of s.parts) chunks.push(await store.get(p.key));
  await writeFile(file, Buffer.concat(chunks));
  return file;
}
