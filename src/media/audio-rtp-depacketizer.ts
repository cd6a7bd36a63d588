import { RtpReorderBuffer } from "./rtp-reorder-buffer.js";
import { RtpUnwrapper } from "./rtp-unwrap.js";
import type { AudioFrame } from "./types.js";

/**
 * What every audio depacketizer (Opus, AAC in RFC 3640, AAC in LATM) shares: packets go through
 * the RTP reorder layer first (one that overtook another waits up to the window for it), the
 * RTP timestamp is extended past its 32-bit wrap and counted from the first packet, and packets
 * given up on, or unreadable, are reported on the next frame as `samplesLostBefore` (its RTP
 * time minus where the previous frame ended), so a decoder can conceal them while the timeline
 * stays on RTP time: audio does not shift against video. A timestamp step without lost packets
 * (DTX) is no loss. A subclass reads its payload format in `packet` and emits with `emitFrame`.
 */
export abstract class AudioRtpDepacketizer {
  private readonly onFrame: (frame: AudioFrame) => void;
  private readonly reorder: RtpReorderBuffer;
  private readonly timestamps = new RtpUnwrapper(32);
  private started = false;
  private tsBase = 0;
  /** RTP time (from the first packet) at which the last frame's samples end; -1 unknown. */
  private expectedNext = -1;
  private lostSinceFrame = 0;
  protected readonly stat = { packetsReceived: 0, malformedPackets: 0, framesEmitted: 0, bytesReceived: 0, samplesLost: 0, fragmentsDropped: 0 };

  constructor(onFrame: (frame: AudioFrame) => void, reorderWindowPackets: number) {
    this.onFrame = onFrame;
    this.reorder = new RtpReorderBuffer(
      { windowPackets: reorderWindowPackets },
      {
        packet: (ts, marker, payload, arrivalMs) => this.packet(ts, marker, payload, arrivalMs),
        gap: (lost) => {
          this.lostSinceFrame += lost;
          this.onGap();
        },
      },
    );
  }

  /**
   * One RTP packet of the audio track. Frames are views of `payload` where the format allows
   * (not copied). `marker` (RTP M bit) ends a fragmented unit in the formats that fragment.
   */
  push(seq: number, rtpTimestamp: number, payload: Uint8Array, arrivalMs: number, marker = false): void {
    this.stat.packetsReceived++;
    this.stat.bytesReceived += payload.length;
    if (!this.started) {
      this.started = true;
      this.tsBase = this.timestamps.unwrap(rtpTimestamp >>> 0);
    }
    this.reorder.process(seq, rtpTimestamp, marker, payload, arrivalMs);
  }

  /** End of stream: releases packets still held behind a gap. */
  flush(): void {
    this.reorder.flush();
  }

  /** One packet in sequence order, with its raw 32-bit RTP timestamp. */
  protected abstract packet(rawTs: number, marker: boolean, payload: Uint8Array, arrivalMs: number): void;

  /** Packets were given up on: a subclass drops what it held of a fragmented unit. */
  protected onGap(): void {}

  /** The stream-relative RTP time of a raw timestamp (extended past wrap, from the first packet). */
  protected rtpTimeOf(rawTs: number): number {
    return this.timestamps.unwrap(rawTs) - this.tsBase;
  }

  /** Emits a frame at `rtpTime` lasting `durationTicks` (≤ 0: unknown), with the loss before it. */
  protected emitFrame(codec: AudioFrame["codec"], data: Uint8Array, rtpTime: number, arrivalMs: number, durationTicks: number): void {
    const lost = this.lostSinceFrame;
    this.lostSinceFrame = 0;
    const frame: AudioFrame = { kind: "audio", codec, data, rtpTime, arrivalMs, wallClockMs: arrivalMs };
    if (lost > 0 && this.expectedNext >= 0 && rtpTime > this.expectedNext) {
      const samples = rtpTime - this.expectedNext;
      frame.samplesLostBefore = samples;
      this.stat.samplesLost += samples;
    }
    // An unknown duration still moves the timeline by the next frame's RTP time.
    this.expectedNext = durationTicks > 0 ? rtpTime + durationTicks : -1;
    this.stat.framesEmitted++;
    this.onFrame(frame);
  }

  /** A packet that cannot be read: its samples are a hole, found from the next frame's RTP time. */
  protected malformed(): void {
    this.stat.malformedPackets++;
    this.lostSinceFrame++;
  }

  /** A unit held across packets lost its tail: its samples are a hole too. */
  protected unitLost(): void {
    this.lostSinceFrame++;
  }

  get packetsReceived(): number {
    return this.stat.packetsReceived;
  }
  /** Sequence numbers given up on within the reorder window. */
  get packetsLost(): number {
    return this.reorder.packetsLost;
  }
  /** Packets dropped as duplicates or because their gap was already given up on. */
  get packetsLate(): number {
    return this.reorder.packetsLate + this.reorder.packetsDuplicate;
  }
  /** Restarted RTP sequences, taken without loss. */
  get sequenceResets(): number {
    return this.reorder.sequenceResets;
  }
  /** Samples (in the RTP clock) reported lost before frames (`samplesLostBefore`). */
  get samplesLost(): number {
    return this.stat.samplesLost;
  }
  /** Packets whose contents do not add up (an empty Opus packet, AU headers or lengths that do not fit). */
  get malformedPackets(): number {
    return this.stat.malformedPackets;
  }
  /** Units fragmented across packets that were dropped because a fragment was lost. */
  get fragmentsDropped(): number {
    return this.stat.fragmentsDropped;
  }
  get framesEmitted(): number {
    return this.stat.framesEmitted;
  }
  get bytesReceived(): number {
    return this.stat.bytesReceived;
  }
}
