/**
 * Publishes to a WHIP URL from ffmpeg builds without a WHIP muxer (ffmpeg < 8, e.g. Debian 12's
 * 5.1): ffmpeg encodes H.264 + Opus to RTP on loopback and a werift client carries it over WHIP.
 *   npm run publish -- http://localhost:8080/whip/cam1 [input-file] [--size 1280x720] [--fps 30] [--seconds 3600]
 * Without an input it sends ffmpeg's testsrc2 pattern and a 440 Hz tone. Ctrl-C stops and
 * DELETEs the session.
 */
import { publishTestStream } from "../test/helpers/publish-test-stream.js";

const args = process.argv.slice(2);
const flag = (name: string, def: string): string => {
  const i = args.indexOf(`--${name}`);
  if (i < 0) return def;
  const v = args[i + 1] ?? def;
  args.splice(i, 2);
  return v;
};
const [width, height] = flag("size", "1280x720").split("x").map(Number);
const fps = Number(flag("fps", "30"));
const seconds = Number(flag("seconds", "3600"));
const [url, input] = args;
if (!url || !width || !height) {
  console.error("usage: npm run publish -- <whip-url> [input] [--size WxH] [--fps N] [--seconds N]");
  process.exit(2);
}
const pub = await publishTestStream(url, { width, height, fps, gopSeconds: 1, durationSeconds: seconds, audio: true, ...(input ? { input } : {}) });
console.log(`publishing to ${url} (session ${pub.resourceUrl}), connected in ${pub.timings.connectedAt - pub.timings.postSentAt} ms; Ctrl-C to stop`);
const stop = async (): Promise<void> => {
  await pub.stop().catch(() => undefined);
  console.log(`sent ${pub.stats.videoFrames} video frames, ${pub.stats.audioPackets} audio packets`);
  process.exit(0);
};
process.on("SIGINT", () => void stop());
process.on("SIGTERM", () => void stop());
await pub.done.catch((err: unknown) => console.error(err));
await stop();
