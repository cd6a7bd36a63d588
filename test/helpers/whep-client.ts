import {
  RTCPeerConnection,
  RTCRtpCodecParameters,
  type RtpPacket,
  type RTCRtpReceiver,
} from "werift";
import { H264Depacketizer } from "../../src/media/h264-depacketizer.js";
import type { VideoAccessUnit } from "../../src/media/types.js";
import { orderDtlsHandshakes } from "../../src/rtc/werift-dtls-order.js";
import { SessionResource } from "./session-resource.js";
import { disableDefaultStun, waitConnected, waitIceGathered } from "./werift-ice.js";

export interface WhepWatchOptions {
  /** Offer a recvonly Opus m-line too (default true). */
  audio?: boolean;
  /** The video codecs offered (default: H.264 High 640032 and Constrained Baseline 42e01f, packetization-mode 1). */
  videoCodecs?: RTCRtpCodecParameters[];
  /**
   * Drop a video packet on its first arrival, before werift's receiver (and so before its NACK
   * generator and jitter handling) sees it; werift then NACKs it. `n` counts video packets from 0.
   */
  dropVideo?: (seq: number, n: number) => boolean;
  /** Keep every access unit as Annex-B, for decoding with ffmpeg afterwards (default false). */
  keepAnnexB?: boolean;
  /** Called for every video packet that reaches the depacketizer, with its arrival time (epoch ms). */
  onVideoPacket?: (p: RtpPacket, atMs: number) => void;
  headers?: Record<string, string>;
  connectTimeoutMs?: number;
}

/** Wall-clock instants (epoch ms) of one WHEP session, as the viewer saw them. */
export interface WhepTimings {
  postSentAt: number;
  answerAt: number;
  connectedAt: number;
  /** The first complete keyframe came out of the depacketizer. */
  firstKeyframeAt?: number;
}

export interface WhepViewer {
  pc: RTCPeerConnection;
  resourceUrl: string;
  location: string;
  etag: string | null;
  answerSdp: string;
  timings: WhepTimings;
  /** Access units in the order they were assembled (NALs dropped unless keepAnnexB). */
  units: { isKeyframe: boolean; rtpTime: number; arrivalMs: number }[];
  depacketizer: H264Depacketizer;
  /** Sequence numbers dropped on purpose, and those of them that came again (retransmitted). */
  dropped: number[];
  recovered: number[];
  /** NACK packets werift's receiver sent. */
  nacksSent(): number;
  audioPackets(): number;
  /** The stream as received, Annex-B (keepAnnexB). */
  annexB(): Buffer;
  /** Resolves once `n` access units came (rejects after timeoutMs). */
  waitUnits(n: number, timeoutMs: number): Promise<void>;
  close(): Promise<void>;
}

export class WhepHttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
  ) {
    super(`WHEP POST failed with ${status}: ${body.slice(0, 300)}`);
  }
}

const FEEDBACK = [{ type: "nack" }, { type: "nack", parameter: "pli" }];

