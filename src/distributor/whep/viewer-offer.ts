import type { StreamTracks } from "../../core/stream-hub.js";
import { InvalidSdpError, UnsupportedCodecError } from "../../errors.js";
// The SDP reader of the ingest: one parser for offers in both directions (see the report on
// moving it to a shared module).
import type { OfferedCodec, OfferedMedia } from "../../rtc/sdp-offer.js";
import { decodersFor, h264Profile, profileOfLevelId, type H264Profile } from "./h264-profile.js";

/** What a viewer will get, chosen from its offer: its own payload types and parameters. */
export interface ViewerCodecs {
  video: OfferedCodec;
  /** Index of the video m-line in the offer. */
  videoIndex: number;
  audio?: OfferedCodec;
  audioIndex?: number;
  /** The stream's H.264 profile, as forwarded. */
  profile: H264Profile;
  /**
   * The stream is forwarded under a variant the viewer offered for a poorer profile (lenient
   * mode): browsers' software decoders play it anyway.
   */
  profileMismatch: boolean;
}

export interface ViewerCodecPolicy {
  /** IFC_WHEP_STRICT_PROFILE: refuse (406) a viewer whose offer has no variant that decodes the stream's profile. */
  strictProfile: boolean;
}

/** Richer profiles first: in lenient mode the richest variant offered is the likeliest to decode the stream. */
const RICHNESS: H264Profile[] = ["high", "constrained-high", "main", "baseline", "constrained-baseline", "other"];

function richestFirst(a: OfferedCodec, b: OfferedCodec): number {
  const pa = a.fmtp["profile-level-id"] ?? "42000a";
  const pb = b.fmtp["profile-level-id"] ?? "42000a";
  const byProfile = RICHNESS.indexOf(profileOfLevelId(pa)) - RICHNESS.indexOf(profileOfLevelId(pb));
  if (byProfile !== 0) return byProfile;
  // then the higher level (the last byte of profile-level-id)
  return (parseInt(pb.slice(4, 6), 16) || 0) - (parseInt(pa.slice(4, 6), 16) || 0);
}

/** The stream's profile: its SPS once seen (ground truth: x264 may encode below what was negotiated), else the negotiated one. */
export function streamProfile(tracks: StreamTracks): H264Profile {
  const sps = tracks.video?.sps;
  if (sps) return h264Profile(sps.profileIdc, sps.constraintFlags);
  return profileOfLevelId(tracks.video?.profileLevelId);
}

function describe(c: OfferedCodec): string {
  if (c.name.toUpperCase() !== "H264") return `${c.name}/${c.clockRate}`;
  return `H264(profile-level-id=${c.fmtp["profile-level-id"] ?? "42000a"};packetization-mode=${c.fmtp["packetization-mode"] ?? "0"})`;
}

/**
 * Picks the H.264 variant of the viewer's offer that decodes the stream as it is (exact profile
 * first), and Opus when the stream has Opus audio (never AAC: see below). Without one, and unless `strictProfile`, the
 * richest H.264 (packetization-mode 1) variant offered carries the stream as it is (MediaMTX
 * does the same): Debian's Chromium offers no High profile, yet decodes it in software. Throws
 * 400 for an offer that cannot receive video, 406 naming what was offered and what the stream needs.
 */
export function selectViewerCodecs(media: OfferedMedia[], tracks: StreamTracks, policy: ViewerCodecPolicy = { strictProfile: false }): ViewerCodecs {
  const videoIndex = media.findIndex((m) => m.kind === "video");
  if (videoIndex < 0) throw new InvalidSdpError("offer has no video section; WHEP viewers receive H.264 video");
  if (media.filter((m) => m.kind === "video").length > 1 || media.filter((m) => m.kind === "audio").length > 1) {
    throw new InvalidSdpError("offer must have at most one video and one audio section");
  }
  const videoSection = media[videoIndex] as OfferedMedia;
  if (videoSection.direction === "sendonly" || videoSection.direction === "inactive") {
    throw new InvalidSdpError(`video section is ${videoSection.direction}; a WHEP viewer must receive (recvonly)`);
  }
  const profile = streamProfile(tracks);
  const candidates = videoSection.codecs.filter(
    (c) => c.name.toUpperCase() === "H264" && c.clockRate === 90000 && c.fmtp["packetization-mode"] === "1",
  );
  let video: OfferedCodec | undefined;
  for (const wanted of decodersFor(profile)) {
    video = candidates.find((c) => profileOfLevelId(c.fmtp["profile-level-id"]) === wanted);
    if (video) break;
  }
  const profileMismatch = !video && !policy.strictProfile && candidates.length > 0;
  if (profileMismatch) video = [...candidates].sort(richestFirst)[0];
  if (!video) {
    const offered = [...new Set(videoSection.codecs.filter((c) => !["rtx", "red", "ulpfec", "flexfec-03"].includes(c.name.toLowerCase())).map(describe))];
    const needs = policy.strictProfile ? `H264 (packetization-mode=1; ${profile} profile or a profile that decodes it; IFC_WHEP_STRICT_PROFILE is on)` : "H264 (packetization-mode=1)";
    throw new UnsupportedCodecError(offered, [needs]);
  }
  const audioIndex = media.findIndex((m) => m.kind === "audio");
  const audioSection = media[audioIndex];
  // WebRTC has no AAC (RFC 7874 names Opus and G.711 only): a viewer of an AAC stream (an RTSP
  // camera) gets its video alone, the audio m-line answered inactive. Transcoding to Opus would
  // cost a decoder and an encoder per stream; HLS and the recording carry the AAC as it is.
  const audio = tracks.audio?.codec === "opus" && audioSection && audioSection.direction !== "sendonly" && audioSection.direction !== "inactive"
    ? audioSection.codecs.find((c) => c.name.toLowerCase() === "opus" && c.clockRate === 48000)
    : undefined;
  return { video, videoIndex, profile, profileMismatch, ...(audio ? { audio, audioIndex } : {}) };
}

/**
 * Rewrites the offer so that each answered m-line lists only the codec chosen for it.
 * werift matches codecs by mime type only and would answer the first H.264 of the offer,
 * whatever its profile (design.md pitfalls); an offer holding one H.264 leaves it no choice.
 */
export function pinOffer(sdp: string, keep: Map<number, number>): string {
  const lines = sdp.split(/\r?\n/);
  const out: string[] = [];
  let section = -1;
  let kept: number | undefined;
  for (const line of lines) {
    if (line.startsWith("m=")) {
      section++;
      kept = keep.get(section);
      if (kept !== undefined) {
        const parts = line.split(" ");
        out.push([...parts.slice(0, 3), String(kept)].join(" "));
        continue;
      }
    } else if (kept !== undefined) {
      const m = /^a=(rtpmap|fmtp|rtcp-fb):(\d+)[ ]/.exec(line);
      if (m && Number(m[2]) !== kept) continue;
    }
    out.push(line);
  }
  return out.join("\r\n");
}
