/**
 * What the single decoder of a live stream hands to its consumers (samplers, the AI worker
 * client). Times follow the project convention: `rtpTime` in the 90 kHz clock, the `*Ms`
 * fields epoch ms (fractional: latency is measured in fractions of a frame interval).
 */

export type DecodedPixelFormat = "gray8" | "rgb24" | "jpeg";

export interface DecodedFrame {
  stream: string;
  /** Counts every frame the stream's decoder produced (across its restarts): sampling leaves gaps. */
  sequence: number;
  width: number;
  height: number;
  format: DecodedPixelFormat;
  /** gray8: width*height bytes; rgb24: width*height*3; jpeg: one JFIF image. Shared by all consumers: read only. */
  data: Buffer;
  /** RTP time (90 kHz) of the source access unit. */
  rtpTime: number;
  /** When the last RTP packet of the source access unit arrived. */
  arrivalMs: number;
  /** Capture time estimate of the source access unit. */
  wallClockMs: number;
  /** When the frame left the decoder (read whole from its stdout). */
  decodedAtMs: number;
  keyframe: boolean;
}

/** How a consumer wants its frames: at most `fps`, at most `maxHeight` rows (never upscaled). */
export interface OutputSpec {
  fps: number;
  maxHeight: number;
  format: DecodedPixelFormat;
}

export type DecodedFrameConsumer = (frame: DecodedFrame) => void;

/** Epoch ms with sub-ms resolution (Date.now() is too coarse for a decode that takes 3 ms). */
export function nowMs(): number {
  return performance.timeOrigin + performance.now();
}
