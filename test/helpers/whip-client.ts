import {
  MediaStreamTrack,
  RTCPeerConnection,
  RTCRtpCodecParameters,
  useAbsSendTime,
  useSdesMid,
  useTransportWideCC,
  type RTCIceServer,
  type RTCRtpSender,
} from "werift";
import { orderDtlsHandshakes } from "../../src/rtc/werift-dtls-order.js";
import { SessionResource } from "./session-resource.js";
import { disableDefaultStun, hasStunServer, waitConnected, waitIceGathered } from "./werift-ice.js";

export interface WhipPublishOptions {
  /** Offer a sendonly H.264 m-line (default true). */
  video?: boolean;
  /** Offer a sendonly Opus m-line (default true). */
  audio?: boolean;
  /** Extra request headers (e.g. Authorization), sent with the POST and the DELETE. */
  headers?: Record<string, string>;
  /** STUN/TURN servers; none by default, and then werift's public STUN fallback is disabled too. */
  iceServers?: RTCIceServer[];
  /** How long to wait for `connected` after the answer (default 15 s). */
  connectTimeoutMs?: number;
  /** The HTTP client for the POST and the DELETE (default: global fetch; HTTPS tests pass one trusting their CA). */
  fetch?: typeof fetch;
  /**
   * Rewrites the server's answer before it is applied (e.g. NetRelay.routeAnswer, so the media
   * path goes through a test relay); `answerSdp` keeps the answer as the server sent it.
   */
  transformAnswer?: (sdp: string) => string;
  /**
   * Which addresses may send this peer ICE checks; others are ignored as a firewall would (no
   * reply, no peer-reflexive pair). With `transformAnswer` routing through a relay, this keeps
   * the server from reaching the client around it (NetRelay.acceptsStunFrom).
   */
  acceptStunFrom?: (address: string, port: number) => boolean;
  /**
   * Put the DTLS ordering gate (src/rtc/werift-dtls-order.ts) on this peer too (default true).
   * false: a publisher with werift's own handshake, to test the server's gate alone.
   */
  dtlsOrder?: boolean;
  /** Called with the peer once its transports exist and before the POST (tests tap its datagrams). */
  onPeer?: (pc: RTCPeerConnection) => void;
}

/** Wall-clock instants (epoch ms) of one WHIP publication. */
export interface WhipTimings {
  /** The POST was sent (ICE already gathered). */
  postSentAt: number;
  /** The 201 answer body was read. */
  answerAt: number;
  /** iceConnectionState became "connected" (then DTLS runs). */
  iceConnectedAt?: number;
  /** connectionState became "connected" (ICE and DTLS done). */
  connectedAt: number;
}

export interface WhipPublication {
  pc: RTCPeerConnection;
  videoTrack?: MediaStreamTrack;
  audioTrack?: MediaStreamTrack;
  videoSender?: RTCRtpSender;
  audioSender?: RTCRtpSender;
  /** Absolute URL of the session resource (Location resolved against the POST URL). */
  resourceUrl: string;
  /** Location exactly as the server sent it. */
  location: string;
  etag: string | null;
  answerSdp: string;
  timings: WhipTimings;
  /** DELETEs the resource (network errors ignored: the server may be gone) and closes the PeerConnection. */
  close(): Promise<void>;
  /** Closes the PeerConnection without a DELETE, as a device that lost its network (later close() calls DELETE nothing). */
  drop(): Promise<void>;
  /** The request headers of the POST (and DELETE): a re-POST or PATCH presents the same credentials. */
  headers: Record<string, string>;
  /** The HTTP client used (PATCH for ICE restarts). */
  fetch: typeof fetch;
}

export class WhipHttpError extends Error {
  constructor(
    readonly status: number,
    readonly body: string,
  ) {
    super(`WHIP POST failed with ${status}: ${body.slice(0, 300)}`);
  }
}

/** The RTCP feedback Chromium offers for video. */
const VIDEO_FEEDBACK = [{ type: "nack" }, { type: "nack", parameter: "pli" }, { type: "goog-remb" }, { type: "transport-cc" }];

/**
 * The codecs a publisher offers: H.264 packetization-mode 1 only (High 640032 first, so werift
 * sends with it, then Constrained Baseline 42e01f) and Opus 48000/2, with Chromium's feedback.
 */
