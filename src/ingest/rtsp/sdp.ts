/**
 * The session description RTSP carries (ANNOUNCE from a publisher, DESCRIBE to a reader or from
 * a camera): media sections with their `a=control` URLs, codecs and codec parameters.
 * CONTRACT: signatures fixed; implemented by the rtsp-wire work.
 */
import { RtspWireError } from "./message.js";

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

/** RFC 3551 §6 static payload types (what an m= line means without a=rtpmap). */
const STATIC_TYPES: Record<number, { encoding: string; clock: number; channels?: number }> = {
  0: { encoding: "PCMU", clock: 8000 },
  3: { encoding: "GSM", clock: 8000 },
  4: { encoding: "G723", clock: 8000 },
  5: { encoding: "DVI4", clock: 8000 },
  6: { encoding: "DVI4", clock: 16000 },
  7: { encoding: "LPC", clock: 8000 },
  8: { encoding: "PCMA", clock: 8000 },
  9: { encoding: "G722", clock: 8000 },
  10: { encoding: "L16", clock: 44100, channels: 2 },
  11: { encoding: "L16", clock: 44100 },
  12: { encoding: "QCELP", clock: 8000 },
  13: { encoding: "CN", clock: 8000 },
  14: { encoding: "MPA", clock: 90000 },
  15: { encoding: "G728", clock: 8000 },
  16: { encoding: "DVI4", clock: 11025 },
  17: { encoding: "DVI4", clock: 22050 },
  18: { encoding: "G729", clock: 8000 },
  25: { encoding: "CelB", clock: 90000 },
  26: { encoding: "JPEG", clock: 90000 },
  28: { encoding: "nv", clock: 90000 },
  31: { encoding: "H261", clock: 90000 },
  32: { encoding: "MPV", clock: 90000 },
  33: { encoding: "MP2T", clock: 90000 },
  34: { encoding: "H263", clock: 90000 },
};

interface Section {
  kind: string;
  proto: string;
  formats: number[];
  control?: string;
  rtpmap: Map<number, { encoding: string; clock: number; channels?: number }>;
  fmtp: Map<number, Record<string, string>>;
}

const bad = (why: string): RtspWireError => new RtspWireError(400, `malformed SDP: ${why}`);

