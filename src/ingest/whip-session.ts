import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import type { TappedRtpPacket } from "../core/stream-hub.js";
import type { DisconnectCause, LiveStream, Publisher, ResumeReason, SessionStats, StreamRegistry, UnpublishReason } from "../core/stream-registry.js";
import { H264Depacketizer } from "../media/h264-depacketizer.js";
import { DEFAULT_OPUS_REORDER_WINDOW, OpusDepacketizer } from "../media/opus-depacketizer.js";
import type { H264SpsInfo } from "../media/types.js";
import { OPUS_CLOCK_HZ, VIDEO_CLOCK_HZ } from "../media/types.js";
import { DisconnectDetector } from "./disconnect-detector.js";
import { KeyframeRequester } from "./keyframe-requester.js";
import { RtpWallClock } from "./rtp-clock.js";
import type { CodecSelection } from "../rtc/sdp-offer.js";
import { RateMeter } from "./rate-meter.js";
import { newSessionId } from "../rtc/session-id.js";
import type { WhipPeer, WhipPeerEvents, WhipPeerFactory } from "./whip-peer.js";

export interface WhipSessionOptions {
  /** The WebRTC transport (werift-whip-peer.ts). */
  peers: WhipPeerFactory;
  /** IFC_ICE_RESTART_TIMEOUT_MS */
  iceRestartTimeoutMs: number;
  connectTimeoutMs: number;
  rtpSilenceTimeoutMs: number;
  /** IFC_RTCP_SILENCE_TIMEOUT_MS: counted once the publisher has sent RTCP at all (some never do). */
  rtcpSilenceTimeoutMs: number;
  /** IFC_ICE_DISCONNECTED_TIMEOUT_MS: ICE `disconnected` this long counts as gone. */
  iceDisconnectedTimeoutMs: number;
  pliMinIntervalMs: number;
  rembBitrateBps: number;
  reorderWindowPackets: number;
  /** IFC_CLOCK_DRIFT_TOLERANCE_MS: capture times are re-anchored when the publisher's clock drifts further. */
  clockDriftToleranceMs: number;
}

/** Why a session ended: a disconnect cause (the stream may wait for a resume), a deliberate end, or a takeover by a newer session. */
export type SessionEndReason = DisconnectCause | UnpublishReason | "taken-over";

/**
 * One WHIP publisher: a PeerConnection that only receives (its transport behind the WhipPeer
 * port), turning RTP into access units on the stream's hub. RTP callbacks run synchronously on
 * the packet path and never await; feedback to the publisher (PLI, REMB) goes out fire-and-forget.
 */
export class WhipSession implements Publisher, WhipPeerEvents {
  readonly id = newSessionId();
  etag = `"${randomUUID()}"`;
  readonly createdAt = Date.now();
  private peer: WhipPeer | undefined;
  private stream: LiveStream | undefined;
  private state: "new" | "connecting" | "connected" | "ended" = "new";
  private ended = false;
  private connectedAt: number | undefined;
  private readonly liveness: DisconnectDetector;
  /** Why the publisher counts as gone while its session still waits for it (undefined: not gone). */
  private lostCause: DisconnectCause | undefined;
  private unwatchHub: (() => void) | undefined;
  /** An ICE restart was asked for (PATCH): the next `connected` is a resume by ICE restart. */
  private iceRestarted = false;
  /** Set when this session resumed or took over a stream: ask for an IDR with the first video packet. */
  private resumedAs: ResumeReason | undefined;
  private keyframeOnFirstRtp = false;
  private videoSsrc: number | undefined;
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly video: H264Depacketizer;
  private readonly audio: OpusDepacketizer;
  private readonly videoClock: RtpWallClock;
  private readonly audioClock: RtpWallClock;
  private readonly keyframes: KeyframeRequester;
  private readonly bitrate = new RateMeter(2000);
  private readonly frameRate = new RateMeter(2000);
  private sps: H264SpsInfo | undefined;
  private endListeners: ((reason: SessionEndReason) => void)[] = [];
  private connectedListeners: (() => void)[] = [];
  private readonly log: Logger;

