/**
 * RTSP PLAY: one reader of a live stream, whichever protocol published it. It attaches to the
 * stream's hub with its own bounded queue (a slow reader drops and counts, never stalls the
 * publisher), packetizes access units into RTP and hands each packet to its transport.
 */
import { randomBytes, randomInt } from "node:crypto";
import { frameBytes } from "../../core/stream-buffer.js";
import type { ReaderHandle, StreamHub } from "../../core/stream-hub.js";
import type { LiveStream } from "../../core/stream-registry.js";
import { NAL_TYPE } from "../../media/h264-nal.js";
import { buildSenderReport } from "../../media/rtcp-sender-report.js";
import { AudioPacketizer, H264Packetizer } from "../../media/rtp-packetizer.js";
import { OPUS_CLOCK_HZ, VIDEO_CLOCK_HZ, type MediaFrame, type VideoAccessUnit } from "../../media/types.js";
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

/** Dynamic payload types of the DESCRIBE answer. */
const VIDEO_PAYLOAD_TYPE = 96;
const AUDIO_PAYLOAD_TYPE = 97;

/** The tracks a DESCRIBE of `stream` answers with (video first), from its hub's track info; none when it has no playable track yet. */
export function describeTracks(stream: LiveStream): DescribeTrack[] {
  const hub = stream.hub;
  if (hub.isClosed) return [];
  const out: DescribeTrack[] = [];
  const video = hub.tracks.video;
  if (video) {
    const t: DescribeTrack = { kind: "video", codec: "h264", payloadType: VIDEO_PAYLOAD_TYPE, clockRate: VIDEO_CLOCK_HZ, channels: 1 };
    // Before the first keyframe no sprop: the SPS/PPS go in-band ahead of every IDR anyway.
    const sets = latestParameterSets(hub);
    if (sets) {
      t.sps = sets.sps;
      t.pps = sets.pps;
    }
    const pli = sets && sets.sps.length >= 4 ? hex3(sets.sps[1] as number, sets.sps[2] as number, sets.sps[3] as number) : video.sps ? hex3(video.sps.profileIdc, video.sps.constraintFlags, video.sps.levelIdc) : video.profileLevelId;
    if (pli) t.profileLevelId = pli;
    out.push(t);
  }
  const audio = hub.tracks.audio;
  if (audio?.codec === "opus") {
    // RFC 7587 §7: the rtpmap always says opus/48000/2, whatever the stream carries.
    out.push({ kind: "audio", codec: "opus", payloadType: AUDIO_PAYLOAD_TYPE, clockRate: OPUS_CLOCK_HZ, channels: 2 });
  } else if (audio?.codec === "aac") {
    out.push({ kind: "audio", codec: "aac", payloadType: AUDIO_PAYLOAD_TYPE, clockRate: audio.sampleRate, channels: audio.channels, aacConfig: audio.config });
  }
  return out;
}

/** The SPS/PPS of the stream buffer's newest keyframe (ingest puts them on every keyframe; in-band NALs otherwise). */
function latestParameterSets(hub: StreamHub): { sps: Uint8Array; pps: Uint8Array } | undefined {
  const key = hub.buffer.lastGop().find((f): f is VideoAccessUnit => f.kind === "video" && f.isKeyframe);
  if (!key) return undefined;
  let sps = key.sps;
  let pps = key.pps;
  for (const n of key.nalus) {
    const t = (n[0] ?? 0) & 0x1f;
    if (!sps && t === NAL_TYPE.SPS) sps = n;
    else if (!pps && t === NAL_TYPE.PPS) pps = n;
  }
  return sps && pps ? { sps, pps } : undefined;
}

function hex3(a: number, b: number, c: number): string {
  return ((a << 16) | (b << 8) | c).toString(16).padStart(6, "0");
}

export interface RtspReaderOptions {
  /** Reader queue bound, frames (IFC_READER_QUEUE_FRAMES, as every hub reader). */
  queueFrames: number;
  /** Largest RTP packet, bytes (1472 for UDP; TCP may use more, keep 1472 too for NVRs). */
  maxPacketBytes: number;
  /** The reader's name in the hub's reader stats (default `rtsp`); the server passes the session id. */
  name?: string;
  /** Sender reports per track at most this often (ms, default 5000); the first goes with the track's first packet. */
  senderReportIntervalMs?: number;
  /**
   * The buffered GOP a reader starts with goes out at least this fast (bytes per ms, default
   * 1000 = 8 Mbit/s) or 4× the stream's rate when higher: a burst of a whole GOP would overflow a
   * UDP player's socket buffer. Live frames are never paced.
   */
  catchUpMinBytesPerMs?: number;
  /** Clock (epoch ms); injected by tests. */
  now?: () => number;
}

