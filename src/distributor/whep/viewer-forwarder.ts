import { RtpHeader } from "werift";
import type { RtpRing } from "./rtp-ring.js";

/** Where a viewer's packets go: werift's RTCDtlsTransport (SRTP-encrypts synchronously, then sends). */
export interface RtpOutput {
  /** `payload` is a view of the ring's slab, good only until this call returns: read it synchronously. */
  sendRtp(payload: Buffer, header: RtpHeader): Promise<unknown>;
}

export interface TrackOutputOptions {
  ring: RtpRing;
  out: RtpOutput;
  /** The viewer's SSRC and payload type for this track (from its answer). */
  ssrc: number;
  payloadType: number;
  /** RTP clock rate (default 90000): a publisher change moves timestamps on by the wall-clock gap in it. */
  clockRate?: number;
  /** Called after each packet, for sender reports. */
  onSent?(rtpTimestamp: number, payloadBytes: number): void;
}

/**
 * How a viewer starts (IFC_WHEP_JOIN): `cached-gop` plays from the ring's last IDR at once,
 * `next-keyframe` waits for (and asks for) a new one.
 */
export type WhepJoin = "cached-gop" | "next-keyframe";

/**
 * How the cached GOP goes out to a viewer joining with `cached-gop` (bench/whep-ttff.ts compares them):
 * - `fast-forward` (default): paced at `CATCH_UP_RATE_FACTOR` × the stream's bitrate (at least
 *   `CATCH_UP_MIN_BYTES_PER_MS`), its timestamps squeezed into `FAST_FORWARD_SPAN_MS`, so a
 *   player decodes it quickly and then plays at the live edge; audio starts at the live edge.
 * - `burst`: as fast as the send path takes it, with its own timestamps; audio starts at the IDR.
 *   The burst overflows a receiver's socket buffer (werift's, 208 KiB by default): in
 *   bench/results/whep-ttff.json 4519 packets were lost over 10 joins with 4 s GOPs (none
 *   fast-forwarded) and the 30th frame came 1.7 s after connecting (0.25 s fast-forwarded),
 *   for a first frame no sooner (171 against 157 ms median).
 */
export type CatchUp = "fast-forward" | "burst";

export interface ViewerForwarderOptions {
  join: WhepJoin;
  catchUp: CatchUp;
  now?: () => number;
}

export interface ViewerForwarderStats {
  packetsSent: number;
  bytesSent: number;
  /** Packets never sent because this viewer lagged more than the ring holds (slow viewer). */
  packetsDropped: number;
  /** Sequence numbers the viewer asked again for (NACK). */
  nackedPackets: number;
  retransmitted: number;
  /** NACKed packets no longer (or never) in the cache. */
  retransmitMisses: number;
  /** NACKs not answered because the packet was resent less than RESEND_MIN_INTERVAL_MS ago. */
  retransmitsSuppressed: number;
  /** Times the viewer had to wait for a keyframe (join, then after lagging or a publisher change). */
  keyframeWaits: number;
  /** Joins served from the GOP cache (0 or 1). */
  cachedJoins: number;
  /** Publisher changes this viewer was carried across. */
  publisherChanges: number;
}

/** Sends most this many packets to one viewer without their send completing: beyond, it is slow. */
const MAX_INFLIGHT = 256;
/** A fast-forwarded GOP is squeezed into this much media time: a few frames' worth, so players show its end at once. */
const FAST_FORWARD_SPAN_MS = 100;
/** A paced catch-up sends this many times the stream's own bitrate (it catches up a GOP of age A in about A / (factor − 1))... */
const CATCH_UP_RATE_FACTOR = 4;
/** ...and at least this (bytes per ms: 8 Mbit/s), so that a 100 kB IDR leaves in 0.1 s. */
const CATCH_UP_MIN_BYTES_PER_MS = 1000;
/**
 * A packet is resent at most once in this long, however often it is NACKed (libwebrtc skips
 * resends within an RTT too): werift's receiver NACKs every 5 ms, and resending each time
 * turned one burst loss into a storm that lost the next IDRs as well.
 */
const RESEND_MIN_INTERVAL_MS = 30;
/** Resend times kept per viewer before the table is cleared (it only needs the last few RTTs). */
const RESEND_TABLE_MAX = 1024;
/** The bucket of the paced catch-up: the most sent back to back (about 12 packets). */
const CATCH_UP_BUCKET_BYTES = 16 * 1024;

