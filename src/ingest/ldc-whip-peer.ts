/**
 * The opt-in WHIP transport (IFC_RTC_INGEST_TRANSPORT=libdatachannel): a libdatachannel
 * PeerConnection through node-datachannel, loaded on first use only. SRTP, DTLS and ICE run in
 * libdatachannel's threads; JS gets one decrypted RTP packet per message (a Buffer) and feeds the
 * session's shared media path. Differences from werift, measured with node-datachannel 0.33.4:
 * - RTCP: the RtcpReceivingSession handler (needed for PLI, REMB and receiver reports) consumes
 *   all incoming RTCP in C++: no sender report reaches JS, so capture clocks follow arrival and
 *   RTCP silence is not detected (it counts only once RTCP was seen). Without the handler SRs
 *   arrive but requestKeyframe()/requestBitrate() do nothing.
 * - NACK: libdatachannel's receiving side sends none; the answer does not offer `nack`.
 * - ICE restart: not supported (the binding cannot set new remote credentials on a live peer).
 */
import type { Logger } from "pino";
import type * as Ndc from "node-datachannel";
import { Unsupported } from "../core/errors.js";
import type { Config } from "../config.js";
import { parseRtpPacket, senderReports } from "../media/rtp-packet.js";
import { parseOffer, invalidSdp, type CodecSelection } from "../rtc/sdp-offer.js";
import { readUdpDrops } from "../rtc/socket-buffer.js";
import type { WhipPeer, WhipPeerEvents, WhipPeerFactory } from "./whip-peer.js";

export interface LdcPeerOptions {
  iceServers: string[];
  /** IFC_RTC_INTERFACE_ADDRESS: gather on this address only. */
  bindAddress?: string;
  /** IFC_RTC_PORT_MIN / IFC_RTC_PORT_MAX */
  portRange?: [number, number];
  /** IFC_RTC_IPV6: false drops IPv6 candidates from the answer (libdatachannel gathers both). */
  ipv6: boolean;
}

export function ldcPeerOptionsFrom(cfg: Config): LdcPeerOptions {
  return {
    iceServers: cfg.iceServers.map((url) => (url.startsWith("turn") && cfg.iceUsername ? url.replace(/^(turns?:)/, `$1${encodeURIComponent(cfg.iceUsername)}:${encodeURIComponent(cfg.iceCredential)}@`) : url)),
    ...(cfg.rtcInterfaceAddress ? { bindAddress: cfg.rtcInterfaceAddress } : {}),
    ...(cfg.rtcPortMin > 0 ? { portRange: [cfg.rtcPortMin, cfg.rtcPortMax] as [number, number] } : {}),
    ipv6: cfg.rtcIpv6,
  };
}

let loading: Promise<typeof Ndc> | undefined;
/** node-datachannel is a native module: imported only when this transport is selected. */
export function loadNodeDatachannel(): Promise<typeof Ndc> {
  loading ??= import("node-datachannel");
  return loading;
}

export function ldcWhipPeers(opts: LdcPeerOptions): WhipPeerFactory {
  return (codecs, events, log) => new LdcWhipPeer(opts, codecs, events, log);
}

let peerSeq = 0;

class LdcWhipPeer implements WhipPeer {
  private pc: Ndc.PeerConnection | undefined;
  private videoTrack: Ndc.Track | undefined;
  private closed = false;

  constructor(
    private readonly opts: LdcPeerOptions,
    private readonly codecs: CodecSelection,
    private readonly events: WhipPeerEvents,
    private readonly log: Logger,
  ) {}

  async answer(offerSdp: string): Promise<string> {
    const ndc = await loadNodeDatachannel();
    if (this.closed) throw new Error("session ended before its answer");
    const mids = midsOf(offerSdp);
    const pc = new ndc.PeerConnection(`whip${++peerSeq}`, {
      iceServers: this.opts.iceServers,
      ...(this.opts.bindAddress ? { bindAddress: this.opts.bindAddress } : {}),
      ...(this.opts.portRange ? { portRangeBegin: this.opts.portRange[0], portRangeEnd: this.opts.portRange[1] } : {}),
    });
    this.pc = pc;
    pc.onStateChange((s) => {
      if (!this.closed) this.events.connectionState(s);
    });
    pc.onIceStateChange((s) => {
      if (!this.closed) this.events.iceState(s);
    });
    // Our own recvonly tracks before the offer: the answer then carries only the selected codecs
    // (libdatachannel would otherwise accept every codec the offer lists, as werift does).
    const video = new ndc.Video(mids.video, "RecvOnly");
    video.addH264Codec(this.codecs.video.payloadType, this.codecs.video.fmtpLine);
    this.videoTrack = this.receive(ndc, pc.addTrack(video), true);
    const audio = this.codecs.audio;
    if (audio && mids.audio !== undefined) {
      const a = new ndc.Audio(mids.audio, "RecvOnly");
      a.addOpusCodec(audio.payloadType, audio.fmtpLine);
      this.receive(ndc, pc.addTrack(a), false);
    }
    const gathered = new Promise<void>((resolve) => {
      pc.onGatheringStateChange((s) => {
        if (s === "complete") resolve();
      });
    });
    try {
      // DTLS role: answered `active`, libdatachannel's ClientHello reaches a werift publisher
      // before its ICE is connected and is dropped, and the 1 s DTLS retransmit timer sets the
      // connect time (~1.2 s measured). Told the publisher is active, we answer `passive`
      // and the publisher's own ClientHello starts DTLS as soon as its ICE connects (~0.2 s).
      pc.setRemoteDescription(offerSdp.replace(/^a=setup:actpass/gm, "a=setup:active"), "offer");
    } catch (err) {
      throw invalidSdp(`the offer was refused: ${err instanceof Error ? err.message.slice(0, 120) : String(err)}`);
    }
    await gathered;
    const sdp = pc.localDescription()?.sdp ?? "";
    return tidyAnswer(sdp, this.codecs.video.payloadType, this.opts.ipv6);
  }

