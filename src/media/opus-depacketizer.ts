import { AudioRtpDepacketizer } from "./audio-rtp-depacketizer.js";
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
 * One Opus packet per RTP packet (RFC 7587); reordering and loss reporting as every audio
 * depacketizer (AudioRtpDepacketizer).
 *
 * `rtpTime` is the RTP timestamp extended past its 32-bit wrap, counted from the first packet;
 * a restarted publisher clock shows as one jump, left to the ingest's TrackTimeline.
 */
export class OpusDepacketizer extends AudioRtpDepacketizer {
  constructor(opts: OpusDepacketizerOptions) {
    super(opts.onFrame, opts.reorderWindowPackets ?? DEFAULT_OPUS_REORDER_WINDOW);
  }

  protected packet(rawTs: number, _marker: boolean, payload: Uint8Array, arrivalMs: number): void {
    // Every Opus packet has at least its TOC byte (RFC 6716 §3.1): an empty one is a hole.
    if (payload.length === 0) return this.malformed();
    this.emitFrame("opus", payload, this.rtpTimeOf(rawTs), arrivalMs, opusPacketSamples(payload));
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