  constructor(
    readonly streamName: string,
    /** Who publishes (principal kind and id): the same identity may resume or take over the stream. */
    readonly identity: string,
    private readonly codecs: CodecSelection,
    private readonly registry: StreamRegistry,
    private readonly opts: WhipSessionOptions,
    parentLog: Logger,
  ) {
    this.log = parentLog.child({ session: this.id });
    this.liveness = new DisconnectDetector({ rtpSilenceMs: opts.rtpSilenceTimeoutMs, rtcpSilenceMs: opts.rtcpSilenceTimeoutMs, iceDisconnectedMs: opts.iceDisconnectedTimeoutMs });
    this.keyframes = new KeyframeRequester(opts.pliMinIntervalMs, () => this.sendPli());
    this.videoClock = new RtpWallClock(VIDEO_CLOCK_HZ, { driftToleranceMs: opts.clockDriftToleranceMs });
    this.audioClock = new RtpWallClock(OPUS_CLOCK_HZ, { driftToleranceMs: opts.clockDriftToleranceMs });
    this.video = new H264Depacketizer({
      reorderWindowPackets: opts.reorderWindowPackets,
      onAccessUnit: (au) => {
        const stream = this.stream;
        // The wall clock follows the session's own RTP clock; readers get stream time.
        au.wallClockMs = this.videoClock.wallMs(au.rtpTime, au.arrivalMs);
        this.frameRate.add(1, au.arrivalMs);
        if (!stream) return;
        const timeline = stream.timelines.video;
        au.rtpTime = timeline.map(au.rtpTime, au.arrivalMs);
        if (timeline.discontinuity) au.discontinuity = true;
        stream.hub.publish(au);
      },
      onKeyframeNeeded: () => this.keyframes.request(),
      onParameterSetsChanged: (info) => {
        if (this.sps) this.log.info({ width: info.width, height: info.height, codec: info.codecString }, "video parameters changed");
        this.sps = info;
        const video = this.stream?.hub.tracks.video;
        if (video) video.sps = info;
      },
    });
    this.audio = new OpusDepacketizer({
      // Audio waits less for a late packet than video: a window of 64 would hold sound 1.28 s.
      reorderWindowPackets: Math.min(opts.reorderWindowPackets, DEFAULT_OPUS_REORDER_WINDOW),
      onFrame: (frame) => {
        const stream = this.stream;
        frame.wallClockMs = this.audioClock.wallMs(frame.rtpTime, frame.arrivalMs);
        if (!stream) return;
        const timeline = stream.timelines.audio;
        frame.rtpTime = timeline.map(frame.rtpTime, frame.arrivalMs);
        if (timeline.discontinuity) frame.discontinuity = true;
        stream.hub.publish(frame);
      },
    });
  }

  /**
   * Claims the stream name (or resumes / takes over the same identity's stream), answers the
   * offer and returns the answer SDP (ICE gathered).
   */
  async start(offerSdp: string): Promise<string> {
    const audio = this.codecs.audio;
    const claimed = this.registry.claim(this.streamName, this, {
      video: { codec: "h264", profileLevelId: this.codecs.video.fmtp["profile-level-id"] ?? "42000a" },
      ...(audio ? { audio: { codec: "opus" as const, channels: audio.channels ?? 2, sampleRate: OPUS_CLOCK_HZ } } : {}),
    });
    this.stream = claimed.stream;
    if (claimed.resumed) {
      this.resumedAs = claimed.resumed;
      // Readers wait for an IDR after the break: ask with the first packet (PLI needs the SSRC).
      this.keyframeOnFirstRtp = true;
      this.log.info({ reason: claimed.resumed }, "publisher resumes the stream");
    }
    this.stream.hub.setKeyframeRequester(() => this.keyframes.request());
    // The stream ended while this session waited for its publisher (grace expired, kick): end too.
    this.unwatchHub = this.stream.hub.onClose(() => void this.end(this.lostCause ? "grace-expired" : "deleted"));
    try {
      const peer = this.opts.peers(this.codecs, this, this.log);
      this.peer = peer;
      const answer = await peer.answer(offerSdp);
      this.state = "connecting";
      this.timers.push(setTimeout(() => {
        if (this.state !== "connected") void this.end("connect-timeout");
      }, this.opts.connectTimeoutMs));
      return answer;
    } catch (err) {
      await this.end("error");
      throw err;
    }
  }

  /** WhipPeerEvents: one RTP packet, on the packet path (synchronous, never awaits). */
  rtp(isVideo: boolean, rtp: TappedRtpPacket): void {
    const now = Date.now();
    this.liveness.rtp(now);
    const h = rtp.header;
    this.bitrate.add(rtp.payload.length * 8, now);
    if (isVideo) {
      if (this.videoSsrc !== h.ssrc) this.onVideoSsrc(h.ssrc);
      this.videoClock.start(h.timestamp, now);
      this.video.push(h.sequenceNumber, h.timestamp, h.marker, rtp.payload, now);
    } else {
      this.audioClock.start(h.timestamp, now);
      this.audio.push(h.sequenceNumber, h.timestamp, rtp.payload, now);
    }
    // The packet as received, for WHEP viewers (forwarded without re-packetizing).
    this.stream?.hub.publishRtp(isVideo ? "video" : "audio", rtp);
  }

