/**
 * Access units → RTP packets, for readers that need RTP from a stream whatever protocol
 * published it (RTSP PLAY). CONTRACT: signatures fixed; implemented by the rtsp-read work.
 */
import type { AudioFrame, VideoAccessUnit } from "./types.js";

export interface RtpPacketizerOptions {
  payloadType: number;
  ssrc: number;
  /** Largest RTP packet, header included (bytes). */
  maxPacketBytes: number;
  /** First sequence number (random for a new reader, RFC 3550 §5.1). */
  initialSequence: number;
}

/** H.264 (RFC 6184, packetization-mode 1): single NAL units and FU-A; the marker on the unit's last packet. */
export declare class H264Packetizer {
  constructor(opts: RtpPacketizerOptions);
  /** RTP packets of one access unit at RTP timestamp `rtpTimestamp` (90 kHz, 32-bit wrapped by the packetizer). */
  packetize(au: VideoAccessUnit, rtpTimestamp: number): Buffer[];
}

/** Opus (RFC 7587): one packet per frame. AAC (RFC 3640, AAC-hbr): one AU per packet with a 16-bit AU-header (13-bit size, 3-bit index). */
export declare class AudioPacketizer {
  constructor(codec: "opus" | "aac", opts: RtpPacketizerOptions);
  packetize(frame: AudioFrame, rtpTimestamp: number): Buffer[];
}
