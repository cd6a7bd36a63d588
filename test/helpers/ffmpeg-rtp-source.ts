import { spawn } from "node:child_process";
import { createSocket, type Socket } from "node:dgram";
import { RtpPacket, type MediaStreamTrack, type RTCRtpSender } from "werift";

export interface RtpSourceOptions {
  width: number;
  height: number;
  fps: number;
  /** IDR interval in seconds (x264 -g = -keyint_min = fps × gopSeconds, no scene cuts). */
  gopSeconds: number;
  /** ffmpeg -t: the source ends by itself after this many seconds. */
  durationSeconds: number;
  audio: boolean;
  /** x264 profile (default high). */
  profile?: string;
  /**
   * x264 preset (default veryfast). Note: with ultrafast x264 drops CABAC and 8x8 transforms, and
   * the stream is Constrained Baseline whatever -profile:v says.
   */
  preset?: string;
  /** A file or URL to publish (looped) instead of the test pattern; its audio is used when present. */
  input?: string;
  /**
   * With `input`: send its H.264 as it is (no re-encode; it must have no B-frames, its own IDR
   * cadence and SPS/PPS in-band, e.g. an MPEG-TS file). Lets one machine publish many 1080p
   * streams (bench/ai-latency.ts).
   */
  videoCopy?: boolean;
}

/** Everything counted here was written to the track AND went out through its sender. */
export interface SentStats {
  /** Access units sent (RTP packets with the marker bit). */
  videoFrames: number;
  /** Distinct RTP timestamps sent (equals videoFrames unless a frame was cut short). */
  videoTimestamps: number;
  /** Access units holding an IDR slice (single NAL, STAP-A or FU-A start). */
  keyframes: number;
  videoPackets: number;
  videoBytes: number;
  audioPackets: number;
  /** Packets from ffmpeg that the sender did not send (not connected yet, or closed). */
  notSent: number;
  /** Sequence-number gaps in what ffmpeg delivered to our loopback sockets (should stay 0). */
  inputGaps: number;
}

export interface RtpSource {
  stats: SentStats;
  /** Resolves when ffmpeg has exited and the last datagrams were written (rejects if ffmpeg failed). */
  done: Promise<void>;
  /** Ends ffmpeg (SIGINT, then SIGKILL after 3 s) and closes the sockets. */
  stop(): Promise<void>;
}

/** A werift sender track and the sender that carries it (for exact accounting of what went out). */
export interface RtpSink {
  track: MediaStreamTrack;
  sender?: RTCRtpSender;
}

/** Whether an H.264 RTP payload carries (the start of) an IDR slice. */
export function carriesIdr(p: Buffer): boolean {
  const type = (p[0] ?? 0) & 0x1f;
  if (type === 5) return true;
  if (type === 28) return ((p[1] ?? 0) & 0x1f) === 5 && ((p[1] ?? 0) & 0x80) !== 0;
  if (type === 24) {
    for (let o = 1; o + 2 < p.length; ) {
      const size = p.readUInt16BE(o);
      if (((p[o + 2] ?? 0) & 0x1f) === 5) return true;
      o += 2 + size;
    }
  }
  return false;
}

async function loopbackSocket(): Promise<Socket> {
  // Keyframe bursts: ask for more than the default receive buffer (the kernel caps it at rmem_max).
  const s = createSocket({ type: "udp4", recvBufferSize: 4 * 1024 * 1024 });
  await new Promise<void>((resolve, reject) => {
    s.once("error", reject);
    s.bind(0, "127.0.0.1", () => {
      s.off("error", reject);
      resolve();
    });
  });
  return s;
}

/** One byte, never an RTP packet (those have a 12-byte header at least). */
const FLUSH_MARKER = Buffer.from([0xff]);
const isFlushMarker = (msg: Buffer): boolean => msg.length === 1 && msg[0] === 0xff;

/**
 * Resolves once everything queued on `socket` before this call has been handled: a marker
 * datagram is sent to it and awaited. Loopback UDP may still drop the marker when the receive
 * buffer is full, so a safety timeout bounds the wait (the packets before it were then lost
 * anyway, and SentStats.inputGaps says so).
 */
async function flushSocket(socket: Socket, flushed: Map<Socket, () => void>): Promise<void> {
  const sender = createSocket("udp4");
  let timer: NodeJS.Timeout | undefined;
  try {
    await Promise.race([
      new Promise<void>((resolve) => {
        flushed.set(socket, resolve);
        sender.send(FLUSH_MARKER, socket.address().port, "127.0.0.1");
      }),
      new Promise<void>((resolve) => (timer = setTimeout(resolve, 5000))),
    ]);
  } finally {
    clearTimeout(timer);
    flushed.delete(socket);
    sender.close();
  }
}

interface SenderCounters {
  packetCount?: number;
}

/**
 * Writes one packet to the track and tells whether the sender sent it. werift's
 * `track.writeRtp` → sender.sendRtp runs synchronously up to the socket write (SSRC, payload
 * type, sequence and timestamp offsets are rewritten to the negotiated ones there), and silently
 * drops the packet unless DTLS is connected and a codec is negotiated; the sender's (private)
 * packetCount moves only for packets that went out.
 */
function writeCounted(sink: RtpSink, packet: RtpPacket): boolean {
  const counters = sink.sender as unknown as SenderCounters | undefined;
  const before = counters?.packetCount;
  sink.track.writeRtp(packet);
  if (before === undefined) return true;
  return counters?.packetCount !== before;
}

function seqGap(prev: number | undefined, seq: number): number {
  if (prev === undefined) return 0;
  const d = (seq - prev + 0x10000) & 0xffff;
  return d === 0 || d > 0x8000 ? 0 : d - 1;
}

