/**
 * The media units that flow from ingest through the Stream hub to every reader.
 *
 * Times follow the project convention: RTP timestamps stay in their own clock
 * (90 kHz video, 48 kHz Opus), wall clock is epoch ms, durations are ms. A field's
 * name says which it is.
 */

/** Decoded facts from an H.264 sequence parameter set. */
export interface H264SpsInfo {
  profileIdc: number;
  constraintFlags: number;
  levelIdc: number;
  /** Display width/height after cropping, in pixels. */
  width: number;
  height: number;
  /** Frame rate from VUI timing info when present (publishers often omit it). */
  fps?: number;
  /** RFC 6381 codec string, e.g. "avc1.42e01f". */
  codecString: string;
  /** Present for the high profiles, which signal them (others are 4:2:0, 8 bit). */
  chromaFormatIdc?: number;
  bitDepthLuma?: number;
  bitDepthChroma?: number;
}

/** One H.264 access unit (one coded picture) reassembled from RTP. */
export interface VideoAccessUnit {
  kind: "video";
  codec: "h264";
  /** NAL units without start codes or length prefixes, in decoding order. */
  nalus: Uint8Array[];
  /** True when the unit holds an IDR slice (NAL type 5). */
  isKeyframe: boolean;
  /** RTP timestamp (90 kHz) extended past 32-bit wrap-around, counted from the stream's first unit. */
  rtpTime: number;
  /** Wall clock (epoch ms) at which the unit's last packet arrived. */
  arrivalMs: number;
  /**
   * Capture time estimate (epoch ms): from the publisher's RTCP sender reports when it sends
   * them, else first arrival + elapsed RTP time. Filled in by ingest, which owns RTCP.
   */
  wallClockMs: number;
  /**
   * The first unit after a break in the publisher's timeline: a resume after a reconnect, a new
   * session taking the stream over, or an RTP timestamp jump (IFC_RTP_MAX_JUMP_MS). `rtpTime`
   * still continues on the stream's timeline, with the real wall-clock gap in it; readers start
   * a new segment / restart decoding at the next IDR.
   */
  discontinuity?: true;
  /** Set when the unit carries SPS/PPS, or on every keyframe (latest known parameter sets). */
  sps?: Uint8Array;
  pps?: Uint8Array;
}

/**
 * One audio frame from RTP: an Opus packet, or one raw AAC access unit (RFC 3640 AU, no ADTS
 * header; its AudioSpecificConfig is in the stream's track info).
 */
export interface AudioFrame {
  kind: "audio";
  codec: "opus" | "aac";
  data: Uint8Array;
  /**
   * RTP timestamp extended past wrap-around, counted from the stream's first frame, in the
   * track's clock: 48 kHz for Opus, the sample rate for AAC (RFC 3640 uses it as the RTP clock).
   */
  rtpTime: number;
  arrivalMs: number;
  /** Capture time estimate (epoch ms), as for video. */
  wallClockMs: number;
  /** As for video: the first frame after a break in the publisher's timeline. */
  discontinuity?: true;
  /**
   * Samples (in the track's clock) of audio lost just before this frame (packets given up by the reorder
   * layer), for a decoder's packet-loss concealment. `rtpTime` already lies after the hole.
   */
  samplesLostBefore?: number;
}

export type MediaFrame = VideoAccessUnit | AudioFrame;

export const VIDEO_CLOCK_HZ = 90_000;
export const OPUS_CLOCK_HZ = 48_000;
