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
