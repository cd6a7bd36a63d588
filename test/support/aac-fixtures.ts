import { execFile, spawn } from "node:child_process";
import { createSocket } from "node:dgram";
import { mkdir, mkdtemp, readFile, rm, stat } from "node:fs/promises";
import { tmpdir } from "node:os";
import path from "node:path";
import { promisify } from "node:util";

const execFileAsync = promisify(execFile);
const CACHE = path.resolve(import.meta.dirname, "../../.cache/fixtures");

export interface AacFixtureOptions {
  sampleRate: number;
  channels: number;
  seconds: number;
  /** e.g. "128k" (ffmpeg's default when absent). */
  bitrate?: string;
}

export interface AacFixture {
  /** AudioSpecificConfig built from the ADTS headers (object type, frequency index, channels). */
  config: Uint8Array;
  /** Raw access units, ADTS headers stripped. */
  aus: Uint8Array[];
}

/** Real AAC-LC from ffmpeg's encoder (a sine), as raw AUs: encoded once per parameter set, kept under .cache/. */
export async function aacFixture(opts: AacFixtureOptions): Promise<AacFixture> {
  const file = path.join(CACHE, `sine-aac-${opts.sampleRate}-${opts.channels}ch-${opts.seconds}s-${opts.bitrate ?? "default"}.aac`);
  if (!(await stat(file).catch(() => undefined))) {
    await mkdir(CACHE, { recursive: true });
    await execFileAsync("ffmpeg", [
      "-v", "error", "-y", "-f", "lavfi", "-i", `sine=frequency=440:sample_rate=${opts.sampleRate}:duration=${opts.seconds}`,
      "-ac", String(opts.channels), "-c:a", "aac", ...(opts.bitrate ? ["-b:a", opts.bitrate] : []), "-f", "adts", file,
    ]);
  }
  return parseAdts(new Uint8Array(await readFile(file)));
}

/** Splits an ADTS stream (ISO 14496-3 §1.A.2) into raw AUs and the AudioSpecificConfig it implies. */
export function parseAdts(buf: Uint8Array): AacFixture {
  const aus: Uint8Array[] = [];
  let config: Uint8Array | undefined;
  let off = 0;
  while (off + 7 <= buf.length) {
    const b = (i: number): number => buf[off + i] as number;
    if (b(0) !== 0xff || (b(1) & 0xf0) !== 0xf0) throw new Error(`ADTS sync lost at ${off}`);
    const protectionAbsent = b(1) & 1;
    const profile = (b(2) >> 6) + 1;
    const freqIndex = (b(2) >> 2) & 0xf;
    const channelConfig = ((b(2) & 1) << 2) | (b(3) >> 6);
    const frameLength = ((b(3) & 3) << 11) | (b(4) << 3) | (b(5) >> 5);
    const header = protectionAbsent ? 7 : 9;
    config ??= Uint8Array.from([(profile << 3) | (freqIndex >> 1), ((freqIndex & 1) << 7) | (channelConfig << 3)]);
    aus.push(buf.slice(off + header, off + frameLength));
    off += frameLength;
  }
  if (!config) throw new Error("no ADTS frames");
  return { config, aus };
}

export interface CapturedRtpPacket {
  seq: number;
  timestamp: number;
  marker: boolean;
  payloadType: number;
  payload: Uint8Array;
}

export interface AacRtpCapture {
  /** MPEG4-GENERIC (RFC 3640) or MP4A-LATM (RFC 6416). */
  encoding: string;
  /** The SDP's a=fmtp parameters (names lower-cased; GStreamer's caps for it). */
  fmtp: Record<string, string>;
  clockRate: number;
  packets: CapturedRtpPacket[];
}

/**
 * What `ffmpeg -c:a aac -f rtp` sends (RFC 3640, AAC-hbr; with `via: "ffmpeg-latm"` RFC 6416
 * MP4A-LATM), or GStreamer's `avenc_aac ! rtpmp4apay` (`via: "gstreamer"`, MP4A-LATM as its
 * rtspclientsink sends AAC), captured on a UDP socket of ours: `pktSize` small enough splits
 * AUs across packets; large enough packs several AUs per packet (ffmpeg).
 */
