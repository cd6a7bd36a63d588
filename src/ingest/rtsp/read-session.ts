/**
 * RTSP PLAY: one reader of a live stream, whichever protocol published it. It attaches to the
 * stream's hub with its own bounded queue (a slow reader drops and counts, never stalls the
 * publisher), packetizes access units into RTP and hands each packet to its transport.
 * CONTRACT: signatures fixed; implemented by the rtsp-read work, used by the rtsp-server work.
 */
import type { LiveStream } from "../../core/stream-registry.js";
import type { DescribeTrack } from "./sdp.js";

/** Where a reader's packets go: a TCP-interleaved channel pair or a UDP pair; the server owns the transport. */
export interface RtspReadTransport {
  /**
   * Sends one RTP packet of track `index` (DESCRIBE order). Returns false when the transport
   * refused it (TCP socket backlog over IFC_RTSP_WRITE_BUFFER_BYTES): the reader drops the rest
   * of that frame and counts it, and waits for the next keyframe on video.
   */
  sendRtp(index: number, packet: Buffer): boolean;
  /** Sends one RTCP packet (sender reports) of track `index`; best effort. */
  sendRtcp(index: number, packet: Buffer): void;
}

/** The tracks a DESCRIBE of `stream` answers with (video first), from its hub's track info; none when it has no playable track yet. */
export declare function describeTracks(stream: LiveStream): DescribeTrack[];

export interface RtspReaderOptions {
  /** Reader queue bound, frames (IFC_READER_QUEUE_FRAMES, as every hub reader). */
  queueFrames: number;
  /** Largest RTP packet, bytes (1472 for UDP; TCP may use more, keep 1472 too for NVRs). */
  maxPacketBytes: number;
}

export interface RtspReaderStats {
  framesSent: number;
  /** Frames the hub queue or the transport dropped. */
  framesDropped: number;
  packetsSent: number;
  bytesSent: number;
}

export declare class RtspReader {
  /** `tracks`: the DESCRIBE tracks this reader SETUP (indexes into describeTracks' answer). */
  constructor(stream: LiveStream, tracks: readonly DescribeTrack[], setUp: readonly number[], transport: RtspReadTransport, opts: RtspReaderOptions);
  /** Starts delivery (PLAY): from the next keyframe (or the stream buffer's last GOP, like WHEP's cached-gop join). */
  start(): void;
  /** The RTP-Info header value for the PLAY response (url per track with seq and rtptime), after start(). */
  rtpInfo(trackUrls: readonly string[]): string;
  /** Stops delivery and detaches from the hub (TEARDOWN, connection closed, stream ended). */
  stop(): void;
  get stats(): RtspReaderStats;
  /** Called once when the stream ends under the reader (the server then closes the session). */
  onEnd(fn: () => void): void;
}