export function viewerVideoCodecs(): RTCRtpCodecParameters[] {
  return [
    new RTCRtpCodecParameters({ mimeType: "video/H264", clockRate: 90000, payloadType: 102, parameters: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=640032", rtcpFeedback: FEEDBACK }),
    new RTCRtpCodecParameters({ mimeType: "video/H264", clockRate: 90000, payloadType: 104, parameters: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f", rtcpFeedback: FEEDBACK }),
  ];
}

const ANNEX_B_START = Buffer.from([0, 0, 0, 1]);

/**
 * A minimal WHEP viewer on werift: recvonly H.264 (and Opus), non-trickle; resolves once the
 * PeerConnection is connected. Video is depacketized as it comes (src/media's depacketizer,
 * the one the ingest uses), so a test sees whole, decodable access units.
 */
export async function whepWatch(url: string, opts: WhepWatchOptions = {}): Promise<WhepViewer> {
  const pc = new RTCPeerConnection({
    iceServers: [],
    bundlePolicy: "max-bundle",
    iceUseIpv6: false,
    codecs: {
      video: opts.videoCodecs ?? viewerVideoCodecs(),
      audio: [new RTCRtpCodecParameters({ mimeType: "audio/opus", clockRate: 48000, channels: 2, payloadType: 111, parameters: "minptime=10;useinbandfec=1" })],
    },
  });
  const units: WhepViewer["units"] = [];
  const annexB: Buffer[] = [];
  const dropped: number[] = [];
  const recovered: number[] = [];
  const droppedSet = new Set<number>();
  let audioPackets = 0;
  let nacks = 0;
  let firstKeyframeAt: number | undefined;
  const unitWaiters: { n: number; resolve: () => void }[] = [];
  const depacketizer = new H264Depacketizer({
    // NACKed packets come back late: give them room before a unit is given up.
    reorderWindowPackets: 1024,
    onAccessUnit: (au: VideoAccessUnit) => {
      if (au.isKeyframe && firstKeyframeAt === undefined) firstKeyframeAt = Date.now();
      units.push({ isKeyframe: au.isKeyframe, rtpTime: au.rtpTime, arrivalMs: au.arrivalMs });
      if (opts.keepAnnexB) for (const nal of au.nalus) annexB.push(ANNEX_B_START, Buffer.from(nal));
      for (const w of [...unitWaiters]) {
        if (units.length >= w.n) {
          unitWaiters.splice(unitWaiters.indexOf(w), 1);
          w.resolve();
        }
      }
    },
  });

  const video = pc.addTransceiver("video", { direction: "recvonly" });
  if (opts.audio ?? true) {
    const audio = pc.addTransceiver("audio", { direction: "recvonly" });
    audio.onTrack.subscribe((track) => track.onReceiveRtp.subscribe(() => audioPackets++));
  }
  video.onTrack.subscribe((track) =>
    track.onReceiveRtp.subscribe((p: RtpPacket) => {
      const now = Date.now();
      opts.onVideoPacket?.(p, now);
      depacketizer.push(p.header.sequenceNumber, p.header.timestamp, p.header.marker, p.payload, now);
    }),
  );
  interceptDrops(video.receiver, opts.dropVideo, droppedSet, dropped, recovered);
  video.receiver.onPacketLost.subscribe(() => nacks++);

  const headers = opts.headers ?? {};
  const resource = new SessionResource(pc, headers);
  try {
    await pc.setLocalDescription(await pc.createOffer());
    // werift's DTLS hangs on one lost handshake datagram; a browser would retransmit (see the module).
    orderDtlsHandshakes(pc);
    disableDefaultStun(pc);
    await waitIceGathered(pc);
    const offer = pc.localDescription?.sdp;
    if (!offer) throw new Error("no local description");
    const postSentAt = Date.now();
    const res = await fetch(url, { method: "POST", headers: { ...headers, "content-type": "application/sdp" }, body: offer });
    const answerSdp = await res.text();
    const answerAt = Date.now();
    const location = res.headers.get("location");
    if (res.status !== 201) throw new WhepHttpError(res.status, answerSdp);
    if (!location) throw new Error("WHEP 201 without a Location header");
    const resourceUrl = new URL(location, url).toString();
    resource.set(resourceUrl);
    const connected = waitConnected(pc, opts.connectTimeoutMs ?? 15_000);
    connected.catch(() => undefined);
    await pc.setRemoteDescription({ type: "answer", sdp: answerSdp });
    await connected;
    const timings: WhepTimings = { postSentAt, answerAt, connectedAt: Date.now() };
    return {
      pc,
      resourceUrl,
      location,
      etag: res.headers.get("etag"),
      answerSdp,
      get timings() {
        return firstKeyframeAt === undefined ? timings : { ...timings, firstKeyframeAt };
      },
      units,
      depacketizer,
      dropped,
      recovered,
      nacksSent: () => nacks,
      audioPackets: () => audioPackets,
      annexB: () => Buffer.concat(annexB),
      waitUnits: (n, timeoutMs) =>
        units.length >= n
          ? Promise.resolve()
          : new Promise<void>((resolve, reject) => {
              const timer = setTimeout(() => reject(new Error(`only ${units.length} of ${n} access units within ${timeoutMs} ms`)), timeoutMs);
              unitWaiters.push({ n, resolve: () => { clearTimeout(timer); resolve(); } });
            }),
      close: () => resource.close(),
    };
  } catch (err) {
    await resource.close();
    throw err;
  }
}

/** Wraps the receiver's RTP entry point so chosen packets vanish on first arrival only. */
function interceptDrops(
  receiver: RTCRtpReceiver,
  drop: WhepWatchOptions["dropVideo"],
  droppedSet: Set<number>,
  dropped: number[],
  recovered: number[],
): void {
  if (!drop) return;
  const original = receiver.handleRtpBySsrc;
  let n = 0;
  receiver.handleRtpBySsrc = (packet, extensions) => {
    const seq = packet.header.sequenceNumber;
    if (droppedSet.has(seq)) {
      droppedSet.delete(seq);
      recovered.push(seq);
    } else if (drop(seq, n++)) {
      droppedSet.add(seq);
      dropped.push(seq);
      return;
    }
    original(packet, extensions);
  };
}