/**
 * A viewer's read position in one track's ring and the rewrite of each packet for it: its own
 * SSRC and payload type, sequence and timestamp shifted by per-viewer offsets. Offsets stay
 * constant within one publisher session, so a viewer NACK maps back to the publisher's
 * sequence number by subtraction; after a skip (slow viewer) or a publisher change the
 * sequence offset moves so that the viewer sees no gap it would NACK in vain, and NACKs from
 * before the skip are ignored (`validFrom`).
 */
class TrackOutput {
  cursor = 0;
  validFrom = 0;
  seqOffset = Math.floor(Math.random() * 0x10000);
  tsOffset = Math.floor(Math.random() * 0x100000000);
  lastOutSeq = -1;
  lastOutTs = 0;
  /** Arrival (epoch ms) of the newest packet sent; NaN before the first. */
  lastOutArrival = NaN;
  /** The ring's publisher mark (index) the offsets belong to. */
  publisherIndex = 0;
  readonly clockRate: number;
  /** One header per viewer and track, rewritten per packet: SRTP serializes it synchronously. */
  readonly header: RtpHeader;

  constructor(readonly o: TrackOutputOptions) {
    this.clockRate = o.clockRate ?? 90000;
    this.header = new RtpHeader({ ssrc: o.ssrc, payloadType: o.payloadType, extensions: [], csrc: [], padding: false, extension: false });
  }

  get ring(): RtpRing {
    return this.o.ring;
  }

  /**
   * Continues at ring index `index`, keeping the viewer's sequence numbers contiguous. Across
   * a publisher change (new clock) the timestamps move on by the wall-clock time between the
   * last packet sent and this one, never backwards.
   */
  resumeAt(index: number): void {
    const ring = this.ring;
    if (ring.has(index) && this.lastOutSeq >= 0) {
      this.seqOffset = (this.lastOutSeq + 1 - ring.seqAt(index)) & 0xffff;
      if (this.publisherIndex !== ring.publisher.index) {
        const since = Number.isNaN(this.lastOutArrival) ? (ring.publisher.lastMediaAt ?? ring.arrivalAt(index)) : this.lastOutArrival;
        const gapTicks = Math.max(1, Math.round(((ring.arrivalAt(index) - since) * this.clockRate) / 1000));
        this.tsOffset = (this.lastOutTs + gapTicks - ring.timestampAt(index)) >>> 0;
      }
    }
    this.publisherIndex = ring.publisher.index;
    this.cursor = index;
    this.validFrom = index;
  }

  /** The packets of this track's current publisher session end at this index (exclusive). */
  get sessionEnd(): number {
    const ring = this.ring;
    return ring.publisher.index > this.publisherIndex ? ring.publisher.index : ring.head;
  }
}

/** A fast-forward in progress: cached video timestamps squeezed, then the live ones shifted to follow. */
interface FastForward {
  /** Ring index of the first packet that came after the join (plays at its own pace). */
  liveIndex: number;
  /** Publisher timestamp of the IDR, and the squeeze factor applied from it. */
  keyTs: number;
  factor: number;
  /** The video timestamp offset the squeezed packets were sent with (retransmissions reuse it). */
  baseOffset: number;
  /** Ticks the squeeze took out of the cached span: the live part's offset is shifted back by as much. */
  squeezedTicks: number;
  /** Whether the live part began. */
  live: boolean;
}

/**
 * One viewer's forwarding state over its stream's rings. It starts at a keyframe (the cached
 * one, or the next) and never holds the publisher: `pump` runs off the packet path and sends
 * what the rings hold past the viewer's position; a viewer that falls behind by more than a
 * ring drops to the next keyframe (counted), one whose sends do not complete stops being fed
 * until they do. A publisher change (a new session after a network break) keeps the viewer:
 * its numbering continues and it waits for the new session's first keyframe.
 */
export class ViewerForwarder {
  private state: "idle" | "waiting" | "forwarding" | "closed" = "idle";
  private waitFrom = 0;
  private inflight = 0;
  private readonly video: TrackOutput;
  private readonly audio: TrackOutput | undefined;
  private fastForward: FastForward | undefined;
  /** A paced catch-up in progress (token bucket over the video track), until the viewer reaches the live edge. */
  private pacing: { rate: number; tokens: number; at: number } | undefined;
  private pacingTimer: NodeJS.Timeout | undefined;
  /** Ring index → when it was last resent to this viewer (epoch ms). */
  private readonly resentAt = new Map<number, number>();
  private readonly now: () => number;
  /** Epoch ms when the first keyframe's first packet was sent. */
  firstKeyframeAt: number | undefined;
  readonly stats: ViewerForwarderStats = {
    packetsSent: 0, bytesSent: 0, packetsDropped: 0, nackedPackets: 0, retransmitted: 0, retransmitMisses: 0, retransmitsSuppressed: 0, keyframeWaits: 0, cachedJoins: 0, publisherChanges: 0,
  };

