import type { RTCRtpSender } from "werift";
import { startRtpSource, type RtpSource, type RtpSourceOptions } from "../helpers/ffmpeg-rtp-source.js";
import { TEST_STREAM_DEFAULTS } from "../helpers/publish-test-stream.js";
import { whipPublish, type WhipPublication, type WhipPublishOptions } from "../helpers/whip-client.js";
import type { NetRelay } from "./net-relay.js";

/** The WHIP client options that put a publisher's whole UDP path through `relay`. */
export function throughRelay(relay: NetRelay): Pick<WhipPublishOptions, "transformAnswer" | "acceptStunFrom"> {
  return {
    transformAnswer: (sdp) => relay.routeAnswer(sdp),
    acceptStunFrom: (address, port) => relay.acceptsStunFrom(address, port),
  };
}

/** RTCP feedback one werift sender received from the server, and what it did about it. */
export interface SenderFeedback {
  /** PLIs received. */
  plis: number;
  /** Generic NACK messages received. */
  nacks: number;
  /** Sequence numbers asked for in them. */
  nackedPackets: number;
  /** Packets the sender sent again (from its history) in answer. */
  retransmitted(): number;
  /** Stops counting. */
  stop(): void;
}

interface SenderPrivates {
  retransmittedPacketsSent?: number;
}

/** Counts the PLIs and NACKs a werift sender receives (its events), and its retransmissions (a private counter). */
export function countFeedback(sender: RTCRtpSender): SenderFeedback {
  const fb: SenderFeedback = {
    plis: 0,
    nacks: 0,
    nackedPackets: 0,
    retransmitted: () => (sender as unknown as SenderPrivates).retransmittedPacketsSent ?? 0,
    stop: () => {
      pli.unSubscribe();
      nack.unSubscribe();
    },
  };
  const pli = sender.onPictureLossIndication.subscribe(() => void fb.plis++);
  const nack = sender.onGenericNack.subscribe((n) => {
    fb.nacks++;
    fb.nackedPackets += n.lost.length;
  });
  return fb;
}

export interface RelayedPublisher {
  publication: WhipPublication;
  source: RtpSource;
  /** Feedback the video sender received. */
  video: SenderFeedback;
  stop(): Promise<void>;
}

/**
 * Publishes ffmpeg's test pattern (see ffmpeg-rtp-source.ts) to a WHIP URL from a werift client
 * whose every datagram goes through `relay`; counts the video feedback from the start.
 */
export async function publishThroughRelay(
  whipUrl: string,
  relay: NetRelay,
  opts: Partial<RtpSourceOptions> & Pick<WhipPublishOptions, "headers" | "connectTimeoutMs"> = {},
): Promise<RelayedPublisher> {
  const { headers, connectTimeoutMs, ...sourceOpts } = opts;
  const o: RtpSourceOptions = { ...TEST_STREAM_DEFAULTS, ...sourceOpts };
  const publication = await whipPublish(whipUrl, { video: true, audio: o.audio, headers, connectTimeoutMs, ...throughRelay(relay) });
  if (!publication.videoTrack || !publication.videoSender) {
    await publication.close();
    throw new Error("no video track");
  }
  const video = countFeedback(publication.videoSender);
  let source: RtpSource;
  try {
    source = await startRtpSource(
      {
        video: { track: publication.videoTrack, sender: publication.videoSender },
        audio: publication.audioTrack ? { track: publication.audioTrack, sender: publication.audioSender } : undefined,
      },
      o,
    );
  } catch (err) {
    video.stop();
    await publication.close();
    throw err;
  }
  return {
    publication,
    source,
    video,
    stop: async () => {
      try {
        await source.stop();
      } finally {
        video.stop();
        await publication.close();
      }
    },
  };
}
