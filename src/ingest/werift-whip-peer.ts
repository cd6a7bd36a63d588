/** The default WHIP transport: a werift PeerConnection that only receives (see whip-peer.ts). */
import type { Logger } from "pino";
import {
  ReceiverEstimatedMaxBitrate,
  RTCPeerConnection,
  RTCRtpCodecParameters,
  RtcpPayloadSpecificFeedback,
  RtcpSrPacket,
  type MediaStreamTrack,
  type RtcpPacket,
  type RTCRtpTransceiver,
  type RtpPacket,
} from "werift";
import { VIDEO_CLOCK_HZ } from "../media/types.js";
import { closePeerGracefully } from "../rtc/peer-close.js";
import { fastenEvent } from "../rtc/werift-fast-events.js";
import type { CodecSelection, OfferedCodec } from "../rtc/sdp-offer.js";
import { peerSocketDrops } from "../rtc/socket-buffer.js";
import { answerOffer, restartIceWith, type PeerOptions } from "../rtc/werift-peer.js";
import type { WhipPeer, WhipPeerEvents, WhipPeerFactory } from "./whip-peer.js";

export function weriftWhipPeers(peer: PeerOptions): WhipPeerFactory {
  return (codecs, events, log) => new WeriftWhipPeer(peer, codecs, events, log);
}

class WeriftWhipPeer implements WhipPeer {
  private pc: RTCPeerConnection | undefined;

  constructor(
    private readonly peer: PeerOptions,
    private readonly codecs: CodecSelection,
    private readonly events: WhipPeerEvents,
    private readonly log: Logger,
  ) {}

  async answer(offerSdp: string): Promise<string> {
    const audio = this.codecs.audio;
    const pc = new RTCPeerConnection({
      ...this.peer.config,
      codecs: {
        // Pinned to the exact H.264 variant chosen from the offer: werift matches codecs by
        // mime type only, so a looser list could accept a profile we did not select.
        video: [toWeriftCodec(this.codecs.video, [{ type: "nack" }, { type: "nack", parameter: "pli" }, { type: "goog-remb" }])],
        audio: audio ? [toWeriftCodec(audio, [])] : [],
      },
    });
    this.pc = pc;
    pc.onTrack.subscribe((track) => this.onTrack(track));
    pc.connectionStateChange.subscribe((s) => this.events.connectionState(s));
    pc.iceConnectionStateChange.subscribe((s) => this.events.iceState(s));
    return answerOffer(pc, offerSdp, this.peer, (ts) => mustReceiveOnly(ts));
  }

  private onTrack(track: MediaStreamTrack): void {
    const isVideo = track.kind === "video";
    const events = this.events;
    // The two werift events each RTP packet passes, without an async part per emit (werift-fast-events.ts).
    fastenEvent(track.onReceiveRtp);
    for (const t of this.pc?.getTransceivers() ?? []) fastenEvent(t.dtlsTransport?.onRtp);
    track.onReceiveRtp.subscribe((rtp: RtpPacket) => events.rtp(isVideo, rtp));
    track.onReceiveRtcp.subscribe((packet: RtcpPacket) => {
      events.rtcp(isVideo);
      if (packet instanceof RtcpSrPacket) events.senderReport(isVideo, packet.senderInfo.ntpTimestamp, packet.senderInfo.rtpTimestamp);
    });
  }

  sendPli(videoSsrc: number): void {
    const receiver = this.videoReceiver();
    if (!receiver) return;
    receiver.sendRtcpPLI(videoSsrc).catch((err: unknown) => this.log.debug({ err }, "PLI send failed"));
  }

  sendRemb(videoSsrc: number, bps: number): void {
    const receiver = this.videoReceiver();
    if (!receiver) return;
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
      ssrcFeedbacks: [videoSsrc],
    });
    const packet = new RtcpPayloadSpecificFeedback({ feedback: remb });
    receiver.dtlsTransport.sendRtcp([packet]).catch((err: unknown) => this.log.debug({ err }, "REMB send failed"));
  }

  private videoReceiver() {
    return this.pc?.getTransceivers().find((t) => t.kind === "video")?.receiver;
  }

  async addRemoteCandidates(candidates: { candidate: string; sdpMid?: string; sdpMLineIndex?: number }[]): Promise<void> {
    if (!this.pc) return;
    for (const c of candidates) await this.pc.addIceCandidate(c);
  }

  async restartIce(ufrag: string, pwd: string, candidates: { candidate: string; sdpMid?: string }[], offerSdp: string, restart: { timeoutMs: number; onTimeout: () => void }): Promise<string> {
    const pc = this.pc;
    if (!pc) throw new Error("session not started");
    return restartIceWith(pc, offerSdp, ufrag, pwd, candidates, restart);
  }

  async close(): Promise<void> {
    const pc = this.pc;
    this.pc = undefined;
    if (pc) await closePeerGracefully(pc);
  }

  socketDrops(): number | undefined {
    return this.pc ? peerSocketDrops(this.pc) : undefined;
  }
}

function mustReceiveOnly(transceivers: RTCRtpTransceiver[]): void {
  for (const t of transceivers) t.setDirection("recvonly");
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