export function publisherCodecs(): { video: RTCRtpCodecParameters[]; audio: RTCRtpCodecParameters[] } {
  return {
    video: [
      new RTCRtpCodecParameters({ mimeType: "video/H264", clockRate: 90000, payloadType: 102, parameters: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=640032", rtcpFeedback: VIDEO_FEEDBACK }),
      new RTCRtpCodecParameters({ mimeType: "video/H264", clockRate: 90000, payloadType: 104, parameters: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f", rtcpFeedback: VIDEO_FEEDBACK }),
    ],
    audio: [new RTCRtpCodecParameters({ mimeType: "audio/opus", clockRate: 48000, channels: 2, payloadType: 111, parameters: "minptime=10;useinbandfec=1", rtcpFeedback: [{ type: "transport-cc" }] })],
  };
}

/**
 * A minimal WHIP client (RFC 9725) on werift: sendonly H.264 (packetization-mode 1) and Opus,
 * non-trickle (ICE gathered before the POST); resolves once the PeerConnection is connected.
 * Write RTP to `videoTrack`/`audioTrack` (see ffmpeg-rtp-source.ts).
 */
export async function whipPublish(url: string, opts: WhipPublishOptions = {}): Promise<WhipPublication> {
  const wantVideo = opts.video ?? true;
  const wantAudio = opts.audio ?? true;
  if (!wantVideo && !wantAudio) throw new Error("whipPublish: nothing to publish");
  const iceServers = opts.iceServers ?? [];
  const pc = new RTCPeerConnection({
    // Without this werift's default is stun.l.google.com; see disableDefaultStun for the rest.
    iceServers,
    // One transport for all media: werift's default (max-compat) leaves the bundled-away
    // transport's UDP sockets open after close().
    bundlePolicy: "max-bundle",
    iceUseIpv6: false,
    codecs: publisherCodecs(),
    ...(opts.acceptStunFrom ? { iceFilterStunResponse: (_m: unknown, addr: readonly [string, number]) => opts.acceptStunFrom?.(addr[0], addr[1]) ?? true } : {}),
    // Chromium's extensions; werift's answerer only keeps the ones it is configured with.
    headerExtensions: { video: [useSdesMid(), useAbsSendTime(), useTransportWideCC()], audio: [useSdesMid()] },
  });
  const videoTrack = wantVideo ? new MediaStreamTrack({ kind: "video" }) : undefined;
  const audioTrack = wantAudio ? new MediaStreamTrack({ kind: "audio" }) : undefined;
  const videoSender = videoTrack ? pc.addTransceiver(videoTrack, { direction: "sendonly" }).sender : undefined;
  const audioSender = audioTrack ? pc.addTransceiver(audioTrack, { direction: "sendonly" }).sender : undefined;
  const headers = opts.headers ?? {};
  const doFetch = opts.fetch ?? fetch;
  const resource = new SessionResource(pc, headers, doFetch);
  try {
    const offer = await pc.createOffer();
    if (!hasStunServer(iceServers)) disableDefaultStun(pc);
    await pc.setLocalDescription(offer);
    // werift's DTLS hangs on one lost handshake datagram; a browser would retransmit (see the module).
    if (opts.dtlsOrder ?? true) orderDtlsHandshakes(pc);
    opts.onPeer?.(pc);
    await waitIceGathered(pc);
    const sdp = pc.localDescription?.sdp;
    if (!sdp) throw new Error("no local description");
    const postSentAt = Date.now();
    const res = await doFetch(url, { method: "POST", headers: { ...headers, "content-type": "application/sdp" }, body: sdp });
    const answerSdp = await res.text();
    const answerAt = Date.now();
    const location = res.headers.get("location");
    if (res.status !== 201) throw new WhipHttpError(res.status, answerSdp);
    if (!location) throw new Error("WHIP 201 without a Location header");
    const resourceUrl = new URL(location, url).toString();
    resource.set(resourceUrl);
    let iceConnectedAt: number | undefined;
    const iceSub = pc.iceConnectionStateChange.subscribe((st) => {
      if (st === "connected" && iceConnectedAt === undefined) iceConnectedAt = Date.now();
    });
    const connected = waitConnected(pc, opts.connectTimeoutMs ?? 15_000);
    connected.catch(() => undefined);
    try {
      await pc.setRemoteDescription({ type: "answer", sdp: opts.transformAnswer ? opts.transformAnswer(answerSdp) : answerSdp });
      await connected;
    } finally {
      iceSub.unSubscribe();
    }
    const connectedAt = Date.now();
    return {
      pc,
      videoTrack,
      audioTrack,
      videoSender,
      audioSender,
      resourceUrl,
      location,
      etag: res.headers.get("etag"),
      answerSdp,
      timings: { postSentAt, answerAt, iceConnectedAt, connectedAt },
      close: () => resource.close(),
      drop: () => {
        resource.forget();
        return resource.close();
      },
      headers,
      fetch: doFetch,
    };
  } catch (err) {
    await resource.close();
    throw err;
  }
}

/** Milliseconds from sending the POST to `connected`. */
export function connectMs(t: WhipTimings): number {
  return t.connectedAt - t.postSentAt;
}

export interface WhipConnectMeasurement extends WhipTimings {
  /** POST sent → answer read. */
  answerMs: number;
  /** POST sent → connected. */
  connectMs: number;
}

/** Publishes (no media), measures POST → answer → connected, then DELETEs and closes. */
export async function measureWhipConnect(url: string, opts: WhipPublishOptions = {}): Promise<WhipConnectMeasurement> {
  const pub = await whipPublish(url, opts);
  try {
    const t = pub.timings;
    return { ...t, answerMs: t.answerAt - t.postSentAt, connectMs: connectMs(t) };
  } finally {
    await pub.close();
  }
}