export interface RtspReaderStats {
  framesSent: number;
  /** Frames the hub queue or the transport dropped. */
  framesDropped: number;
  packetsSent: number;
  bytesSent: number;
  /** Video frames passed over while waiting for a keyframe (at the start without a buffered GOP, after a drop). */
  framesSkipped: number;
  /** Times the reader waited for a keyframe. */
  keyframeWaits: number;
  /** Whether it started from the stream buffer's last GOP. */
  cachedJoin: boolean;
}

/** Catch-up pacing: this many times the GOP's own rate... */
const CATCH_UP_RATE_FACTOR = 4;
/** ...with a bucket of this many bytes sent back to back (about a dozen packets). */
const CATCH_UP_BUCKET_BYTES = 16 * 1024;
const DEFAULT_SR_INTERVAL_MS = 5000;
const DEFAULT_CATCH_UP_MIN_BYTES_PER_MS = 1000;
/** The packetizers write a bare 12-byte RTP header (no CSRC, no extension). */
const RTP_HEADER_BYTES = 12;

/** One set-up track: its packetizer, random SSRC/sequence/timestamp offset, and what sender reports need. */
interface TrackOut {
  readonly index: number;
  readonly track: DescribeTrack;
  readonly video?: H264Packetizer;
  readonly audio?: AudioPacketizer;
  readonly initialSequence: number;
  readonly tsOffset: number;
  /** RTP-Info rtptime (the timestamp at the first frame's wall clock), when known at PLAY. */
  rtpInfoTime: number | undefined;
  /** Last frame sent: its RTP timestamp (32-bit) and wall clock. */
  lastTs: number;
  lastWallMs: number;
  /** RTP packets and their payload octets the transport took (sender reports count them). */
  packets: number;
  octets: number;
  sent: boolean;
  srDueAt: number;
}

/**
 * RTP timestamps are the stream's `rtpTime` (continuous across publisher reconnects) plus a
 * random per-track offset (RFC 3550 §5.1), so a reader sees no jump when the publisher comes
 * back. Video goes out from a keyframe: at PLAY from the buffered GOP when there is one (the
 * first picture at once), else from the next IDR; after any drop (the hub queue full, the
 * transport refusing) video waits for the next IDR while audio goes on.
 */
export class RtspReader {
  private readonly videoOut: TrackOut | undefined;
  private readonly audioOut: TrackOut | undefined;
  private readonly outs: TrackOut[] = [];
  private readonly now: () => number;
  private readonly srIntervalMs: number;
  private readonly cname = randomBytes(8).toString("hex");
  private handle: ReaderHandle | undefined;
  private offClose: (() => void) | undefined;
  private started = false;
  private stopped = false;
  private ended = false;
  private endListeners: (() => void)[] = [];
  private waitingKeyframe = true;
  /** Backlog frames still to come (paced), their rate, the bucket and the pending pause. */
  private backlogLeft = 0;
  private catchUpRate = 0;
  private tokens = CATCH_UP_BUCKET_BYTES;
  private tokensAt = 0;
  private pause: { timer: NodeJS.Timeout; wake: () => void } | undefined;
  private readonly st: RtspReaderStats = { framesSent: 0, framesDropped: 0, packetsSent: 0, bytesSent: 0, framesSkipped: 0, keyframeWaits: 0, cachedJoin: false };

  /** `tracks`: the DESCRIBE tracks; `setUp`: the indexes into them that were SETUP. */
  constructor(
    private readonly stream: LiveStream,
    readonly tracks: readonly DescribeTrack[],
    readonly setUp: readonly number[],
    private readonly transport: RtspReadTransport,
    private readonly opts: RtspReaderOptions,
  ) {
    this.now = opts.now ?? Date.now;
    this.srIntervalMs = opts.senderReportIntervalMs ?? DEFAULT_SR_INTERVAL_MS;
    let videoOut: TrackOut | undefined;
    let audioOut: TrackOut | undefined;
    for (const index of setUp) {
      const track = tracks[index];
      if (!track) throw new RangeError(`track ${index} is not among the ${tracks.length} described`);
      const initialSequence = randomInt(0x10000);
      const popts = { payloadType: track.payloadType, ssrc: randomInt(1, 0x1_0000_0000), maxPacketBytes: opts.maxPacketBytes, initialSequence };
      const base = { index, track, initialSequence, tsOffset: randomInt(0x1_0000_0000), rtpInfoTime: undefined, lastTs: 0, lastWallMs: 0, packets: 0, octets: 0, sent: false, srDueAt: 0 };
      if (track.kind === "video") {
        if (videoOut) throw new RangeError("only one video track can be set up");
        videoOut = { ...base, video: new H264Packetizer(popts) };
        this.outs.push(videoOut);
      } else {
        if (audioOut) throw new RangeError("only one audio track can be set up");
        audioOut = { ...base, audio: new AudioPacketizer(track.codec === "aac" ? "aac" : "opus", popts) };
        this.outs.push(audioOut);
      }
    }
    this.videoOut = videoOut;
    this.audioOut = audioOut;
    this.waitingKeyframe = videoOut !== undefined;
  }

