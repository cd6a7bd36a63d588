import { PixelFormat } from "../generated/imageflow/v1/camera_stream.js";

/** The pixel formats the decoder can hand the AI feed. */
export type FrameFormat = "gray8" | "rgb24" | "jpeg";

/** The wire enum of a frame the feed sends. */
export function toPixelFormat(format: FrameFormat): PixelFormat {
  return format === "gray8" ? PixelFormat.PIXEL_FORMAT_GRAY8 : format === "rgb24" ? PixelFormat.PIXEL_FORMAT_RGB24 : PixelFormat.PIXEL_FORMAT_JPEG;
}

/**
 * The decoder output a worker's `preferred_format` asks for; undefined when it states no
 * preference (UNSPECIFIED). A format this server does not know falls back to GRAY8, the one
 * every worker reads.
 */
export function fromPreferredFormat(format: PixelFormat): FrameFormat | undefined {
  switch (format) {
    case PixelFormat.PIXEL_FORMAT_UNSPECIFIED:
      return undefined;
    case PixelFormat.PIXEL_FORMAT_RGB24:
      return "rgb24";
    case PixelFormat.PIXEL_FORMAT_JPEG:
      return "jpeg";
    default:
      return "gray8";
  }
}
