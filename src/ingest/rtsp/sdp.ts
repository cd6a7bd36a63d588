/**
 * The session description RTSP carries (ANNOUNCE from a publisher, DESCRIBE to a reader or from
 * a camera): media sections with their `a=control` URLs, codecs and codec parameters.
 * CONTRACT: signatures fixed; implemented by the rtsp-wire work.
 */

/** The codecs this server takes, as an error message names them. */
export const SUPPORTED_CODECS = "H264/90000 (packetization-mode 0 or 1), MPEG4-GENERIC/AAC-hbr (RFC 3640), opus/48000/2";

export interface RtspSdpTrack {
  kind: "video" | "audio";
  /** `a=control` as written (absolute URL, or relative to the content base); `*` or absent: the base. */
  control: string;
  payloadType: number;
  codec: "h264" | "opus" | "aac";
  /** RTP clock rate from a=rtpmap (90000 for H.264, 48000 for Opus, the sample rate for AAC). */
  clockRate: number;
  /** Audio channels from a=rtpmap (1 when absent). */
  channels: number;
  /** a=fmtp parameters, names lower-cased. */
  fmtp: Record<string, string>;
  /** H.264: from sprop-parameter-sets (base64), when given. */
  sps?: Uint8Array;
  pps?: Uint8Array;
  /** H.264: profile-level-id (hex), when given. */
  profileLevelId?: string;
  /** AAC (mode=AAC-hbr): AudioSpecificConfig from `config=` (hex), and the AU-header field sizes. */
  aac?: { config: Uint8Array; sizeLength: number; indexLength: number; indexDeltaLength: number };
}

/** A media section of a codec this server does not take. */
export interface UnsupportedTrack {
  kind: string;
  /** `encoding/clock[/channels]` from a=rtpmap, or the static payload type's name. */
  encoding: string;
  payloadType: number;
}

export interface ParsedRtspSdp {
  tracks: RtspSdpTrack[];
  unsupported: UnsupportedTrack[];
  /** Session-level a=control, when given. */
  sessionControl?: string;
}

/** Parses an SDP (RFC 8866) as RTSP peers write it; throws RtspWireError 400 when malformed. */
export declare function parseRtspSdp(sdp: string): ParsedRtspSdp;

/**
 * Resolves a track's `a=control` against the base (Content-Base, else Content-Location, else
 * the request URL), as RFC 2326 §C.1.1 says; also accepts the relative forms ffmpeg, GStreamer
 * and cameras write (`trackID=1`, `streamid=0`).
 */
export declare function resolveControl(base: string, control: string): string;

/** What a DESCRIBE answer describes: one section per track, each with `a=control:trackID=<i>`. */
export interface DescribeTrack {
  kind: "video" | "audio";
  codec: "h264" | "opus" | "aac";
  payloadType: number;
  clockRate: number;
  channels: number;
  sps?: Uint8Array;
  pps?: Uint8Array;
  profileLevelId?: string;
  /** AAC: AudioSpecificConfig (mode=AAC-hbr, sizelength=13, indexlength=3, indexdeltalength=3). */
  aacConfig?: Uint8Array;
}

/** The SDP a DESCRIBE answers with (tracks get `a=control:trackID=<index>`). */
export declare function buildRtspSdp(opts: { sessionName: string; originAddress: string; tracks: DescribeTrack[] }): string;
