import { randomUUID } from "node:crypto";
import type { Logger } from "pino";
import type {
  MediaStreamTrack} from "werift";
import {
  ReceiverEstimatedMaxBitrate,
  RTCPeerConnection,
  RTCRtpCodecParameters,
  RtcpPayloadSpecificFeedback,
  RtcpSrPacket,
  type RtcpPacket,
  type RTCRtpTransceiver,
  type RtpPacket,
} from "werift";
import type { LiveStream, StreamRegistry, StreamStats } from "../core/stream-registry.js";
import { H264Depacketizer } from "../media/h264-depacketizer.js";
import { OpusDepacketizer } from "../media/opus-depacketizer.js";
import type { H264SpsInfo } from "../media/types.js";
import { OPUS_CLOCK_HZ, VIDEO_CLOCK_HZ } from "../media/types.js";
import { KeyframeRequester } from "./keyframe-requester.js";
import { RtpWallClock } from "./rtp-clock.js";
import type { CodecSelection, OfferedCodec } from "../rtc/sdp-offer.js";
import { RateMeter } from "./rate-meter.js";
import { answerOffer, restartIceWith, type PeerOptions } from "../rtc/werift-peer.js";
import { newSessionId } from "../rtc/session-id.js";

export interface WhipSessionOptions {
  peer: PeerOptions;
  connectTimeoutMs: number;
  rtpSilenceTimeoutMs: number;
  pliMinIntervalMs: number;
  rembBitrateBps: number;
  reorderWindowPackets: number;
}

export type SessionEndReason = "deleted" | "ice-failed" | "connect-timeout" | "rtp-timeout" | "shutdown" | "error";

/**
 * One WHIP publisher: a werift PeerConnection that only receives, turning RTP into access
 * units on the stream's hub. RTP callbacks run synchronously on the packet path and never
 * await; feedback to the publisher (PLI, REMB) goes out fire-and-forget.
 */
export class WhipSession {
  readonly id = newSessionId();
  etag = `"${randomUUID()}"`;
  readonly createdAt = Date.now();
  private pc: RTCPeerConnection | undefined;
  private stream: LiveStream | undefined;
  private state: "new" | "connecting" | "connected" | "ended" = "new";
  private ended = false;
  private connectedAt: number | undefined;
  private lastRtpAt = 0;
  private videoSsrc: number | undefined;
  private readonly timers: NodeJS.Timeout[] = [];
  private readonly video: H264Depacketizer;
  private readonly audio: OpusDepacketizer;
  private readonly videoClock = new RtpWallClock(VIDEO_CLOCK_HZ);
  private readonly audioClock = new RtpWallClock(OPUS_CLOCK_HZ);
  private readonly keyframes: KeyframeRequester;
  private readonly bitrate = new RateMeter(2000);
  private readonly frameRate = new RateMeter(2000);
  private sps: H264SpsInfo | undefined;
  private endListeners: ((reason: SessionEndReason) => void)[] = [];
  private connectedListeners: (() => void)[] = [];
  private readonly log: Logger;