/** Parses an SDP (RFC 8866) as RTSP peers write it; throws RtspWireError 400 when malformed. */
export function parseRtspSdp(sdp: string): ParsedRtspSdp {
  const lines = sdp.split(/\r?\n/).filter((l) => l.trim() !== "");
  if (lines[0]?.trim() !== "v=0") throw bad("it does not start with v=0");
  const sections: Section[] = [];
  let sessionControl: string | undefined;
  for (const raw of lines) {
    const line = raw.trimEnd();
    if (!/^[a-z]=/.test(line)) throw bad(`line ${JSON.stringify(line.slice(0, 60))}`);
    const type = line[0];
    const value = line.slice(2);
    const cur = sections[sections.length - 1];
    if (type === "m") {
      // m=<media> <port>[/<n>] <proto> <fmt> ...
      const f = value.trim().split(/\s+/);
      if (f.length < 4 || !/^\d+(\/\d+)?$/.test(f[1] ?? "")) throw bad(`m= line ${JSON.stringify(value.slice(0, 60))}`);
      const formats = f.slice(3).map((x) => (/^\d{1,3}$/.test(x) ? Number(x) : NaN));
      sections.push({ kind: (f[0] ?? "").toLowerCase(), proto: (f[2] ?? "").toUpperCase(), formats, rtpmap: new Map(), fmtp: new Map() });
      continue;
    }
    if (type !== "a") continue;
    const colon = value.indexOf(":");
    const attr = (colon < 0 ? value : value.slice(0, colon)).toLowerCase();
    const arg = colon < 0 ? "" : value.slice(colon + 1).trim();
    if (attr === "control") {
      if (cur) cur.control = arg;
      else sessionControl = arg;
    } else if (attr === "rtpmap" && cur) {
      // a=rtpmap:<pt> <encoding>/<clock>[/<channels>]
      const m = /^(\d{1,3})\s+([^/\s]+)\/(\d+)(?:\/(\d+))?\s*$/.exec(arg);
      if (!m) throw bad(`a=rtpmap:${arg.slice(0, 60)}`);
      const e: { encoding: string; clock: number; channels?: number } = { encoding: m[2] ?? "", clock: Number(m[3]) };
      if (m[4] !== undefined) e.channels = Number(m[4]);
      cur.rtpmap.set(Number(m[1]), e);
    } else if (attr === "fmtp" && cur) {
      const m = /^(\d{1,3})(?:\s+(.*))?$/.exec(arg);
      if (!m) throw bad(`a=fmtp:${arg.slice(0, 60)}`);
      const params: Record<string, string> = {};
      for (const p of (m[2] ?? "").split(";")) {
        const eq = p.indexOf("=");
        const name = (eq < 0 ? p : p.slice(0, eq)).trim().toLowerCase();
        if (name !== "") params[name] = eq < 0 ? "" : p.slice(eq + 1).trim();
      }
      cur.fmtp.set(Number(m[1]), params);
    }
  }
  const tracks: RtspSdpTrack[] = [];
  const unsupported: UnsupportedTrack[] = [];
  for (const s of sections) {
    let first: UnsupportedTrack | undefined;
    let taken: RtspSdpTrack | undefined;
    for (const pt of s.formats) {
      if (Number.isNaN(pt) || pt > 127) {
        first ??= { kind: s.kind, encoding: s.proto, payloadType: -1 };
        continue;
      }
      const map = s.rtpmap.get(pt) ?? STATIC_TYPES[pt];
      const encoding = map ? `${map.encoding}/${map.clock}${map.channels !== undefined ? `/${map.channels}` : ""}` : `payload type ${pt} without a=rtpmap`;
      const track = /^RTP\/AVPF?(\/(UDP|TCP))?$/.test(s.proto) && (s.kind === "video" || s.kind === "audio") && map ? toTrack(s, pt, map) : undefined;
      if (track) {
        taken = track;
        break;
      }
      first ??= { kind: s.kind, encoding, payloadType: pt };
    }
    if (taken) tracks.push(taken);
    else if (first) unsupported.push(first);
  }
  const out: ParsedRtspSdp = { tracks, unsupported };
  if (sessionControl !== undefined) out.sessionControl = sessionControl;
  return out;
}

/** The track one payload type of a section makes, or undefined when this server does not take it. */
function toTrack(s: Section, pt: number, map: { encoding: string; clock: number; channels?: number }): RtspSdpTrack | undefined {
  const enc = map.encoding.toUpperCase();
  const fmtp = s.fmtp.get(pt) ?? {};
  const base = { control: s.control ?? "*", payloadType: pt, clockRate: map.clock, channels: map.channels ?? 1, fmtp };
  if (s.kind === "video" && enc === "H264" && map.clock === 90000) {
    const mode = fmtp["packetization-mode"] ?? "0";
    if (mode !== "0" && mode !== "1") return undefined;
    const t: RtspSdpTrack = { kind: "video", codec: "h264", ...base };
    for (const b64 of (fmtp["sprop-parameter-sets"] ?? "").split(",")) {
      const nal = decodeBase64(b64);
      if (!nal || nal.length === 0) continue;
      const type = (nal[0] as number) & 0x1f;
      if (type === 7) t.sps ??= nal;
      else if (type === 8) t.pps ??= nal;
    }
    const pli = fmtp["profile-level-id"];
    if (pli !== undefined && /^[0-9a-f]{6}$/i.test(pli)) t.profileLevelId = pli.toLowerCase();
    return t;
  }
  if (s.kind === "audio" && enc === "OPUS" && map.clock === 48000 && map.channels === 2) return { kind: "audio", codec: "opus", ...base };
  if (s.kind === "audio" && enc === "MPEG4-GENERIC") {
    if ((fmtp.mode ?? "").toLowerCase() !== "aac-hbr") return undefined;
    const config = fmtp.config ?? "";
    if (!/^([0-9a-f]{2})+$/i.test(config)) throw bad(`MPEG4-GENERIC without a hex config= (${JSON.stringify(config.slice(0, 40))})`);
    // RFC 3640 §3.3.6: AAC-hbr fixes these at 13/3/3; a peer that says otherwise is still read as it says.
    const num = (k: string, d: number): number => {
      const v = fmtp[k];
      if (v === undefined) return d;
      if (!/^\d{1,2}$/.test(v)) throw bad(`MPEG4-GENERIC ${k}=${v.slice(0, 20)}`);
      return Number(v);
    };
    return {
      kind: "audio",
      codec: "aac",
      ...base,
      aac: { config: Buffer.from(config, "hex"), sizeLength: num("sizelength", 13), indexLength: num("indexlength", 3), indexDeltaLength: num("indexdeltalength", 3) },
    };
  }
  return undefined;
}