  rtcp(_isVideo: boolean): void {
    this.liveness.rtcp(Date.now());
  }

  senderReport(isVideo: boolean, ntpTimestamp: bigint, rtpTimestamp: number): void {
    const clock = isVideo ? this.videoClock : this.audioClock;
    clock.onSenderReport(ntpTimestamp, rtpTimestamp);
  }

  /** A new video SSRC: the first, or one changed mid-session (an encoder restarted after an ICE restart). */
  private onVideoSsrc(ssrc: number): void {
    const previous = this.videoSsrc;
    this.videoSsrc = ssrc;
    if (previous !== undefined) {
      this.log.info({ previous, ssrc }, "publisher's video SSRC changed");
      this.stream?.hub.publisherChanged({ sessionId: this.id, reason: "ice-restart", lastMediaAt: this.liveness.lastMediaAt });
      this.keyframeOnFirstRtp = true;
    }
    if (this.keyframeOnFirstRtp) {
      this.keyframeOnFirstRtp = false;
      // On the next tick: the packet path must not wait on RTCP sending.
      queueMicrotask(() => this.keyframes.request());
    }
  }

  connectionState(s: string): void {
    if (this.ended) return;
    if (s === "connected" && this.state !== "connected") {
      this.state = "connected";
      this.connectedAt = Date.now();
      this.liveness.connected(this.connectedAt);
      this.log.info({ connectMs: this.connectedAt - this.createdAt, resumed: this.resumedAs }, "publisher connected");
      if (this.stream) this.registry.connected(this.stream, this.id);
      for (const l of this.connectedListeners) l();
      this.timers.push(setInterval(() => this.tick(), 250));
    } else if (s === "connected") {
      this.onLinkBack();
    } else if (s === "failed") {
      void this.end("ice-failed");
    } else if (s === "closed") {
      // The peer closed DTLS (close_notify) or the transport went away: gone at once.
      void this.end("dtls-closed");
    }
  }

  /** ICE `disconnected` shows the stream `reconnecting` and counts as gone after IFC_ICE_DISCONNECTED_TIMEOUT_MS (see tick); `connected` again resumes. */
  iceState(s: string): void {
    if (this.ended || this.state !== "connected") return;
    if (s === "disconnected") {
      if (this.liveness.isIceDisconnected) return;
      this.log.info("publisher's ICE disconnected");
      this.liveness.iceDisconnected(Date.now());
      if (this.stream) this.registry.interrupted(this.stream, this.id, "ice-disconnected");
    } else if (s === "connected" || s === "completed") {
      this.onLinkBack();
    }
  }

  private onLinkBack(): void {
    this.liveness.iceConnected();
    // Silence is counted afresh from the link's return: media follows within the limits.
    this.liveness.connected(Date.now());
    this.lostCause = undefined;
    const reason = this.iceRestarted ? "ice-restart" : "ice-recovered";
    this.iceRestarted = false;
    if (this.stream) this.registry.resumed(this.stream, this.id, reason);
  }

  /** Periodic work off the packet path: silence detection and bandwidth feedback. */
  private rembDueAt = 0;
  private tick(): void {
    const now = Date.now();
    const gone = this.liveness.check(now);
    if (gone && !this.lostCause) {
      // Not the end: the session stays open for an ICE restart or its media coming back, and the
      // stream waits in `reconnecting` (IFC_RECONNECT_GRACE_MS); the hub's close ends the session.
      this.lostCause = gone;
      this.log.info({ cause: gone }, "publisher gone: waiting for it to come back");
      if (this.stream) this.registry.lost(this.stream, this.id, gone);
      if (this.ended) return;
    } else if (!gone && this.lostCause) {
      this.lostCause = undefined;
      this.log.info("publisher's media is back");
      if (this.stream) this.registry.resumed(this.stream, this.id, this.iceRestarted ? "ice-restart" : "ice-recovered");
      this.iceRestarted = false;
    }
    // Chromium ramps its send bitrate only on bandwidth feedback (design.md pitfalls).
    if (this.opts.rembBitrateBps > 0 && this.videoSsrc !== undefined && now >= this.rembDueAt) {
      this.rembDueAt = now + 500;
      this.sendRemb(this.opts.rembBitrateBps);
    }
  }