  constructor(
    video: TrackOutputOptions,
    audio: TrackOutputOptions | undefined,
    private readonly requestKeyframe: (reason: string) => void,
    /** Asks the owner to call `pump` soon (sends completed after a stall). */
    private readonly schedule: () => void,
    private readonly opts: ViewerForwarderOptions = { join: "next-keyframe", catchUp: "fast-forward" },
  ) {
    this.video = new TrackOutput(video);
    this.audio = audio ? new TrackOutput(audio) : undefined;
    this.now = opts.now ?? Date.now;
  }

  get isForwarding(): boolean {
    return this.state === "forwarding";
  }

  /** The viewer is connected: start from the cached GOP, or wait for the next keyframe and ask the publisher for one. */
  start(): void {
    if (this.state !== "idle") return;
    const ring = this.video.ring;
    const k = ring.lastKeyframeStart;
    if (this.opts.join === "cached-gop" && k >= ring.tail && k >= ring.publisher.index) {
      this.stats.cachedJoins++;
      this.joinCached(k);
      return;
    }
    this.waitForKeyframe("join");
  }

  private joinCached(k: number): void {
    const v = this.video;
    const ring = v.ring;
    v.resumeAt(k);
    const keyTs = ring.timestampAt(k);
    const spanTicks = (ring.timestampAt(ring.head - 1) - keyTs) >>> 0;
    const a = this.audio;
    if (this.opts.catchUp === "fast-forward" && spanTicks > 0 && spanTicks < 0x80000000) {
      const factor = Math.min(1, (FAST_FORWARD_SPAN_MS * 90) / spanTicks);
      this.fastForward = { liveIndex: ring.head, keyTs, factor, baseOffset: v.tsOffset, squeezedTicks: Math.round(spanTicks * (1 - factor)), live: false };
      this.pacing = { rate: Math.max(CATCH_UP_MIN_BYTES_PER_MS, CATCH_UP_RATE_FACTOR * streamBytesPerMs(ring)), tokens: CATCH_UP_BUCKET_BYTES, at: this.now() };
      // Audio cannot be squeezed: it starts where video turns live.
      if (a) a.resumeAt(a.ring.head);
    } else if (a) {
      a.resumeAt(a.ring.indexArrivedFrom(ring.arrivalAt(k), a.ring.publisher.index));
    }
    this.state = "forwarding";
    this.firstKeyframeAt ??= this.now();
  }

  close(): void {
    this.state = "closed";
    if (this.pacingTimer) clearTimeout(this.pacingTimer);
  }

  /** Takes `bytes` from the catch-up bucket, or arms a timer for when they will be there. */
  private spend(bytes: number): boolean {
    const pacing = this.pacing as { rate: number; tokens: number; at: number };
    const now = this.now();
    pacing.tokens = Math.min(CATCH_UP_BUCKET_BYTES, pacing.tokens + (now - pacing.at) * pacing.rate);
    pacing.at = now;
    if (pacing.tokens >= Math.min(bytes, CATCH_UP_BUCKET_BYTES)) {
      pacing.tokens -= bytes;
      return true;
    }
    this.pacingTimer ??= setTimeout(() => {
      this.pacingTimer = undefined;
      this.schedule();
    }, Math.max(1, Math.ceil((bytes - pacing.tokens) / pacing.rate)));
    return false;
  }

  private waitForKeyframe(reason: string, from = this.video.ring.head): void {
    this.state = "waiting";
    this.waitFrom = from;
    this.fastForward = undefined;
    this.pacing = undefined;
    this.stats.keyframeWaits++;
    this.requestKeyframe(reason);
  }

  private readonly sent = (): void => {
    this.inflight--;
    if (this.inflight === MAX_INFLIGHT - 1 && this.state === "forwarding") this.schedule();
  };

