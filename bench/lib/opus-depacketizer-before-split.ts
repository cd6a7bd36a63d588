// Frozen copy of the Opus depacketizer before the reorder layer (commit 432447b), for bench/rtp-reorder.ts.
import { RtpUnwrapper } from "../../src/media/rtp-unwrap.js";
import type { AudioFrame } from "../../src/media/types.js";

export interface OpusDepacketizerOptions {
  onFrame(frame: AudioFrame): void;
}

/**
 * One Opus packet per RTP packet (RFC 7587), emitted in arrival order. No reorder buffer:
 * a late audio packet is worth less than the latency a buffer adds, so a packet whose
 * sequence number is not past the last emitted one is dropped and counted.
 */
export class OpusDepacketizer {
  private readonly onFrame: (frame: AudioFrame) => void;
  private readonly seqs = new RtpUnwrapper(16);
  private readonly timestamps = new RtpUnwrapper(32);
  private started = false;
  private lastSeq = 0;
  private tsBase = 0;
  private stat = { packetsReceived: 0, packetsLost: 0, packetsLate: 0, malformedPackets: 0, framesEmitted: 0, bytesReceived: 0 };

  constructor(opts: OpusDepacketizerOptions) {
    this.onFrame = opts.onFrame;
  }

  /** One RTP packet of the audio track. `payload` becomes the frame's data (not copied). */
  push(seq: number, rtpTimestamp: number, payload: Uint8Array, arrivalMs: number): void {
    this.stat.packetsReceived++;
    this.stat.bytesReceived += payload.length;
    const ext = this.seqs.unwrap(seq & 0xffff);
    const ts = this.timestamps.unwrap(rtpTimestamp >>> 0);
    if (!this.started) {
      this.started = true;
      this.lastSeq = ext - 1;
      this.tsBase = ts;
    }
    if (ext <= this.lastSeq) {
      this.stat.packetsLate++; // a duplicate, or too late: its gap was counted lost when passed
      return;
    }
    this.stat.packetsLost += ext - this.lastSeq - 1;
    this.lastSeq = ext;
    if (payload.length === 0) {
      // Every Opus packet has at least its TOC byte (RFC 6716 §3.1).
      this.stat.malformedPackets++;
      return;
    }
    this.stat.framesEmitted++;
    this.onFrame({ kind: "audio", codec: "opus", data: payload, rtpTime: ts - this.tsBase, arrivalMs, wallClockMs: arrivalMs });
  }

  get packetsReceived(): number {
    return this.stat.packetsReceived;
  }
  /** Sequence numbers skipped over (a packet arriving later does not undo the count). */
  get packetsLost(): number {
    return this.stat.packetsLost;
  }
  /** Packets dropped because one with a later sequence number was already emitted (or duplicates). */
  get packetsLate(): number {
    return this.stat.packetsLate;
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