  private sendPli(): void {
    const ssrc = this.videoSsrc;
    if (ssrc === undefined || !this.peer) return;
    this.peer.sendPli(ssrc);
  }

  private sendRemb(bps: number): void {
    if (!this.peer || this.videoSsrc === undefined) return;
    this.peer.sendRemb(this.videoSsrc, bps);
  }

  /** Trickled candidates from the publisher (RFC 9725 §4.4). */
  async addRemoteCandidates(candidates: { candidate: string; sdpMid?: string; sdpMLineIndex?: number }[]): Promise<void> {
    if (!this.peer) return;
    await this.peer.addRemoteCandidates(candidates);
  }

  /** ICE restart (RFC 9725 §4.4.2): new remote credentials, returns our new ones and candidates. */
  async restartIce(ufrag: string, pwd: string, candidates: { candidate: string; sdpMid?: string }[], offerSdp: string): Promise<string> {
    const peer = this.peer;
    if (!peer) throw new Error("session not started");
    this.iceRestarted = true;
    const answer = await peer.restartIce(ufrag, pwd, candidates, offerSdp, { timeoutMs: this.opts.iceRestartTimeoutMs, onTimeout: () => void this.end("ice-failed") });
    this.etag = `"${randomUUID()}"`;
    return answer;
  }

  onEnd(l: (reason: SessionEndReason) => void): void {
    this.endListeners.push(l);
  }

  onConnected(l: () => void): void {
    this.connectedListeners.push(l);
  }

  get isEnded(): boolean {
    return this.ended;
  }

  get connectMs(): number | undefined {
    return this.connectedAt === undefined ? undefined : this.connectedAt - this.createdAt;
  }

  /** Epoch ms of the last RTP packet (its start before any): where a resumed stream's gap begins. */
  lastMediaAt(): number {
    return this.liveness.lastMediaAt || this.createdAt;
  }

  /** A newer session of the same identity carries the stream now. */
  takenOver(): void {
    void this.end("taken-over");
  }

  /**
   * Tears the session down. The registry decides what happens to the stream: a disconnect
   * leaves it `reconnecting` for the grace period, a deliberate end releases it (its readers
   * finish what they hold, recordings close cleanly), a takeover leaves it to the new session.
   */
  async end(reason: SessionEndReason): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    this.state = "ended";
    for (const t of this.timers) clearTimeout(t);
    this.keyframes.stop();
    this.unwatchHub?.();
    this.log.info({ reason, packets: this.video.packetsReceived, lost: this.video.packetsLost, frames: this.video.unitsEmitted }, "publisher session ended");
    if (this.stream && reason !== "taken-over") this.registry.sessionEnded(this.stream, this.id, reason);
    // Packets still in flight until the peer closes must not reach a stream another session carries now.
    this.stream = undefined;
    const peer = this.peer;
    this.peer = undefined;
    for (const l of this.endListeners) l(reason);
    if (peer) await peer.close();
  }

  stats(): SessionStats {
    const sps = this.sps;
    const audio = this.codecs.audio;
    return {
      protocol: "whip",
      sessionId: this.id,
      since: this.createdAt,
      video: {
        codec: sps?.codecString ?? "avc1",
        ...(sps ? { width: sps.width, height: sps.height, profile: sps.profileIdc, level: sps.levelIdc } : {}),
        fps: Math.round(this.frameRate.perSecond() * 10) / 10,
      },
      ...(audio ? { audio: { codec: "opus", sampleRate: OPUS_CLOCK_HZ, channels: audio.channels ?? 2 } } : {}),
      bitrateBps: Math.round(this.bitrate.perSecond()),
      packetsReceived: this.video.packetsReceived + this.audio.packetsReceived,
      packetsLost: this.video.packetsLost + this.audio.packetsLost,
      framesReceived: this.video.unitsEmitted,
      framesDropped: this.video.unitsDropped,
      keyframeRequests: this.keyframes.stats.sent,
      ...(this.socketDrops() !== undefined ? { socketDrops: this.socketDrops() } : {}),
    };
  }

  private dropsReadAt = -Infinity;
  private dropsSeen: number | undefined;
  /** Kernel drops at this session's sockets (/proc/net/udp), read at most once a second: stats are polled per stream. */
  private socketDrops(): number | undefined {
    const now = Date.now();
    if (this.peer && now - this.dropsReadAt >= 1000) {
      this.dropsReadAt = now;
      this.dropsSeen = this.peer.socketDrops();
    }
    return this.dropsSeen;
  }
}
