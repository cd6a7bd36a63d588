import { startRtpSource, type RtpSource, type RtpSourceOptions, type SentStats } from "./ffmpeg-rtp-source.js";
import { whipPublish, type WhipPublication, type WhipPublishOptions, type WhipTimings } from "./whip-client.js";

export interface TestStreamOptions extends Partial<RtpSourceOptions> {
  /** Request headers for the WHIP POST and DELETE (e.g. Authorization). */
  headers?: Record<string, string>;
  iceServers?: WhipPublishOptions["iceServers"];
  connectTimeoutMs?: number;
  /** HTTP client for the WHIP POST and DELETE (HTTPS with a test CA). */
  fetch?: typeof fetch;
}

export interface TestStreamPublisher {
  /** Live counters of what was actually sent (see SentStats). */
  stats: SentStats;
  timings: WhipTimings;
  /** The session resource as in the Location header (usually a path; `publication.resourceUrl` is absolute). */
  resourceUrl: string;
  publication: WhipPublication;
  /** Resolves when the source has sent everything (after durationSeconds); rejects if ffmpeg failed. */
  done: Promise<void>;
  /** Stops the source, DELETEs the session and closes the PeerConnection. */
  stop(): Promise<void>;
}

export const TEST_STREAM_DEFAULTS: RtpSourceOptions = { width: 1280, height: 720, fps: 30, gopSeconds: 1, durationSeconds: 10, audio: true };

/**
 * Publishes a synthetic stream (ffmpeg testsrc2 + 440 Hz tone) to a WHIP URL from a werift
 * client. Media starts only once the PeerConnection is connected, so every frame ffmpeg makes
 * is sent and counted.
 */
export async function publishTestStream(whipUrl: string, opts: TestStreamOptions = {}): Promise<TestStreamPublisher> {
  const { headers, iceServers, connectTimeoutMs, fetch: doFetch, ...sourceOpts } = opts;
  // options given as undefined keep their defaults
  const o: RtpSourceOptions = { ...TEST_STREAM_DEFAULTS, ...(Object.fromEntries(Object.entries(sourceOpts).filter(([, v]) => v !== undefined)) as Partial<RtpSourceOptions>) };
  const pub = await whipPublish(whipUrl, { video: true, audio: o.audio, headers, iceServers, connectTimeoutMs, fetch: doFetch });
  if (!pub.videoTrack) throw new Error("no video track");
  let source: RtpSource;
  try {
    source = await startRtpSource(
      {
        video: { track: pub.videoTrack, sender: pub.videoSender },
        audio: pub.audioTrack ? { track: pub.audioTrack, sender: pub.audioSender } : undefined,
      },
      o,
    );
  } catch (err) {
    await pub.close();
    throw err;
  }
  return {
    stats: source.stats,
    timings: pub.timings,
    resourceUrl: pub.location,
    publication: pub,
    done: source.done,
    stop: async () => {
      try {
        await source.stop();
      } finally {
        await pub.close();
      }
    },
  };
}