export async function captureAacRtp(opts: AacFixtureOptions & { pktSize?: number; via?: "ffmpeg" | "ffmpeg-latm" | "gstreamer" }): Promise<AacRtpCapture> {
  const sock = createSocket({ type: "udp4", recvBufferSize: 8 * 1024 * 1024 });
  const packets: CapturedRtpPacket[] = [];
  const sentinel = Buffer.from("end-of-capture");
  let ended: (() => void) | undefined;
  const done = new Promise<void>((r) => (ended = r));
  sock.on("message", (msg) => {
    if (msg.equals(sentinel)) return ended?.();
    const pt = (msg[1] as number) & 0x7f;
    if (msg.length < 12 || ((msg[1] as number) >= 200 && (msg[1] as number) <= 204)) return; // RTCP
    const cc = (msg[0] as number) & 0x0f;
    let start = 12 + 4 * cc;
    if ((msg[0] as number) & 0x10) start += 4 + 4 * msg.readUInt16BE(start + 2);
    let end = msg.length;
    if ((msg[0] as number) & 0x20) end -= msg[msg.length - 1] as number;
    packets.push({ seq: msg.readUInt16BE(2), timestamp: msg.readUInt32BE(4), marker: ((msg[1] as number) & 0x80) !== 0, payloadType: pt, payload: Uint8Array.from(msg.subarray(start, end)) });
  });
  await new Promise<void>((r) => sock.bind(0, "127.0.0.1", r));
  const port = sock.address().port;
  const dir = await mkdtemp(path.join(tmpdir(), "aac-rtp-"));
  const sdpFile = path.join(dir, "out.sdp");
  try {
    const via = opts.via ?? "ffmpeg";
    const ff = via === "gstreamer"
      ? spawn("gst-launch-1.0", [
        "-v", "audiotestsrc", `num-buffers=${Math.ceil((opts.seconds * opts.sampleRate) / 1024)}`, "samplesperbuffer=1024", "!",
        `audio/x-raw,rate=${opts.sampleRate},channels=${opts.channels}`, "!", "avenc_aac", ...(opts.bitrate ? [`bitrate=${parseInt(opts.bitrate, 10) * 1000}`] : []), "!", "aacparse", "!",
        "rtpmp4apay", `mtu=${opts.pktSize ?? 1400}`, "!", "udpsink", "host=127.0.0.1", `port=${port}`, "sync=false",
      ], { stdio: ["ignore", "pipe", "pipe"] })
      : spawn("ffmpeg", [
        "-v", "error", "-y", "-f", "lavfi", "-i", `sine=frequency=440:sample_rate=${opts.sampleRate}:duration=${opts.seconds}`,
        "-ac", String(opts.channels), "-c:a", "aac", ...(opts.bitrate ? ["-b:a", opts.bitrate] : []),
        ...(via === "ffmpeg-latm" ? ["-rtpflags", "latm"] : []),
        "-f", "rtp", "-sdp_file", sdpFile, `rtp://127.0.0.1:${port}?rtcpport=${port}&pkt_size=${opts.pktSize ?? 1400}`,
      ], { stdio: ["ignore", "pipe", "pipe"] });
    let stderr = "";
    let stdout = "";
    ff.stderr.on("data", (d: Buffer) => (stderr += d.toString()));
    ff.stdout.on("data", (d: Buffer) => (stdout += d.toString()));
    const code = await new Promise<number | null>((r) => ff.on("close", r));
    if (code !== 0) throw new Error(`${via} rtp exited ${code}: ${stderr}`);
    // Datagrams to one socket queue in order: once ours arrives, every ffmpeg packet has.
    const tail = createSocket("udp4");
    await new Promise<void>((r, j) => tail.send(sentinel, port, "127.0.0.1", (e) => (e ? j(e) : r())));
    tail.close();
    await done;
    if (via === "gstreamer") {
      // The payloader's caps (gst-launch -v) say what an SDP would.
      const caps = /application\/x-rtp, media=\(string\)audio, clock-rate=\(int\)(\d+), encoding-name=\(string\)([\w-]+)[^\n]*config=\(string\)([0-9a-f]+)/i.exec(stdout);
      if (!caps) throw new Error(`no RTP caps in: ${stdout.slice(0, 2000)}`);
      return { encoding: caps[2] as string, fmtp: { cpresent: "0", config: caps[3] as string }, clockRate: Number(caps[1]), packets };
    }
    const sdp = await readFile(sdpFile, "utf8");
    const rtpmap = /a=rtpmap:\d+ (MPEG4-GENERIC|MP4A-LATM)\/(\d+)/i.exec(sdp);
    const fmtpLine = /a=fmtp:\d+ (.*)/.exec(sdp);
    if (!rtpmap || !fmtpLine) throw new Error(`unexpected SDP: ${sdp}`);
    const fmtp: Record<string, string> = {};
    for (const kv of (fmtpLine[1] as string).split(";")) {
      const eq = kv.indexOf("=");
      if (eq > 0) fmtp[kv.slice(0, eq).trim().toLowerCase()] = kv.slice(eq + 1).trim();
    }
    return { encoding: (rtpmap[1] as string).toUpperCase(), fmtp, clockRate: Number(rtpmap[2]), packets };
  } finally {
    sock.close();
    await rm(dir, { recursive: true, force: true });
  }
}
