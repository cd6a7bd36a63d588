import { RtpReorderBuffer } from "./rtp-reorder-buffer.js";
import { RtpUnwrapper } from "./rtp-unwrap.js";
import type { AudioFrame } from "./types.js";

export interface OpusDepacketizerOptions {
  onFrame(frame: AudioFrame): void;
  /**
   * How many later packets a missing one may be waited for (default 10, 200 ms of 20 ms
   * packets). Audio waits only while a packet is missing; a longer window only delays audio
   * behind a real loss.
   */
  reorderWindowPackets?: number;
}

export const DEFAULT_OPUS_REORDER_WINDOW = 10;

/**
 * One Opus packet per RTP packet (RFC 7587), put in sequence order by the RTP reorder layer:
 * a packet that overtook another waits up to the window for it. Packets given up on are
 * reported on the next frame as `samplesLostBefore` (its RTP time minus where the previous
 * frame ended), so a decoder can conceal them while the timeline stays on RTP time: audio does
 * not shift against video. A timestamp step without lost packets (DTX) is no loss.
 *
 * `rtpTime` is the RTP timestamp extended past its 32-bit wrap, counted from the first packet;
 * a restarted publisher clock shows as one jump, left to the ingest's TrackTimeline.
 */
export class OpusDepacketizer {
  private readonly onFrame: (frame: AudioFrame) => void;
  private readonly reorder: RtpReorderBuffer;
  private readonly timestamps = new RtpUnwrapper(32);
  private started = false;
  private tsBase = 0;
  /** RTP time (from the first packet) at which the last frame's samples end; -1 before any. */
  private expectedNext = -1;
  private lostSinceFrame = 0;
  private stat = { packetsReceived: 0, malformedPackets: 0, framesEmitted: 0, bytesReceived: 0, samplesLost: 0 };

  constructor(opts: OpusDepacketizerOptions) {
    this.onFrame = opts.onFrame;
    this.reorder = new RtpReorderBuffer(
      { windowPackets: opts.reorderWindowPackets ?? DEFAULT_OPUS_REORDER_WINDOW },
      {
        packet: (ts, _marker, payload, arrivalMs) => this.emit(ts, payload, arrivalMs),
        gap: (lost) => {
          this.lostSinceFrame += lost;
        },
      },
    );
  }

  /** One RTP packet of the audio track. `payload` becomes the frame's data (not copied). */
  push(seq: number, rtpTimestamp: number, payload: Uint8Array, arrivalMs: number): void {
    this.stat.packetsReceived++;
    this.stat.bytesReceived += payload.length;
    if (!this.started) {
      this.started = true;
      this.tsBase = this.timestamps.unwrap(rtpTimestamp >>> 0);
    }
    this.reorder.process(seq, rtpTimestamp, false, payload, arrivalMs);
  }

  /** End of stream: releases packets still held behind a gap. */
  flush(): void {
    this.reorder.flush();
  }

  private emit(rawTs: number, payload: Uint8Array, arrivalMs: number): void {
    const rtpTime = this.timestamps.unwrap(rawTs) - this.tsBase;
    const lost = this.lostSinceFrame;
    this.lostSinceFrame = 0;
    if (payload.length === 0) {
      // Every Opus packet has at least its TOC byte (RFC 6716 §3.1). Its samples are a hole
      // too, found from the next frame's RTP time.
      this.stat.malformedPackets++;
      this.lostSinceFrame = lost + 1;
      return;
    }
    const frame: AudioFrame = { kind: "audio", codec: "opus", data: payload, rtpTime, arrivalMs, wallClockMs: arrivalMs };
    if (lost > 0 && this.expectedNext >= 0 && rtpTime > this.expectedNext) {
      const samples = rtpTime - this.expectedNext;
      frame.samplesLostBefore = samples;
      this.stat.samplesLost += samples;
    }
    const samples = opusPacketSamples(payload);
    // An unreadable TOC still moves the timeline by the next frame's RTP time.
    this.expectedNext = samples > 0 ? rtpTime + samples : -1;
    this.stat.framesEmitted++;
    this.onFrame(frame);
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
  /** Samples (48 kHz) reported lost before frames (`samplesLostBefore`). */
  get samplesLost(): number {
    return this.stat.samplesLost;
  }
  get malformedPackets(): number {
    return this.stat.malformedPackets;
  }
  get framesEmitted(): number {
    return this.stat.framesEmitted;
  }
  get bytesReceived(): number {
    return this.stat.bytesReceived;
  }
}

// Samples per frame at 48 kHz by TOC config (RFC 6716 §3.1, table 2): SILK 10/20/40/60 ms,
// hybrid 10/20 ms, CELT 2.5/5/10/20 ms.
const FRAME_SAMPLES = [480, 960, 1920, 2880, 480, 960, 1920, 2880, 480, 960, 1920, 2880, 480, 960, 480, 960, 120, 240, 480, 960, 120, 240, 480, 960, 120, 240, 480, 960, 120, 240, 480, 960];

/** Samples (48 kHz) an Opus packet decodes to, from its TOC byte (and frame count); 0 if unreadable. */
export function opusPacketSamples(p: Uint8Array): number {
  if (p.length === 0) return 0;
  const toc = p[0] as number;
  const perFrame = FRAME_SAMPLES[toc >> 3] as number;
  const code = toc & 3;
  if (code === 0) return perFrame;
  if (code === 1 || code === 2) return 2 * perFrame;
  if (p.length < 2) return 0;
  return ((p[1] as number) & 0x3f) * perFrame;
}