  constructor(
    readonly streamName: string,
    private readonly codecs: CodecSelection,
    private readonly registry: StreamRegistry,
    private readonly opts: WhipSessionOptions,
    parentLog: Logger,
  ) {
    this.log = parentLog.child({ session: this.id });
    this.keyframes = new KeyframeRequester(opts.pliMinIntervalMs, () => this.sendPli());
    this.video = new H264Depacketizer({
      reorderWindowPackets: opts.reorderWindowPackets,
      onAccessUnit: (au) => {
        au.wallClockMs = this.videoClock.wallMs(au.rtpTime);
        this.frameRate.add(1, au.arrivalMs);
        this.stream?.hub.publish(au);
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
      onFrame: (frame) => {
        frame.wallClockMs = this.audioClock.wallMs(frame.rtpTime);
        this.stream?.hub.publish(frame);
      },
    });
  }

  /** Claims the stream name, answers the offer and returns the answer SDP (ICE gathered). */
  async start(offerSdp: string): Promise<string> {
    const audio = this.codecs.audio;
    this.stream = this.registry.claim(
      this.streamName,
      this.id,
      {
        video: { codec: "h264", profileLevelId: this.codecs.video.fmtp["profile-level-id"] ?? "42000a" },
        ...(audio ? { audio: { codec: "opus" as const, channels: audio.channels ?? 2, sampleRate: OPUS_CLOCK_HZ } } : {}),
      },
      () => this.stats(),
    );
    this.stream.hub.setKeyframeRequester(() => this.keyframes.request());
    try {
      const pc = new RTCPeerConnection({
        ...this.opts.peer.config,
        codecs: {
          // Pinned to the exact H.264 variant chosen from the offer: werift matches codecs by
          // mime type only, so a looser list could accept a profile we did not select.
          video: [toWeriftCodec(this.codecs.video, [{ type: "nack" }, { type: "nack", parameter: "pli" }, { type: "goog-remb" }])],
          audio: audio ? [toWeriftCodec(audio, [])] : [],
        },
      });
      this.pc = pc;
      pc.onTrack.subscribe((track) => this.onTrack(track));
      pc.connectionStateChange.subscribe((s) => this.onConnectionState(s));
      const answer = await answerOffer(pc, offerSdp, this.opts.peer, (ts) => this.mustReceiveOnly(ts));
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

  private mustReceiveOnly(transceivers: RTCRtpTransceiver[]): void {
    for (const t of transceivers) t.setDirection("recvonly");
  }

  private onTrack(track: MediaStreamTrack): void {
    const isVideo = track.kind === "video";
    track.onReceiveRtp.subscribe((rtp: RtpPacket) => {
      const now = Date.now();
      this.lastRtpAt = now;
      const h = rtp.header;
      this.bitrate.add(rtp.payload.length * 8, now);
      if (isVideo) {
        this.videoSsrc = h.ssrc;
        this.videoClock.start(h.timestamp, now);
        this.video.push(h.sequenceNumber, h.timestamp, h.marker, rtp.payload, now);
      } else {
        this.audioClock.start(h.timestamp, now);
        this.audio.push(h.sequenceNumber, h.timestamp, rtp.payload, now);
      }
      // The packet as received, for WHEP viewers (forwarded without re-packetizing).
      this.stream?.hub.publishRtp(isVideo ? "video" : "audio", rtp);
    });
    track.onReceiveRtcp.subscribe((packet: RtcpPacket) => {
      if (packet instanceof RtcpSrPacket) {
        const clock = isVideo ? this.videoClock : this.audioClock;
        clock.onSenderReport(packet.senderInfo.ntpTimestamp, packet.senderInfo.rtpTimestamp);
      }
    });
  }

  private onConnectionState(s: string): void {
    if (this.ended) return;
    if (s === "connected" && this.state !== "connected") {
      this.state = "connected";
      this.connectedAt = Date.now();
      this.lastRtpAt = this.connectedAt;
      this.log.info({ connectMs: this.connectedAt - this.createdAt }, "publisher connected");
      if (this.stream) this.registry.announce(this.stream);
      for (const l of this.connectedListeners) l();
      this.timers.push(setInterval(() => this.tick(), 250));
    } else if (s === "failed" || s === "closed") {
      void this.end("ice-failed");
    }
  }

  /** Periodic work off the packet path: silence detection and bandwidth feedback. */
  private rembDueAt = 0;
  private tick(): void {
    const now = Date.now();
    if (now - this.lastRtpAt > this.opts.rtpSilenceTimeoutMs) {
      void this.end("rtp-timeout");
      return;
    }
    // Chromium ramps its send bitrate only on bandwidth feedback (design.md pitfalls).
    if (this.opts.rembBitrateBps > 0 && this.videoSsrc !== undefined && now >= this.rembDueAt) {
      this.rembDueAt = now + 500;
      this.sendRemb(this.opts.rembBitrateBps);
    }
  }

  private sendPli(): void {
    const ssrc = this.videoSsrc;
    const receiver = this.videoReceiver();
    if (ssrc === undefined || !receiver) return;
    receiver.sendRtcpPLI(ssrc).catch((err: unknown) => this.log.debug({ err }, "PLI send failed"));
  }

  private sendRemb(bps: number): void {
    const receiver = this.videoReceiver();
    if (!receiver || this.videoSsrc === undefined) return;
    let exp = 0;
    let mantissa = bps;
    while (mantissa >= 1 << 18) {
      mantissa = Math.floor(mantissa / 2);
      exp++;
    }
    const remb = new ReceiverEstimatedMaxBitrate({
      senderSsrc: receiver.rtcpSsrc,
      mediaSsrc: 0,
      brExp: exp,
      brMantissa: mantissa,
      ssrcNum: 1,
      ssrcFeedbacks: [this.videoSsrc],
    });
    const packet = new RtcpPayloadSpecificFeedback({ feedback: remb });
    receiver.dtlsTransport.sendRtcp([packet]).catch((err: unknown) => this.log.debug({ err }, "REMB send failed"));
  }

  private videoReceiver() {
    return this.pc?.getTransceivers().find((t) => t.kind === "video")?.receiver;
  }

  /** Trickled candidates from the publisher (RFC 9725 §4.4). */
  async addRemoteCandidates(candidates: { candidate: string; sdpMid?: string; sdpMLineIndex?: number }[]): Promise<void> {
    if (!this.pc) return;
    for (const c of candidates) await this.pc.addIceCandidate(c);
  }

  /** ICE restart (RFC 9725 §4.4.2): new remote credentials, returns our new ones and candidates. */
  async restartIce(ufrag: string, pwd: string, candidates: { candidate: string; sdpMid?: string }[], offerSdp: string): Promise<string> {
    const pc = this.pc;
    if (!pc) throw new Error("session not started");
    const answer = await restartIceWith(pc, offerSdp, ufrag, pwd, candidates, { timeoutMs: this.opts.peer.iceRestartTimeoutMs, onTimeout: () => void this.end("ice-failed") });
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

  /** Tears everything down; the stream's readers finish what they hold (recordings close cleanly). */
  async end(reason: SessionEndReason): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    this.state = "ended";
    for (const t of this.timers) clearTimeout(t);
    this.keyframes.stop();
    this.log.info({ reason, packets: this.video.packetsReceived, lost: this.video.packetsLost, frames: this.video.unitsEmitted }, "publisher session ended");
    if (this.stream) this.registry.release(this.stream);
    const pc = this.pc;
    this.pc = undefined;
    for (const l of this.endListeners) l(reason);
    if (pc) await pc.close().catch(() => undefined);
  }

  stats(): StreamStats {
    const sps = this.sps;
    const audio = this.codecs.audio;
    return {
      protocol: "whip",
      sessionId: this.id,
      since: this.createdAt,
      state: this.state,
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
    };
  }
}

function toWeriftCodec(c: OfferedCodec, rtcpFeedback: { type: string; parameter?: string }[]): RTCRtpCodecParameters {
  const isVideo = c.clockRate === VIDEO_CLOCK_HZ;
  return new RTCRtpCodecParameters({
    mimeType: `${isVideo ? "video" : "audio"}/${c.name}`,
    clockRate: c.clockRate,
    payloadType: c.payloadType,
    ...(c.channels ? { channels: c.channels } : {}),
    ...(c.fmtpLine ? { parameters: c.fmtpLine } : {}),
    rtcpFeedback,
  });
}