/**
 * ffmpeg (lavfi testsrc2 → libx264, sine → libopus) sending live RTP to loopback UDP sockets;
 * each datagram is parsed and written to the werift sender track as it arrives, and counted.
 */
export async function startRtpSource(sinks: { video: RtpSink; audio?: RtpSink }, o: RtpSourceOptions): Promise<RtpSource> {
  const stats: SentStats = { videoFrames: 0, videoTimestamps: 0, keyframes: 0, videoPackets: 0, videoBytes: 0, audioPackets: 0, notSent: 0, inputGaps: 0 };
  /** Per socket: called when its flush marker arrived (see flushSocket). */
  const flushed = new Map<Socket, () => void>();
  const vs = await loopbackSocket();
  const as = o.audio && sinks.audio ? await loopbackSocket() : undefined;
  const audioSink = as ? sinks.audio : undefined;
  let unitHasIdr = false;
  let lastTs: number | undefined;
  let lastVideoSeq: number | undefined;
  let lastAudioSeq: number | undefined;
  vs.on("message", (msg) => {
    if (isFlushMarker(msg)) return void flushed.get(vs)?.();
    const p = RtpPacket.deSerialize(msg);
    stats.inputGaps += seqGap(lastVideoSeq, p.header.sequenceNumber);
    lastVideoSeq = p.header.sequenceNumber;
    const { timestamp, marker } = p.header;
    const idr = carriesIdr(p.payload);
    if (!writeCounted(sinks.video, p)) {
      stats.notSent++;
      return;
    }
    stats.videoPackets++;
    stats.videoBytes += p.payload.length;
    if (timestamp !== lastTs) stats.videoTimestamps++;
    lastTs = timestamp;
    if (idr) unitHasIdr = true;
    if (marker) {
      stats.videoFrames++;
      if (unitHasIdr) stats.keyframes++;
      unitHasIdr = false;
    }
  });
  as?.on("message", (msg) => {
    if (isFlushMarker(msg)) return void flushed.get(as)?.();
    const p = RtpPacket.deSerialize(msg);
    stats.inputGaps += seqGap(lastAudioSeq, p.header.sequenceNumber);
    lastAudioSeq = p.header.sequenceNumber;
    if (audioSink && writeCounted(audioSink, p)) stats.audioPackets++;
    else stats.notSent++;
  });

  const gop = Math.max(1, Math.round(o.fps * o.gopSeconds));
  const t = String(o.durationSeconds);
  const inputs = o.input
    ? ["-re", "-stream_loop", "-1", "-i", o.input]
    : [
        "-re", "-f", "lavfi", "-i", `testsrc2=size=${o.width}x${o.height}:rate=${o.fps}`,
        ...(as ? ["-re", "-f", "lavfi", "-i", "sine=frequency=440:sample_rate=48000"] : []),
      ];
  const audioMap = o.input ? "0:a:0?" : "1:a:0";
  const args = [
    "-nostdin", "-hide_banner", "-v", "error",
    ...inputs,
    "-map", "0:v:0", "-t", t,
    ...(o.input && o.videoCopy
      ? ["-c:v", "copy"]
      : [
          ...(o.input ? ["-vf", `scale=${o.width}:${o.height}`, "-r", String(o.fps)] : []),
          "-c:v", "libx264", "-profile:v", o.profile ?? "high", "-preset", o.preset ?? "veryfast", "-tune", "zerolatency", "-bf", "0",
          "-g", String(gop), "-keyint_min", String(gop), "-sc_threshold", "0", "-pix_fmt", "yuv420p",
        ]),
    "-f", "rtp", "-payload_type", "96", `rtp://127.0.0.1:${vs.address().port}?pkt_size=1200`,
    ...(as
      ? ["-map", audioMap, "-t", t, "-ac", "2", "-ar", "48000", "-c:a", "libopus", "-b:a", "48k", "-f", "rtp", "-payload_type", "111", `rtp://127.0.0.1:${as.address().port}?pkt_size=1200`]
      : []),
  ];
  const ff = spawn("ffmpeg", args, { stdio: ["ignore", "ignore", "pipe"] });
  let stderr = "";
  ff.stderr?.on("data", (d: Buffer) => {
    if (stderr.length < 20_000) stderr += d.toString();
  });
  let stopping = false;
  const exited = new Promise<number | null>((resolve) => {
    ff.once("error", (err) => {
      stderr += String(err);
      resolve(-1);
    });
    ff.once("exit", (code) => resolve(code));
  });
  let closed = false;
  const closeSockets = (): void => {
    if (closed) return;
    closed = true;
    for (const resolve of [...flushed.values()]) resolve(); // nothing more can arrive
    vs.close();
    as?.close();
  };
  const done = exited.then(async (code) => {
    // Datagrams still in the socket buffers are delivered before we report done: a marker sent
    // to each socket after ffmpeg exited comes out behind them (a socket's queue is FIFO).
    if (!closed) await Promise.all([vs, as].filter((x): x is Socket => x !== undefined).map((x) => flushSocket(x, flushed)));
    closeSockets();
    if (code !== 0 && !stopping) throw new Error(`ffmpeg exited with ${code}: ${stderr.trim()}`);
  });
  done.catch(() => undefined);
  return {
    stats,
    done,
    stop: async () => {
      stopping = true;
      if (ff.exitCode === null && ff.signalCode === null) {
        ff.kill("SIGINT");
        const killer = setTimeout(() => ff.kill("SIGKILL"), 3000);
        await exited;
        clearTimeout(killer);
      }
      closeSockets();
    },
  };
}