  /** Starts delivery (PLAY): from the stream buffer's last GOP (like WHEP's cached-gop join), else from the next keyframe. */
  start(): void {
    if (this.started || this.stopped) return;
    this.started = true;
    const hub = this.stream.hub;
    if (hub.isClosed) {
      queueMicrotask(() => this.end());
      return;
    }
    // The snapshot and the attach below happen in one synchronous step: the backlog is this GOP.
    const gop = hub.buffer.lastGop();
    const cached = gop.length > 0;
    this.handle = hub.attach(this.opts.name ?? "rtsp", (frame, droppedBefore) => this.onFrame(frame, droppedBefore), this.opts.queueFrames, cached ? { backlogFrom: Infinity } : {});
    this.offClose = hub.onClose(() => this.end());
    if (cached && this.handle.backlogStart === gop[0]) {
      this.st.cachedJoin = true;
      this.backlogLeft = gop.length;
      this.catchUpRate = Math.max(this.opts.catchUpMinBytesPerMs ?? DEFAULT_CATCH_UP_MIN_BYTES_PER_MS, CATCH_UP_RATE_FACTOR * bytesPerMs(gop));
      this.tokensAt = this.now();
      this.planRtpInfo(gop);
    } else if (this.videoOut) {
      this.st.keyframeWaits++;
      hub.requestKeyframe("rtsp-reader-join");
    }
  }

  /**
   * RTP-Info rtptime per track: its timestamp at the wall clock of the GOP's first frame, so a
   * player that takes rtptime as its zero (ffmpeg does) starts audio and video in step.
   */
  private planRtpInfo(gop: readonly MediaFrame[]): void {
    const t0 = (gop[0] as MediaFrame).wallClockMs;
    for (const out of this.outs) {
      const first = gop.find((f) => f.kind === out.track.kind);
      if (!first) continue;
      const back = Math.round(((first.wallClockMs - t0) * out.track.clockRate) / 1000);
      out.rtpInfoTime = (first.rtpTime - back + out.tsOffset) >>> 0;
    }
  }

  /**
   * The RTP-Info header value for the PLAY response, after start(): `trackUrls[i]` is the URL of
   * track `setUp[i]`. Each entry has the first sequence number, and rtptime when the first
   * timestamp is known already (a start from the buffered GOP).
   */
  rtpInfo(trackUrls: readonly string[]): string {
    const parts: string[] = [];
    this.setUp.forEach((index, i) => {
      const out = this.outs.find((o) => o.index === index);
      const url = trackUrls[i];
      if (!out || url === undefined) return;
      parts.push(`url=${url};seq=${out.initialSequence}${out.rtpInfoTime !== undefined ? `;rtptime=${out.rtpInfoTime}` : ""}`);
    });
    return parts.join(",");
  }

  /** Stops delivery and detaches from the hub (TEARDOWN, connection closed, stream ended); says BYE on each track that sent. */
  stop(): void {
    if (this.stopped) return;
    this.stopped = true;
    this.handle?.detach();
    this.handle = undefined;
    this.offClose?.();
    this.offClose = undefined;
    if (this.pause) {
      clearTimeout(this.pause.timer);
      this.pause.wake();
      this.pause = undefined;
    }
    for (const out of this.outs) if (out.sent) this.sendReport(out, this.now(), true);
  }

  get stats(): RtspReaderStats {
    return { ...this.st };
  }

  /** Called once when the stream ends under the reader (the server then closes the session). */
  onEnd(fn: () => void): void {
    if (this.ended) queueMicrotask(fn);
    else this.endListeners.push(fn);
  }

  private end(): void {
    if (this.ended) return;
    this.ended = true;
    this.stop();
    const fns = this.endListeners;
    this.endListeners = [];
    for (const fn of fns) fn();
  }

