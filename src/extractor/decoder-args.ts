import type { DecodedPixelFormat } from "./decoded-frame.js";

export interface OutputGeometry {
  width: number;
  height: number;
}

/**
 * The output size for a source of `srcWidth`x`srcHeight` under `maxHeight`: never upscaled,
 * aspect kept, both dimensions even (4:2:0 chroma and the JPEG encoder want even sizes).
 */
export function outputGeometry(srcWidth: number, srcHeight: number, maxHeight: number): OutputGeometry {
  // Rounded down to even: rounding up could exceed maxHeight or the source (an upscale).
  const height = evenFloor(Math.min(srcHeight, maxHeight));
  const width = Math.min(evenRound((srcWidth * height) / srcHeight), evenFloor(srcWidth));
  return { width, height };
}

const evenFloor = (x: number): number => Math.max(2, 2 * Math.floor(x / 2));
const evenRound = (x: number): number => Math.max(2, 2 * Math.round(x / 2));

/** Bytes of one raw frame; undefined for JPEG (variable size). */
export function rawFrameBytes(g: OutputGeometry, format: DecodedPixelFormat): number | undefined {
  if (format === "gray8") return g.width * g.height;
  if (format === "rgb24") return g.width * g.height * 3;
  return undefined;
}

export interface DecoderArgsOptions {
  geometry: OutputGeometry;
  /** The source size: no scale filter when it already matches. */
  source: OutputGeometry;
  format: DecodedPixelFormat;
  /** Keep one decoded frame in this many (ffmpeg's select filter, before scaling); default 1. */
  keepEvery?: number;
  /** mjpeg -q:v, 2 (best) .. 31. */
  jpegQuality?: number;
}

/**
 * ffmpeg arguments: raw H.264 (Annex-B) on stdin, one frame per access unit on stdout.
 *
 * Latency choices, all measured on ffmpeg 5.1 (see bench/decoder.ts):
 * - `-probesize 32 -analyzeduration 0`: stream info comes from the first SPS, no probing delay.
 * - NOT `-fflags nobuffer`: it discards the packets read while probing, i.e. the first IDR, and
 *   the decoder then waits for the next one (forever with Chromium, which sends no periodic IDR).
 * - `-flags low_delay`, `-threads 1` on the decoder: no reordering delay, no frame threading.
 * - `-threads 1` on the encoder too: rawvideo/mjpeg are frame-threaded by default, which held
 *   every frame until the next one arrived (one frame interval).
 * - `-fps_mode passthrough`: no frame duplicated or dropped by ffmpeg, so output frames map
 *   one to one, in order, onto the access units written (rawvideo would otherwise get CFR).
 * - `-flush_packets 1`: each frame reaches the pipe at once.
 * Sampling happens in two steps. ffmpeg keeps one frame in `keepEvery` (select on the decoded
 * frame's index, before scaling): a rule the caller replays exactly, so frames still pair with
 * their access units, and frames nobody wants are neither converted nor piped — measured, the
 * pipe costs Node ≈ 14 % of a core per 720p30 GRAY8 stream (3x that for RGB24). A time-based
 * ffmpeg filter (fps=) would break the pairing (it duplicates and drops by its own clock).
 * The exact rate, per consumer, is then picked in Node from RTP times (FrameSampler).
 */
export function decoderArgs(o: DecoderArgsOptions): string[] {
  const filters: string[] = [];
  const k = o.keepEvery ?? 1;
  if (!Number.isInteger(k) || k < 1) throw new RangeError(`keepEvery must be an integer >= 1, got ${k}`);
  // n counts the frames that enter the filter, i.e. every decoded frame since the process began.
  if (k > 1) filters.push(`select=not(mod(n\\,${k}))`);
  if (o.geometry.width !== o.source.width || o.geometry.height !== o.source.height) {
    filters.push(`scale=${o.geometry.width}:${o.geometry.height}:flags=bilinear`);
  }
  const output =
    o.format === "jpeg"
      ? ["-pix_fmt", "yuvj420p", "-c:v", "mjpeg", "-q:v", String(o.jpegQuality ?? 5), "-f", "image2pipe"]
      : ["-pix_fmt", o.format === "gray8" ? "gray" : "rgb24", "-f", "rawvideo"];
  return [
    "-hide_banner", "-nostats", "-loglevel", "warning",
    "-probesize", "32", "-analyzeduration", "0", "-flags", "low_delay", "-threads", "1",
    "-f", "h264", "-i", "pipe:0",
    "-an", "-sn", "-dn",
    ...(filters.length ? ["-vf", filters.join(",")] : []),
    "-fps_mode", "passthrough", "-threads", "1",
    ...output,
    "-flush_packets", "1", "pipe:1",
  ];
}