function decodeBase64(s: string): Buffer | undefined {
  const t = s.trim();
  if (!/^[A-Za-z0-9+/_-]+={0,2}$/.test(t)) return undefined;
  return Buffer.from(t, "base64");
}

/**
 * Resolves a track's `a=control` against the base (Content-Base, else Content-Location, else
 * the request URL), as RFC 2326 §C.1.1 says; also accepts the relative forms ffmpeg, GStreamer
 * and cameras write (`trackID=1`, `streamid=0`).
 */
export function resolveControl(base: string, control: string): string {
  const c = control.trim();
  if (c === "" || c === "*") return base;
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(c)) return c;
  const m = /^([a-z][a-z0-9+.-]*:\/\/[^/?#]*)([^?#]*)(\?[^#]*)?/i.exec(base);
  if (!m) return c;
  const origin = m[1] ?? "";
  if (c.startsWith("/")) return origin + c;
  // A Content-Base that ends in "/" is joined as written, query and all (Dahua's
  // `...realmonitor?channel=1&subtype=0/` + `trackID=0` is what that camera expects).
  if (base.endsWith("/")) return base + c;
  const path = m[2] ?? "";
  const query = m[3] ?? "";
  if (c.startsWith("?")) return origin + path + c;
  // RFC 3986 would replace the last segment (`/cam` + `trackID=1` = `/trackID=1`); every RTSP
  // peer (ffmpeg, GStreamer, live555, gortsplib) treats the base as a directory instead.
  return `${origin}${path.endsWith("/") ? path : `${path}/`}${c}${query}`;
}

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
export function buildRtspSdp(opts: { sessionName: string; originAddress: string; tracks: DescribeTrack[] }): string {
  const oneLine = (x: string): string => x.replace(/[\r\n]+/g, " ");
  const family = opts.originAddress.includes(":") ? "IP6" : "IP4";
  const l = ["v=0", `o=- 0 0 IN ${family} ${oneLine(opts.originAddress)}`, `s=${oneLine(opts.sessionName) || "-"}`, `c=IN ${family} ${family === "IP6" ? "::" : "0.0.0.0"}`, "t=0 0", "a=control:*", "a=range:npt=0-"];
  opts.tracks.forEach((t, i) => {
    const pt = t.payloadType;
    l.push(`m=${t.kind} 0 RTP/AVP ${pt}`);
    if (t.codec === "h264") {
      l.push(`a=rtpmap:${pt} H264/90000`);
      const p = ["packetization-mode=1"];
      const pli = t.profileLevelId ?? (t.sps && t.sps.length >= 4 ? Buffer.from(t.sps.subarray(1, 4)).toString("hex") : undefined);
      if (pli !== undefined) p.push(`profile-level-id=${pli}`);
      if (t.sps && t.pps) p.push(`sprop-parameter-sets=${Buffer.from(t.sps).toString("base64")},${Buffer.from(t.pps).toString("base64")}`);
      l.push(`a=fmtp:${pt} ${p.join("; ")}`);
    } else if (t.codec === "opus") {
      l.push(`a=rtpmap:${pt} opus/48000/2`);
      if (t.channels === 2) l.push(`a=fmtp:${pt} sprop-stereo=1`);
    } else {
      l.push(`a=rtpmap:${pt} MPEG4-GENERIC/${t.clockRate}/${t.channels}`);
      const config = t.aacConfig ? Buffer.from(t.aacConfig).toString("hex") : "";
      l.push(`a=fmtp:${pt} profile-level-id=1; mode=AAC-hbr; sizelength=13; indexlength=3; indexdeltalength=3${config ? `; config=${config}` : ""}`);
    }
    l.push(`a=control:trackID=${i}`);
  });
  return l.join("\r\n") + "\r\n";
}
