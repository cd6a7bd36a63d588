import { InvalidInput, Unsupported } from "../core/errors.js";
import { candidateProblem, isIcePwd, isIceUfrag, isMid } from "./ice-syntax.js";

/** One codec line of an SDP media section. */
export interface OfferedCodec {
  payloadType: number;
  /** e.g. "H264", "opus" as written in a=rtpmap. */
  name: string;
  clockRate: number;
  channels?: number;
  fmtp: Record<string, string>;
  fmtpLine?: string;
  rtcpFeedback: { type: string; parameter?: string }[];
}

export interface OfferedMedia {
  kind: string;
  mid?: string;
  direction: string;
  codecs: OfferedCodec[];
}

/** The codecs we will receive, chosen from the offer. */
export interface CodecSelection {
  video: OfferedCodec;
  audio?: OfferedCodec;
  hasAudioSection: boolean;
}

/** What the ingest accepts; said in errors so a publisher knows what to send. */
export const ACCEPTED_VIDEO = ["H264 (packetization-mode=1; constrained-baseline, baseline, main or high profile)"];
export const ACCEPTED_AUDIO = ["opus/48000/2"];

const H264_PROFILES = new Set([0x42, 0x4d, 0x64]);

/** An offer we cannot parse or use: 400 `invalid-sdp` at the edge. */
export const invalidSdp = (detail: string): InvalidInput => new InvalidInput("invalid-sdp", detail);

/**
 * Parses just what the ingest needs of an SDP offer (media sections, rtpmap, fmtp, rtcp-fb),
 * so that a bad or unusable offer is refused with a precise 400/406 before any WebRTC state
 * is created.
 */
export function parseOffer(sdp: string): OfferedMedia[] {
  if (!/^v=0\r?\n/.test(sdp)) throw invalidSdp("offer does not start with v=0");
  const lines = sdp.split(/\r?\n/);
  if (!lines.some((l) => l.startsWith("o="))) throw invalidSdp("offer has no o= line");
  const media: OfferedMedia[] = [];
  let current: (OfferedMedia & { order: number[] }) | undefined;
  for (const line of lines) {
    checkIceLine(line);
    if (line.startsWith("m=")) {
      const m = /^m=(\S+) (\d+)(?:\/\d+)? (\S+)((?: \S+)*)$/.exec(line);
      if (!m) throw invalidSdp(`malformed media line: ${line.slice(0, 100)}`);
      const order = (m[4] ?? "").trim().split(" ").filter(Boolean).map(Number);
      current = { kind: m[1] as string, direction: "sendrecv", codecs: [], order };
      for (const pt of order) {
        if (!Number.isInteger(pt) || pt < 0 || pt > 127) throw invalidSdp(`bad payload type in: ${line.slice(0, 100)}`);
      }
      media.push(current);
      continue;
    }
    if (!current) continue;
    if (line.startsWith("a=mid:")) {
      const mid = line.slice(6).trim();
      if (!isMid(mid)) throw invalidSdp(`malformed a=mid: ${line.slice(0, 100)}`);
      if (media.some((m) => m.mid === mid)) throw invalidSdp(`a=mid:${mid} names two media sections`);
      current.mid = mid;
    }
    else if (/^a=(sendrecv|sendonly|recvonly|inactive)$/.test(line)) current.direction = line.slice(2);
    else if (line.startsWith("a=rtpmap:")) {
      const m = /^a=rtpmap:(\d+) ([^/\s]+)\/(\d+)(?:\/(\d+))?/.exec(line);
      if (!m) throw invalidSdp(`malformed rtpmap: ${line.slice(0, 100)}`);
      current.codecs.push({
        payloadType: Number(m[1]),
        name: m[2] as string,
        clockRate: Number(m[3]),
        ...(m[4] ? { channels: Number(m[4]) } : {}),
        fmtp: {},
        rtcpFeedback: [],
      });
    } else if (line.startsWith("a=fmtp:")) {
      const m = /^a=fmtp:(\d+) (.*)$/.exec(line);
      const codec = m && current.codecs.find((c) => c.payloadType === Number(m[1]));
      if (codec && m) {
        codec.fmtpLine = m[2];
        for (const kv of (m[2] as string).split(";")) {
          const [k, v] = kv.split("=");
          if (k) codec.fmtp[k.trim().toLowerCase()] = (v ?? "").trim();
        }
      }
    } else if (line.startsWith("a=rtcp-fb:")) {
      const m = /^a=rtcp-fb:(\d+|\*) (\S+)(?: (\S+))?/.exec(line);
      if (m) {
        const targets = m[1] === "*" ? current.codecs : current.codecs.filter((c) => c.payloadType === Number(m[1]));
        for (const c of targets) c.rtcpFeedback.push({ type: m[2] as string, ...(m[3] ? { parameter: m[3] } : {}) });
      }
    }
  }
  if (media.length === 0) throw invalidSdp("offer has no media sections");
  // WHIP and WHEP bundle every section (RFC 9725 §4.2), and a bundle names sections by mid.
  const unnamed = media.findIndex((m) => m.mid === undefined);
  if (unnamed >= 0) throw invalidSdp(`media section ${unnamed} (${media[unnamed]?.kind}) has no a=mid`);
  return media;
}

