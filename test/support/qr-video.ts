import { execFile } from "node:child_process";
import path from "node:path";
import { promisify } from "node:util";
import QRCode from "qrcode";

const run = promisify(execFile);

/**
 * An H.264 file of the moving test pattern with a QR code of `text` overlaid at (x, y), `scale`
 * pixels per module (plus the white quiet zone QRCode draws), for publishing through WHIP.
 */
export async function qrVideo(dir: string, text: string, o: { width: number; height: number; fps: number; seconds: number; x: number; y: number; scale: number }): Promise<{ file: string; size: number }> {
  const png = path.join(dir, "qr.png");
  await QRCode.toFile(png, text, { errorCorrectionLevel: "M", scale: o.scale, margin: 4 });
  const size = QRCode.create(text, { errorCorrectionLevel: "M" }).modules.size * o.scale;
  const file = path.join(dir, "qr.mp4");
  await run("ffmpeg", [
    "-hide_banner", "-loglevel", "error", "-y",
    "-f", "lavfi", "-i", `testsrc2=size=${o.width}x${o.height}:rate=${o.fps}`,
    "-i", png,
    "-filter_complex", `[0:v][1:v]overlay=${o.x - 4 * o.scale}:${o.y - 4 * o.scale}`,
    "-t", String(o.seconds), "-c:v", "libx264", "-preset", "veryfast", "-pix_fmt", "yuv420p", "-g", String(o.fps), "-bf", "0",
    file,
  ]);
  return { file, size };
}

/**
 * The same scene as a raw Y4M file, for Chromium's fake camera (`--use-file-for-fake-video-capture`
 * reads Y4M or MJPEG and loops it): a still grey background with the QR code, `frames` frames.
 */
export async function qrY4m(dir: string, text: string, o: { width: number; height: number; frames: number; x: number; y: number; scale: number }): Promise<{ file: string; size: number }> {
  const png = path.join(dir, "qr-cam.png");
  await QRCode.toFile(png, text, { errorCorrectionLevel: "M", scale: o.scale, margin: 4 });
  const size = QRCode.create(text, { errorCorrectionLevel: "M" }).modules.size * o.scale;
  const file = path.join(dir, "qr-cam.y4m");
  await run("ffmpeg", [
    "-hide_banner", "-loglevel", "error", "-y",
    "-f", "lavfi", "-i", `color=c=0x808080:size=${o.width}x${o.height}:rate=30`,
    "-i", png,
    "-filter_complex", `[0:v][1:v]overlay=${o.x - 4 * o.scale}:${o.y - 4 * o.scale}`,
    "-frames:v", String(o.frames), "-pix_fmt", "yuv420p", "-f", "yuv4mpegpipe",
    file,
  ]);
  return { file, size };
}