  // --- the frame path: synchronous, except a paced pause while the backlog goes out ---------

  private onFrame(frame: MediaFrame, droppedBefore: number): void | Promise<void> {
    if (this.stopped) return;
    if (droppedBefore > 0) {
      this.st.framesDropped += droppedBefore;
      this.waitForKeyframe("rtsp-reader-lagged");
    }
    if (this.backlogLeft > 0) {
      this.backlogLeft--;
      const wait = this.spend(frameBytes(frame));
      if (wait > 0) {
        return new Promise<void>((resolve) => {
          const wake = (): void => {
            this.pause = undefined;
            resolve();
          };
          this.pause = { timer: setTimeout(() => { wake(); this.send(frame); }, wait), wake };
        });
      }
    }
    this.send(frame);
  }

  /** Takes `bytes` from the catch-up bucket; returns how long to wait first (ms), 0 for none. */
  private spend(bytes: number): number {
    const now = this.now();
    this.tokens = Math.min(CATCH_UP_BUCKET_BYTES, this.tokens + (now - this.tokensAt) * this.catchUpRate);
    this.tokensAt = now;
    this.tokens -= bytes;
    return this.tokens >= 0 ? 0 : Math.ceil(-this.tokens / this.catchUpRate);
  }

  private send(frame: MediaFrame): void {
    if (this.stopped) return;
    let out: TrackOut | undefined;
    let packets: Buffer[];
    let ts: number;
    if (frame.kind === "video") {
      out = this.videoOut;
      if (!out?.video) return;
      // A new publisher's timeline: its first picture that is not an IDR cannot be decoded here.
      if (frame.discontinuity && !frame.isKeyframe) this.waitForKeyframe("rtsp-reader-discontinuity");
      if (this.waitingKeyframe) {
        if (!frame.isKeyframe) {
          this.st.framesSkipped++;
          return;
        }
        this.waitingKeyframe = false;
      }
      ts = (frame.rtpTime + out.tsOffset) >>> 0;
      packets = out.video.packetize(frame, ts);
    } else {
      out = this.audioOut;
      if (!out?.audio || frame.codec !== out.track.codec) return;
      ts = (frame.rtpTime + out.tsOffset) >>> 0;
      packets = out.audio.packetize(frame, ts);
    }
    if (packets.length === 0) return;
    const transport = this.transport;
    const index = out.index;
    for (let i = 0; i < packets.length; i++) {
      const p = packets[i] as Buffer;
      if (!transport.sendRtp(index, p)) {
        // The rest of the frame goes too: a picture with a hole is no use to a decoder.
        this.st.framesDropped++;
        if (frame.kind === "video") this.waitForKeyframe("rtsp-reader-backlog");
        return;
      }
      this.st.packetsSent++;
      this.st.bytesSent += p.length;
      out.packets++;
      out.octets += p.length - RTP_HEADER_BYTES;
    }
    this.st.framesSent++;
    out.lastTs = ts;
    out.lastWallMs = frame.wallClockMs;
    const now = this.now();
    if (!out.sent) {
      out.sent = true;
      out.srDueAt = now;
    }
    if (now >= out.srDueAt) {
      out.srDueAt = now + this.srIntervalMs;
      this.sendReport(out, now, false);
    }
  }

  private waitForKeyframe(reason: string): void {
    if (!this.videoOut || this.waitingKeyframe) return;
    this.waitingKeyframe = true;
    this.st.keyframeWaits++;
    this.stream.hub.requestKeyframe(reason);
  }

  /** A sender report for `now`: the last frame's timestamp moved on by the wall-clock time since it. */
  private sendReport(out: TrackOut, now: number, bye: boolean): void {
    const p = out.video ?? out.audio;
    if (!p) return;
    const rtpTimestamp = (out.lastTs + Math.round(((now - out.lastWallMs) * out.track.clockRate) / 1000)) >>> 0;
    const packet = buildSenderReport({ ssrc: p.ssrc, wallClockMs: now, rtpTimestamp, packetCount: out.packets, octetCount: out.octets, cname: this.cname, bye });
    this.transport.sendRtcp(out.index, packet);
  }
}

/** A GOP's own rate: its bytes over its wall-clock span (bytes per ms; 0 when it spans no time). */
function bytesPerMs(gop: readonly MediaFrame[]): number {
  let bytes = 0;
  for (const f of gop) bytes += frameBytes(f);
  const span = (gop[gop.length - 1] as MediaFrame).wallClockMs - (gop[0] as MediaFrame).wallClockMs;
  return span > 0 ? bytes / span : 0;
}
