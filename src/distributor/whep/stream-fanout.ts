import type { StreamHub, TappedRtpPacket } from "../../core/stream-hub.js";
import { RtpRing, type RtpRingLimits } from "./rtp-ring.js";
import type { ViewerForwarder } from "./viewer-forwarder.js";

/** A keyframe request with no keyframe since is repeated after this long at the soonest. */
const KEYFRAME_RETRY_MS = 1000;
/** Opus packets kept per stream at least (20 ms each: 2.5 s), enough for a lagging viewer's catch-up. */
const AUDIO_RING_PACKETS = 128;
/** Audio's share of the byte cap: Opus is a few percent of a stream's bytes. */
const AUDIO_BYTES_SHARE = 8;

/** How much of a stream the fan-out keeps (IFC_STREAM_BUFFER_MS/_BYTES, IFC_WHEP_PACKET_CACHE_PACKETS). */
export interface FanoutBuffer {
  /** Video packets held whatever their age (NACK cache and slow viewers' slack): the floor. */
  minPackets: number;
  /** Media kept by age; the newest GOP is kept whole even when older. */
  bufferMs: number;
  /** Byte cap of the video ring (audio gets an eighth more). */
  bufferBytes: number;
}

export interface KeyframeRequestStats {
  /** Requests passed to the publisher's (rate-limited) keyframe requester. */
  sent: number;
  /** Requests absorbed because one was outstanding (no keyframe since). */
  coalesced: number;
}

/**
 * The WHEP side of one live stream: taps the publisher's RTP on the hub into two rings (the
 * packets are stored once, by reference), and pumps every viewer from them on a later tick,
 * so the publisher's packet path only pays an array store. Viewers' keyframe needs (join,
 * PLI, FIR, lag) are coalesced here before they reach the publisher's own rate limiter.
 */
export class StreamFanout {
  readonly video: RtpRing;
  readonly audio: RtpRing;
  private readonly viewers = new Set<ViewerForwarder>();
  private readonly untap: () => void;
  private readonly unlisten: () => void;
  private scheduled = false;
  private requestedAt = -Infinity;
  private keyframesAtRequest = -1;
  readonly keyframeRequests: KeyframeRequestStats = { sent: 0, coalesced: 0 };

  constructor(
    private readonly hub: StreamHub,
    buffer: FanoutBuffer,
    private readonly now: () => number = Date.now,
  ) {
    const video: RtpRingLimits = { minPackets: buffer.minPackets, maxAgeMs: buffer.bufferMs, maxBytes: buffer.bufferBytes };
    this.video = new RtpRing(video, true, now);
    // Unwatched, the video ring holds the newest GOP and the NACK floor only (see keepByAge).
    this.video.keepByAge = false;
    // Audio spans as long as video so that a cached-GOP join finds audio from the IDR on.
    this.audio = new RtpRing({ minPackets: AUDIO_RING_PACKETS, maxAgeMs: buffer.bufferMs, maxBytes: Math.ceil(buffer.bufferBytes / AUDIO_BYTES_SHARE) }, false, now);
    this.untap = hub.tapRtp(this.onRtp);
    // A new publisher session (resume after a break): the rings mark where it starts, and each
    // viewer carries on across it at its own pace (see ViewerForwarder).
    this.unlisten = hub.onPublisherChanged((change) => {
      this.video.markPublisherChange(change.lastMediaAt);
      this.audio.markPublisherChange(change.lastMediaAt);
      this.schedule();
    });
  }

  private readonly onRtp = (kind: "video" | "audio", p: TappedRtpPacket): void => {
    // AAC never reaches WHEP viewers (WebRTC has no AAC): it is not worth a ring slot.
    if (kind === "audio" && this.hub.tracks.audio?.codec === "aac") return;
    (kind === "video" ? this.video : this.audio).push(p);
    if (this.viewers.size > 0) this.schedule();
  };

  /** Pumps every viewer once, after the current I/O callbacks (batching the packets that came). */
  readonly schedule = (): void => {
    if (this.scheduled) return;
    this.scheduled = true;
    setImmediate(this.pump);
  };

  private readonly pump = (): void => {
    this.scheduled = false;
    for (const v of this.viewers) v.pump();
  };

  add(v: ViewerForwarder): void {
    this.viewers.add(v);
    this.video.keepByAge = true;
  }

  remove(v: ViewerForwarder): void {
    this.viewers.delete(v);
    this.video.keepByAge = this.viewers.size > 0;
  }

  get size(): number {
    return this.viewers.size;
  }

  /**
   * Asks the publisher for a keyframe unless one was asked for less than a second ago and has
   * not come yet: twenty viewers joining at once cost one request.
   */
  requestKeyframe(reason: string): void {
    const now = this.now();
    if (this.video.keyframes === this.keyframesAtRequest && now - this.requestedAt < KEYFRAME_RETRY_MS) {
      this.keyframeRequests.coalesced++;
      return;
    }
    this.requestedAt = now;
    this.keyframesAtRequest = this.video.keyframes;
    this.keyframeRequests.sent++;
    this.hub.requestKeyframe(`whep-${reason}`);
  }

  close(): void {
    this.untap();
    this.unlisten();
    this.viewers.clear();
  }
}