  /** Wires one track: RTCP feedback in C++, each RTP message into the session (no await, one parsed view). */
  private receive(ndc: typeof Ndc, track: Ndc.Track, isVideo: boolean): Ndc.Track {
    track.setMediaHandler(new ndc.RtcpReceivingSession());
    const events = this.events;
    track.onMessage((msg) => {
      if (this.closed) return;
      const b1 = msg[1] as number;
      if (b1 >= 200 && b1 <= 204) {
        // RTCP reaches JS only if the handler passes it on (0.33.4 does not); kept for a version that does.
        events.rtcp(isVideo);
        for (const sr of senderReports(msg)) events.senderReport(isVideo, sr.ntpTimestamp, sr.rtpTimestamp);
        return;
      }
      const rtp = parseRtpPacket(msg);
      if (rtp) events.rtp(isVideo, rtp);
    });
    return track;
  }

  sendPli(_videoSsrc: number): void {
    // RtcpReceivingSession addresses the SSRC it last received on.
    if (this.videoTrack && !this.closed && !this.videoTrack.requestKeyframe()) this.log.debug("PLI not sent (track not open)");
  }

  sendRemb(_videoSsrc: number, bps: number): void {
    if (this.videoTrack && !this.closed && !this.videoTrack.requestBitrate(bps)) this.log.debug("REMB not sent (track not open)");
  }

  async addRemoteCandidates(candidates: { candidate: string; sdpMid?: string; sdpMLineIndex?: number }[]): Promise<void> {
    const pc = this.pc;
    if (!pc) return;
    for (const c of candidates) {
      try {
        pc.addRemoteCandidate(c.candidate, c.sdpMid ?? "0");
      } catch (err) {
        throw invalidSdp(`candidate refused: ${err instanceof Error ? err.message.slice(0, 120) : String(err)}`);
      }
    }
  }

  async restartIce(): Promise<string> {
    throw new Unsupported("ice-restart-unsupported", "ICE restart is not supported with IFC_RTC_INGEST_TRANSPORT=libdatachannel: publish again with a new WHIP POST (the same credentials resume the stream)");
  }

  async close(): Promise<void> {
    this.closed = true;
    const pc = this.pc;
    this.pc = undefined;
    this.videoTrack = undefined;
    pc?.close();
  }

  socketDrops(): number | undefined {
    const port = this.pc?.getSelectedCandidatePair()?.local.port;
    if (port === undefined) return undefined;
    return readUdpDrops()?.get(port) ?? 0;
  }
}

function midsOf(offerSdp: string): { video: string; audio?: string } {
  let video: string | undefined;
  let audio: string | undefined;
  for (const m of parseOffer(offerSdp)) {
    if (m.kind === "video" && video === undefined) video = m.mid ?? "0";
    else if (m.kind === "audio" && audio === undefined) audio = m.mid ?? "1";
  }
  if (video === undefined) throw invalidSdp("no video m-line");
  return { video, ...(audio !== undefined ? { audio } : {}) };
}

/**
 * What the publisher is told: no `nack` (this transport never sends one, so a publisher need not
 * keep packets for it) and, unless IFC_RTC_IPV6, no IPv6 candidates (werift gathers IPv4 only).
 */
export function tidyAnswer(sdp: string, videoPt: number, ipv6: boolean): string {
  const lines = sdp.split("\r\n").filter((l) => {
    if (l === `a=rtcp-fb:${videoPt} nack`) return false;
    if (!ipv6 && l.startsWith("a=candidate:")) return !(l.split(" ")[4] ?? "").includes(":");
    return true;
  });
  return lines.join("\r\n");
}
