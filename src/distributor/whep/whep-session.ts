import { randomUUID } from "node:crypto";
import { newSessionId } from "../../rtc/session-id.js";
import type { Logger } from "pino";
import {
  ntpTime,
  RTCPeerConnection,
  RTCRtpCodecParameters,
  type RtcpPacket,
  type RTCRtpSender,
  type RTCRtpTransceiver,
} from "werift";
import type { LiveStream } from "../../core/stream-registry.js";
import type { OfferedCodec } from "../../rtc/sdp-offer.js";
import { closePeerGracefully } from "../../rtc/peer-close.js";
import { answerOffer, restartIceWith, type PeerOptions } from "../../rtc/werift-peer.js";
import type { StreamFanout } from "./stream-fanout.js";
import { ViewerForwarder, type CatchUp, type TrackOutputOptions, type WhepJoin } from "./viewer-forwarder.js";
import { pinOffer, type ViewerCodecs } from "./viewer-offer.js";

export interface WhepSessionOptions {
  peer: PeerOptions;
  connectTimeoutMs: number;
  idleTimeoutMs: number;
  /** IFC_WHEP_JOIN: start from the cached GOP or wait for the next keyframe. */
  join: WhepJoin;
  catchUp?: CatchUp;
}

export type ViewerEndReason = "deleted" | "ice-failed" | "ice-restart-timeout" | "connect-timeout" | "idle-timeout" | "stream-ended" | "shutdown" | "error";

/** werift's sender keeps the figures of its sender reports in private fields; we send for it. */
interface SenderReportFields {
  ntpTimestamp: bigint;
  rtpTimestamp: number;
  packetCount: number;
  octetCount: number;
  runRtcp(): Promise<void>;
}

/** RTCP payload-specific feedback and its formats: PLI (RFC 4585 §6.3.1), FIR (RFC 5104 §4.3.1). */
const PSFB = 206;
const PLI_FMT = 1;
const FIR_FMT = 4;

/**
 * One WHEP viewer: a werift PeerConnection that only sends. Packets do not go through werift's
 * sender (it clones every packet and answers NACKs from its own 128-packet history); the
 * forwarder writes them to the DTLS transport with the sender's SSRC. The sender keeps what it
 * does well: receiver reports, NACK events, its sender-report loop (fed here). PLI and FIR are
 * read off the transport (see startForwarding).
 */
export class WhepSession {
  readonly id = newSessionId();
  etag = `"${randomUUID()}"`;
  readonly createdAt = Date.now();
  private pc: RTCPeerConnection | undefined;
  private state: "new" | "connecting" | "connected" | "ended" = "new";
  private ended = false;
  private connectedAt: number | undefined;
  private lastRtcpAt = 0;
  private readonly timers: NodeJS.Timeout[] = [];
  private forwarder: ViewerForwarder | undefined;
  private endListeners: ((reason: ViewerEndReason) => void)[] = [];
  private connectedListeners: (() => void)[] = [];
  private readonly log: Logger;

  constructor(
    readonly stream: LiveStream,
    private readonly fanout: StreamFanout,
    private readonly codecs: ViewerCodecs,
    private readonly opts: WhepSessionOptions,
    parentLog: Logger,
  ) {
    this.log = parentLog.child({ session: this.id });
  }

  get streamName(): string {
    return this.stream.name;
  }

