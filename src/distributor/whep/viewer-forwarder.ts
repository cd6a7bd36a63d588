import { RtpHeader } from "werift";
import type { TappedRtpPacket } from "../../core/stream-hub.js";
import type { RtpRing } from "./rtp-ring.js";

/** Where a viewer's packets go: werift's RTCDtlsTransport (SRTP-encrypts synchronously, then sends). */
export interface RtpOutput {
  sendRtp(payload: Buffer, header: RtpHeader): Promise<unknown>;
}

export interface TrackOutputOptions {
  ring: RtpRing;
  out: RtpOutput;
  /** The viewer's SSRC and payload type for this track (from its answer). */
  ssrc: number;
  payloadType: number;
  /** Called after each packet, for sender reports. */
  onSent?(rtpTimestamp: number, payloadBytes: number): void;
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
  /** Times the viewer had to wait for a keyframe (join, then after lagging). */
  keyframeWaits: number;
}

/** Sends most this many packets to one viewer without their send completing: beyond, it is slow. */
const MAX_INFLIGHT = 256;

/**
 * A viewer's read position in one track's ring and the rewrite of each packet for it: its own
 * SSRC and payload type, sequence and timestamp shifted by per-viewer offsets. Offsets stay
 * constant, so a viewer NACK maps back to the publisher's sequence number by subtraction;
 * after a skip (slow viewer) the sequence offset moves so that the viewer sees no gap it
 * would NACK in vain, and NACKs from before the skip are ignored (`validFrom`).
 */
class TrackOutput {
  cursor = 0;
  validFrom = 0;
  seqOffset = Math.floor(Math.random() * 0x10000);
  readonly tsOffset = Math.floor(Math.random() * 0x100000000);
  lastOutSeq = -1;
  /** One header per viewer and track, rewritten per packet: SRTP serializes it synchronously. */
  readonly header: RtpHeader;

  constructor(readonly o: TrackOutputOptions) {
    this.header = new RtpHeader({ ssrc: o.ssrc, payloadType: o.payloadType, extensions: [], csrc: [], padding: false, extension: false });
  }

  /** Continues at ring index `index`, keeping the viewer's sequence numbers contiguous. */
  resumeAt(index: number): void {
    const p = this.o.ring.at(index);
    if (p && this.lastOutSeq >= 0) this.seqOffset = (this.lastOutSeq + 1 - p.header.sequenceNumber) & 0xffff;
    this.cursor = index;
    this.validFrom = index;
  }
}

/**
 * One viewer's forwarding state over its stream's rings. It starts at a keyframe and never
 * holds the publisher: `pump` runs off the packet path and sends what the rings hold past the
 * viewer's position; a viewer that falls behind by more than a ring drops to the next
 * keyframe (counted), one whose sends do not complete stops being fed until they do.
 */
export class ViewerForwarder {
  private state: "idle" | "waiting" | "forwarding" | "closed" = "idle";
  private waitFrom = 0;
  private inflight = 0;
  private readonly video: TrackOutput;
  private readonly audio: TrackOutput | undefined;
  /** Epoch ms when the first keyframe's first packet was sent. */
  firstKeyframeAt: number | undefined;
  readonly stats: ViewerForwarderStats = { packetsSent: 0, bytesSent: 0, packetsDropped: 0, nackedPackets: 0, retransmitted: 0, retransmitMisses: 0, keyframeWaits: 0 };

  constructor(
    video: TrackOutputOptions,
    audio: TrackOutputOptions | undefined,
    private readonly requestKeyframe: (reason: string) => void,
    /** Asks the owner to call `pump` soon (sends completed after a stall). */
    private readonly schedule: () => void,
  ) {
    this.video = new TrackOutput(video);
    this.audio = audio ? new TrackOutput(audio) : undefined;
  }

  get isForwarding(): boolean {
    return this.state === "forwarding";
  }

  /** The viewer is connected: wait for the next keyframe, and ask the publisher for one. */
  start(): void {
    if (this.state !== "idle") return;
    this.waitForKeyframe("join");
  }

  close(): void {
    this.state = "closed";
  }

  private waitForKeyframe(reason: string): void {
    this.state = "waiting";
    this.waitFrom = this.video.o.ring.head;
    this.stats.keyframeWaits++;
    this.requestKeyframe(reason);
  }

  private readonly sent = (): void => {
    this.inflight--;
    if (this.inflight === MAX_INFLIGHT - 1 && this.state === "forwarding") this.schedule();
  };

  pump(): void {
    if (this.state === "waiting") {
      const ring = this.video.o.ring;
      const k = ring.lastKeyframeStart;
      // The keyframe must have begun after the wait did, or be arriving now (its start still held).
      if (k < 0 || k < ring.tail || (k < this.waitFrom && !ring.keyframeArriving)) return;
      this.video.resumeAt(k);
      if (this.audio) this.audio.resumeAt(this.audio.o.ring.head);
      this.state = "forwarding";
      this.firstKeyframeAt ??= Date.now();
    }
    if (this.state !== "forwarding") return;
    const v = this.video;
    if (v.cursor < v.o.ring.tail) {
      this.stats.packetsDropped += v.o.ring.tail - v.cursor;
      this.waitForKeyframe("viewer-lagged");
      return;
    }
    const a = this.audio;
    if (a && a.cursor < a.o.ring.tail) {
      // Audio has no keyframes: skip ahead; Opus conceals the gap.
      this.stats.packetsDropped += a.o.ring.tail - a.cursor;
      a.resumeAt(a.o.ring.tail);
    }
    this.drain(v);
    if (a) this.drain(a);
  }

  private drain(t: TrackOutput): void {
    const ring = t.o.ring;
    while (t.cursor < ring.head && this.inflight < MAX_INFLIGHT) {
      const p = ring.at(t.cursor++);
      if (p) this.send(t, p, false);
    }
  }

  private send(t: TrackOutput, p: TappedRtpPacket, retransmission: boolean): void {
    const h = t.header;
    h.sequenceNumber = (p.header.sequenceNumber + t.seqOffset) & 0xffff;
    h.timestamp = (p.header.timestamp + t.tsOffset) >>> 0;
    h.marker = p.header.marker;
    if (!retransmission) t.lastOutSeq = h.sequenceNumber;
    this.inflight++;
    t.o.out.sendRtp(p.payload, h).then(this.sent, this.sent);
    this.stats.packetsSent++;
    this.stats.bytesSent += p.payload.length;
    t.o.onSent?.(h.timestamp, p.payload.length);
  }

  /** Generic NACK (RFC 4585 §6.2.1) from the viewer: resend from the cache what it lost of the video. */
  nack(viewerSeqs: readonly number[]): void {
    if (this.state !== "forwarding") return;
    const v = this.video;
    const ring = v.o.ring;
    for (const seq of viewerSeqs) {
      this.stats.nackedPackets++;
      const index = ring.indexOfSeq((seq - v.seqOffset) & 0xffff);
      const p = index >= v.validFrom && index < v.cursor ? ring.at(index) : undefined;
      if (!p) {
        this.stats.retransmitMisses++;
        continue;
      }
      this.send(v, p, true);
      this.stats.retransmitted++;
    }
  }
}
