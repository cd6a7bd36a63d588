/**
 * RTP packets from a socket → access units on a stream's hub: the WHIP session's media path
 * for transports with no WebRTC stack under them (an RTSP publisher, a pulled RTSP camera).
 * CONTRACT: signatures fixed; implemented by the rtsp-server work.
 */
import type { Logger } from "pino";
import type { StreamTracks } from "../core/stream-hub.js";
import type { LiveStream, SessionStats } from "../core/stream-registry.js";

/** One RTP track as its SDP describes it (RTSP ANNOUNCE, or a camera's DESCRIBE answer). */
export interface RtpTrackSpec {
  kind: "video" | "audio";
  codec: "h264" | "opus" | "aac";
  payloadType: number;
  clockRate: number;
  channels: number;
  sps?: Uint8Array;
  pps?: Uint8Array;
  profileLevelId?: string;
  aac?: { config: Uint8Array; sizeLength: number; indexLength: number; indexDeltaLength: number };
}

export interface RtpTracksIngestOptions {
  /** IFC_REORDER_WINDOW_PACKETS (audio uses the smaller of it and the Opus default). */
  reorderWindowPackets: number;
  /** IFC_CLOCK_DRIFT_TOLERANCE_MS */
  clockDriftToleranceMs: number;
}

export declare class RtpTracksIngest {
  constructor(tracks: readonly RtpTrackSpec[], opts: RtpTracksIngestOptions, log: Logger);
  /** What to claim the stream with (`StreamRegistry.claim`): the first video and first audio track. */
  get streamTracks(): StreamTracks;
  /** Publishes into `stream` from now on (its timelines map the units, as WhipSession does). */
  attach(stream: LiveStream): void;
  /** Stops publishing (packets still arriving are counted, not published). */
  detach(): void;
  /** One RTP packet of track `index` (SDP order); synchronous, never awaits; bad packets are counted and dropped. */
  pushRtp(index: number, packet: Buffer, nowMs: number): void;
  /** An RTCP compound packet of track `index`: sender reports anchor capture wall clock. */
  pushRtcp(index: number, packet: Buffer, nowMs: number): void;
  /** Epoch ms of the last RTP packet (0: none yet). */
  get lastMediaAt(): number;
  /** The media figures of SessionStats (the session adds protocol, ids and times). */
  stats(): Pick<SessionStats, "video" | "audio" | "bitrateBps" | "packetsReceived" | "packetsLost" | "framesReceived" | "framesDropped" | "keyframeRequests">;
}