  pump(): void {
    if (this.state === "waiting") {
      const ring = this.video.ring;
      const k = ring.lastKeyframeStart;
      // The keyframe must have begun after the wait did, or be arriving now (its start still held).
      if (k < 0 || k < ring.tail || (k < this.waitFrom && !ring.keyframeArriving)) return;
      if (this.video.publisherIndex !== ring.publisher.index && this.video.lastOutSeq >= 0) this.stats.publisherChanges++;
      this.video.resumeAt(k);
      // Audio joins at the keyframe's arrival (its own clock cannot be matched by timestamp).
      const a = this.audio;
      if (a) a.resumeAt(a.ring.indexArrivedFrom(ring.arrivalAt(k), a.ring.publisher.index));
      this.state = "forwarding";
      this.firstKeyframeAt ??= this.now();
    }
    if (this.state !== "forwarding") return;
    const v = this.video;
    if (v.cursor < v.ring.tail) {
      this.stats.packetsDropped += v.ring.tail - v.cursor;
      this.waitForKeyframe("viewer-lagged");
      return;
    }
    const a = this.audio;
    if (a && a.cursor < a.ring.tail) {
      // Audio has no keyframes: skip ahead; Opus conceals the gap.
      this.stats.packetsDropped += a.ring.tail - a.cursor;
      a.resumeAt(a.ring.tail);
    }
    this.drain(v);
    if (v.ring.publisher.index > v.publisherIndex && v.cursor >= v.ring.publisher.index) {
      // Everything of the old publisher went out: the new one starts at its first keyframe.
      this.waitForKeyframe("publisher-changed", v.ring.publisher.index);
      // The new session's keyframe may be held already.
      this.pump();
      return;
    }
    if (a) this.drain(a);
  }

  private drain(t: TrackOutput): void {
    const ring = t.ring;
    const end = t.sessionEnd;
    const paced = this.pacing !== undefined && t === this.video;
    while (t.cursor < end && this.inflight < MAX_INFLIGHT) {
      const index = t.cursor;
      const held = ring.has(index);
      if (held && paced && !this.spend(ring.lengthAt(index))) return;
      t.cursor++;
      if (held) this.send(t, false, index);
    }
    // At the live edge: from here packets go as they come.
    if (paced && t.cursor >= ring.head) this.pacing = undefined;
  }

  /** Sends the held packet at ring `index` (check `has` first). */
  private send(t: TrackOutput, retransmission: boolean, index: number): void {
    const ring = t.ring;
    const h = t.header;
    const ts = ring.timestampAt(index);
    h.sequenceNumber = (ring.seqAt(index) + t.seqOffset) & 0xffff;
    const ff = this.fastForward;
    if (ff && t === this.video && index < ff.liveIndex) {
      h.timestamp = (ff.keyTs + ff.baseOffset + Math.round(((ts - ff.keyTs) >>> 0) * ff.factor)) >>> 0;
    } else {
      if (ff && t === this.video && !ff.live) {
        // Live from here: the squeeze stays as a constant shift, so time runs on evenly.
        ff.live = true;
        t.tsOffset = (ff.baseOffset - ff.squeezedTicks) >>> 0;
      }
      h.timestamp = (ts + t.tsOffset) >>> 0;
    }
    h.marker = ring.markerAt(index);
    if (!retransmission) {
      t.lastOutSeq = h.sequenceNumber;
      t.lastOutTs = h.timestamp;
      t.lastOutArrival = ring.arrivalAt(index);
    }
    this.inflight++;
    // A view of the ring's slab: SRTP encrypts it before sendRtp's first await, before any push.
    const payload = ring.payloadAt(index) as Buffer;
    t.o.out.sendRtp(payload, h).then(this.sent, this.sent);
    this.stats.packetsSent++;
    this.stats.bytesSent += payload.length;
    t.o.onSent?.(h.timestamp, payload.length);
  }

  /** Generic NACK (RFC 4585 §6.2.1) from the viewer: resend from the cache what it lost of the video. */
  nack(viewerSeqs: readonly number[]): void {
    if (this.state !== "forwarding") return;
    const v = this.video;
    const ring = v.ring;
    for (const seq of viewerSeqs) {
      this.stats.nackedPackets++;
      // Only this publisher session's packets that this viewer was sent (validFrom..cursor).
      const index = ring.indexOfSeq((seq - v.seqOffset) & 0xffff, v.validFrom);
      if (!(index >= v.validFrom && index < v.cursor && ring.has(index))) {
        this.stats.retransmitMisses++;
        continue;
      }
      const now = this.now();
      if (now - (this.resentAt.get(index) ?? -Infinity) < RESEND_MIN_INTERVAL_MS) {
        this.stats.retransmitsSuppressed++;
        continue;
      }
      if (this.resentAt.size >= RESEND_TABLE_MAX) this.resentAt.clear();
      this.resentAt.set(index, now);
      this.send(v, true, index);
      this.stats.retransmitted++;
    }
  }
}

/** The stream's recent bitrate by the ring's bytes and arrival span (bytes per ms; 0 when unknown). */
function streamBytesPerMs(ring: RtpRing): number {
  const span = ring.arrivalAt(ring.head - 1) - ring.arrivalAt(ring.tail);
  return span > 0 ? ring.bytes / span : 0;
}