  /** Answers the (pinned) offer and returns the answer SDP with every candidate gathered. */
  async start(offerSdp: string): Promise<string> {
    const { video, audio } = this.codecs;
    try {
      const pc = new RTCPeerConnection({
        ...this.opts.peer.config,
        codecs: {
          video: [toSendCodec("video", video, ["nack", "nack pli", "ccm fir"])],
          // Without Opus from the viewer (or Opus audio in the stream: an AAC stream has none for
          // WebRTC, see selectViewerCodecs) the audio m-line is answered inactive.
          audio: [audio ? toSendCodec("audio", audio, []) : new RTCRtpCodecParameters({ mimeType: "audio/opus", clockRate: 48000, channels: 2 })],
        },
      });
      this.pc = pc;
      pc.connectionStateChange.subscribe((s) => this.onConnectionState(s));
      const answer = await answerOffer(pc, this.pinnedOffer(offerSdp), this.opts.peer, (ts) => this.setDirections(ts));
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

  private setDirections(transceivers: RTCRtpTransceiver[]): void {
    for (const t of transceivers) {
      const sends = t.kind === "video" || (t.kind === "audio" && this.codecs.audio !== undefined);
      t.setDirection(sends ? "sendonly" : "inactive");
      // a=msid with one stream id for both tracks: browsers then hand the player one
      // MediaStream (event.streams[0]) and synchronize audio with video.
      if (sends) t.sender.streamId = this.stream.name;
    }
  }

  private onConnectionState(s: string): void {
    if (this.ended) return;
    if (s === "connected" && this.state !== "connected") {
      this.state = "connected";
      this.connectedAt = Date.now();
      this.lastRtcpAt = this.connectedAt;
      this.log.info({ connectMs: this.connectedAt - this.createdAt }, "viewer connected");
      this.startForwarding();
      this.timers.push(setInterval(() => this.tick(), 1000));
      for (const l of this.connectedListeners) l();
    } else if (s === "failed" || s === "closed") {
      void this.end("ice-failed");
    }
  }

  private startForwarding(): void {
    const transceivers = this.pc?.getTransceivers() ?? [];
    const videoSender = transceivers.find((t) => t.kind === "video")?.sender;
    const audioSender = this.codecs.audio ? transceivers.find((t) => t.kind === "audio")?.sender : undefined;
    if (!videoSender?.dtlsTransport) {
      void this.end("error");
      return;
    }
    const output = (sender: RTCRtpSender, codec: OfferedCodec, kind: "video" | "audio"): TrackOutputOptions => ({
      ring: kind === "video" ? this.fanout.video : this.fanout.audio,
      out: sender.dtlsTransport,
      ssrc: sender.ssrc,
      payloadType: codec.payloadType,
      clockRate: codec.clockRate,
      onSent: senderReportFeeder(sender),
    });
    const forwarder = new ViewerForwarder(
      output(videoSender, this.codecs.video, "video"),
      audioSender && this.codecs.audio ? output(audioSender, this.codecs.audio, "audio") : undefined,
      (reason) => this.fanout.requestKeyframe(reason),
      this.fanout.schedule,
      { join: this.opts.join, catchUp: this.opts.catchUp ?? "fast-forward" },
    );
    this.forwarder = forwarder;
    // PLI and FIR are read off the transport: werift's router hands a PLI to whatever SSRC of
    // its table the packet's *sender* SSRC names first (a werift viewer's own), and a FIR names
    // our SSRC only in its FCI (RFC 5104 §4.3.1), so neither reliably reaches the sender.
    for (const transport of new Set([videoSender.dtlsTransport, audioSender?.dtlsTransport])) {
      transport?.onRtcp.subscribe((p: RtcpPacket) => this.onRtcp(p, videoSender.ssrc));
    }
    videoSender.onGenericNack.subscribe((nack) => forwarder.nack(nack.lost));
    this.fanout.add(forwarder);
    forwarder.start();
    this.fanout.schedule();
  }

  private onRtcp(p: RtcpPacket, videoSsrc: number): void {
    this.lastRtcpAt = Date.now();
    // By type and format rather than instanceof: cheaper, and no dependence on werift's class identity.
    if (p.type !== PSFB) return;
    const fb = (p as { feedback?: { count?: number; mediaSsrc?: number } }).feedback;
    if (fb?.count === PLI_FMT && fb.mediaSsrc === videoSsrc) this.fanout.requestKeyframe("viewer-pli");
    else if (fb?.count === FIR_FMT) this.fanout.requestKeyframe("viewer-fir");
  }

  private tick(): void {
    if (Date.now() - this.lastRtcpAt > this.opts.idleTimeoutMs) void this.end("idle-timeout");
  }

  /** Trickled candidates from the viewer (RFC 9725 §4.4, as WHIP). */
  async addRemoteCandidates(candidates: { candidate: string; sdpMid?: string }[]): Promise<void> {
    if (!this.pc) return;
    for (const c of candidates) await this.pc.addIceCandidate(c);
  }

  /** ICE restart: the viewer's new credentials in, ours (and our candidates) out. */
  async restartIce(ufrag: string, pwd: string, candidates: { candidate: string; sdpMid?: string }[], pinnedOffer: string): Promise<string> {
    const pc = this.pc;
    if (!pc) throw new Error("session not started");
    const answer = await restartIceWith(pc, pinnedOffer, ufrag, pwd, candidates, { timeoutMs: this.opts.peer.iceRestartTimeoutMs, onTimeout: () => void this.end("ice-restart-timeout") });
    this.etag = `"${randomUUID()}"`;
    return answer;
  }

  /** The offer as werift saw it (pinned to the chosen codecs), for ICE restarts. */
  pinnedOffer(offerSdp: string): string {
    const keep = new Map<number, number>([[this.codecs.videoIndex, this.codecs.video.payloadType]]);
    if (this.codecs.audio && this.codecs.audioIndex !== undefined) keep.set(this.codecs.audioIndex, this.codecs.audio.payloadType);
    return pinOffer(offerSdp, keep);
  }

  /** Called once ICE and DTLS are up. */
  onConnected(l: () => void): void {
    this.connectedListeners.push(l);
  }

  onEnd(l: (reason: ViewerEndReason) => void): void {
    this.endListeners.push(l);
  }

  get isEnded(): boolean {
    return this.ended;
  }

  get isConnected(): boolean {
    return this.state === "connected";
  }

  get stats() {
    return this.forwarder?.stats;
  }

  /** POST → first keyframe packet sent, ms (undefined until then). */
  get timeToFirstFrameMs(): number | undefined {
    const at = this.forwarder?.firstKeyframeAt;
    return at === undefined ? undefined : at - this.createdAt;
  }

  async end(reason: ViewerEndReason): Promise<void> {
    if (this.ended) return;
    this.ended = true;
    this.state = "ended";
    for (const t of this.timers) clearTimeout(t);
    const forwarder = this.forwarder;
    if (forwarder) {
      forwarder.close();
      this.fanout.remove(forwarder);
    }
    this.log.info({ reason, ...forwarder?.stats }, "viewer session ended");
    const pc = this.pc;
    this.pc = undefined;
    for (const l of this.endListeners) l(reason);
    // BYE and close_notify: the player learns at once that the stream is gone (within 1 s at worst).
    if (pc) await closePeerGracefully(pc);
  }
}

function toSendCodec(kind: "video" | "audio", c: OfferedCodec, feedback: string[]): RTCRtpCodecParameters {
  // Only the feedback the viewer offered and we act on (no REMB/transport-cc: no bandwidth estimation here).
  const offered = new Set(c.rtcpFeedback.map((f) => (f.parameter ? `${f.type} ${f.parameter}` : f.type)));
  const rtcpFeedback = feedback.filter((f) => offered.has(f)).map((f) => {
    const [type, parameter] = f.split(" ");
    return { type: type as string, ...(parameter ? { parameter } : {}) };
  });
  return new RTCRtpCodecParameters({
    mimeType: `${kind}/${c.name}`,
    clockRate: c.clockRate,
    payloadType: c.payloadType,
    ...(c.channels ? { channels: c.channels } : {}),
    ...(c.fmtpLine ? { parameters: c.fmtpLine } : {}),
    rtcpFeedback,
  });
}

/**
 * Keeps the werift sender's report figures current so its RTCP loop sends true sender
 * reports (RTP/NTP mapping for A/V sync, counts). NTP time is taken once per frame, not per packet.
 */
function senderReportFeeder(sender: RTCRtpSender): (rtpTimestamp: number, payloadBytes: number) => void {
  const f = sender as unknown as SenderReportFields;
  let started = false;
  let lastTimestamp = -1;
  return (rtpTimestamp, payloadBytes) => {
    f.packetCount = (f.packetCount + 1) >>> 0;
    f.octetCount += payloadBytes;
    if (rtpTimestamp !== lastTimestamp) {
      lastTimestamp = rtpTimestamp;
      f.ntpTimestamp = ntpTime();
      f.rtpTimestamp = rtpTimestamp;
    }
    if (!started) {
      started = true;
      void f.runRtcp();
    }
  };
}
