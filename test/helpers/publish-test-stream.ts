import { startRtpSource, type RtpSourceOptions, type SentStats } from "./ffmpeg-rtp-source.js";
import { whipPublish, type WhipTimings } from "./whip-client.js";

export interface TestStreamPublisher {
  stats: SentStats;
  timings: WhipTimings;
  /** Path of the session resource, as in the Location header. */
  resourceUrl: string;
  /** Resolves when the source has sent everything (after durationSeconds). */
  done: Promise<void>;
  /** Stops the source, DELETEs the session and closes the PeerConnection. */
  stop(): Promise<void>;
}

/** Publishes a synthetic stream (ffmpeg testsrc2 + tone) to a WHIP URL from a werift client. */
export async function publishTestStream(whipUrl: string, opts: RtpSourceOptions): Promise<TestStreamPublisher> {
  const pub = await whipPublish(whipUrl, { video: true, audio: opts.audio });
  if (!pub.videoTrack) throw new Error("no video track");
  const source = await startRtpSource(pub.videoTrack, pub.audioTrack, opts);
  return {
    stats: source.stats,
    timings: pub.timings,
    resourceUrl: pub.location,
    done: source.done,
    stop: async () => {
      await source.stop();
      await pub.close();
    },
  };
}