/** ICE attributes at session or media level, checked here because werift throws plain errors on them. */
function checkIceLine(line: string): void {
  if (line.startsWith("a=candidate:")) {
    const problem = candidateProblem(line.slice(2));
    if (problem) throw invalidSdp(problem);
  } else if (line.startsWith("a=ice-ufrag:")) {
    if (!isIceUfrag(line.slice(12))) throw invalidSdp("a=ice-ufrag must be 4..256 of [A-Za-z0-9+/]");
  } else if (line.startsWith("a=ice-pwd:")) {
    if (!isIcePwd(line.slice(10))) throw invalidSdp("a=ice-pwd must be 22..256 of [A-Za-z0-9+/]");
  }
}

function isAcceptableH264(c: OfferedCodec): boolean {
  if (c.name.toUpperCase() !== "H264" || c.clockRate !== 90000) return false;
  if ((c.fmtp["packetization-mode"] ?? "0") !== "1") return false;
  const pli = c.fmtp["profile-level-id"];
  // RFC 6184: a missing profile-level-id means 42000a (baseline), which we accept.
  if (pli === undefined) return true;
  if (!/^[0-9a-fA-F]{6}$/.test(pli)) return false;
  return H264_PROFILES.has(parseInt(pli.slice(0, 2), 16));
}

/** Profile preference when an offer lists several H.264 variants: the richer the better for recording. */
function h264Rank(c: OfferedCodec): number {
  const pli = c.fmtp["profile-level-id"] ?? "42000a";
  const profile = parseInt(pli.slice(0, 2), 16);
  return profile === 0x64 ? 3 : profile === 0x4d ? 2 : 1;
}

/** Picks the H.264 and Opus codecs to receive, or explains precisely why the offer is unusable. */
export function selectCodecs(media: OfferedMedia[]): CodecSelection {
  const videoSections = media.filter((m) => m.kind === "video");
  const audioSections = media.filter((m) => m.kind === "audio");
  if (videoSections.length === 0) throw invalidSdp("offer has no video section; a video track (H.264) is required");
  if (videoSections.length > 1 || audioSections.length > 1) throw invalidSdp("offer must have at most one video and one audio section");
  const videoSection = videoSections[0] as OfferedMedia;
  if (videoSection.direction === "recvonly" || videoSection.direction === "inactive") {
    throw invalidSdp(`video section is ${videoSection.direction}; a WHIP publisher must send`);
  }
  const mediaCodecs = videoSection.codecs.filter((c) => !["rtx", "red", "ulpfec", "flexfec-03"].includes(c.name.toLowerCase()));
  if (mediaCodecs.length === 0) throw invalidSdp("video section lists no codecs (missing a=rtpmap lines)");
  const h264 = mediaCodecs.filter(isAcceptableH264).sort((a, b) => h264Rank(b) - h264Rank(a));
  const video = h264[0];
  if (!video) {
    const offered = [...new Set(mediaCodecs.map((c) => (c.name.toUpperCase() === "H264" ? `H264(packetization-mode=${c.fmtp["packetization-mode"] ?? "0"})` : c.name)))];
    throw new Unsupported("unsupported-codec", `offer has no acceptable video codec (offered: ${offered.join(", ") || "none"}; accepted: ${ACCEPTED_VIDEO.join(", ")})`, { offered, accepted: ACCEPTED_VIDEO });
  }
  const audioSection = audioSections[0];
  const audio = audioSection?.codecs.find((c) => c.name.toLowerCase() === "opus" && c.clockRate === 48000);
  return { video, ...(audio ? { audio } : {}), hasAudioSection: audioSection !== undefined };
}
