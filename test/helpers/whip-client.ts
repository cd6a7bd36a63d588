import { MediaStreamTrack, RTCPeerConnection, RTCRtpCodecParameters } from "werift";
import { disableDefaultStun, waitIceGathered } from "../../src/ingest/werift-peer.js";

export interface WhipPublishOptions {
  video?: boolean;
  audio?: boolean;
  headers?: Record<string, string>;
  connectTimeoutMs?: number;
}

export interface WhipTimings {
  postSentAt: number;
  answerAt: number;
  connectedAt: number;
}

export interface WhipPublication {
  pc: RTCPeerConnection;
  videoTrack?: MediaStreamTrack;
  audioTrack?: MediaStreamTrack;
  /** Absolute URL of the session resource (from Location). */
  resourceUrl: string;
  /** Location as sent by the server. */
  location: string;
  etag: string | null;
  answerSdp: string;
  timings: WhipTimings;
  close(): Promise<void>;
}

export class WhipHttpError extends Error {
  constructor(readonly status: number, readonly body: string) {
    super(`WHIP POST failed with ${status}: ${body.slice(0, 300)}`);
  }
}

const RTCP_FEEDBACK = [{ type: "nack" }, { type: "nack", parameter: "pli" }, { type: "goog-remb" }, { type: "transport-cc" }];

/**
 * A minimal WHIP client (RFC 9725) on werift: sendonly H.264 (packetization-mode 1) and Opus,
 * non-trickle (ICE gathered before the POST), resolves once the PeerConnection is connected.
 */
export async function whipPublish(url: string, opts: WhipPublishOptions = {}): Promise<WhipPublication> {
  const wantVideo = opts.video ?? true;
  const wantAudio = opts.audio ?? true;
  const pc = new RTCPeerConnection({
    // One transport for all media: werift's default (max-compat) leaves the bundled-away
    // transport's UDP sockets open after close().
    bundlePolicy: "max-bundle",
    iceUseIpv6: false,
    codecs: {
      video: [
        new RTCRtpCodecParameters({ mimeType: "video/H264", clockRate: 90000, payloadType: 102, parameters: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=640032", rtcpFeedback: RTCP_FEEDBACK }),
        new RTCRtpCodecParameters({ mimeType: "video/H264", clockRate: 90000, payloadType: 104, parameters: "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id=42e01f", rtcpFeedback: RTCP_FEEDBACK }),
      ],
      audio: [new RTCRtpCodecParameters({ mimeType: "audio/opus", clockRate: 48000, channels: 2, payloadType: 111, parameters: "minptime=10;useinbandfec=1" })],
    },
  });
  const videoTrack = wantVideo ? new MediaStreamTrack({ kind: "video" }) : undefined;
  const audioTrack = wantAudio ? new MediaStreamTrack({ kind: "audio" }) : undefined;
  if (videoTrack) pc.addTransceiver(videoTrack, { direction: "sendonly" });
  if (audioTrack) pc.addTransceiver(audioTrack, { direction: "sendonly" });
  try {
    const offer = await pc.createOffer();
    // werift would ask a public STUN server: on a closed network a DNS failure per connection.
    disableDefaultStun(pc);
    await pc.setLocalDescription(offer);
    await waitIceGathered(pc);
    const postSentAt = Date.now();
    const res = await fetch(url, { method: "POST", headers: { "content-type": "application/sdp", ...opts.headers }, body: pc.localDescription?.sdp ?? "" });
    const answerSdp = await res.text();
    const answerAt = Date.now();
    if (res.status !== 201) throw new WhipHttpError(res.status, answerSdp);
    const location = res.headers.get("location");
    if (!location) throw new Error("WHIP answer without Location");
    const resourceUrl = new URL(location, url).toString();
    const connected = waitConnected(pc, opts.connectTimeoutMs ?? 15_000);
    await pc.setRemoteDescription({ type: "answer", sdp: answerSdp });
    await connected;
    let closed = false;
    return {
      pc, videoTrack, audioTrack, resourceUrl, location, etag: res.headers.get("etag"), answerSdp,
      timings: { postSentAt, answerAt, connectedAt: Date.now() },
      close: async () => {
        if (closed) return;
        closed = true;
        try {
          await fetch(resourceUrl, { method: "DELETE" });
        } finally {
          await pc.close();
        }
      },
    };
  } catch (err) {
    await pc.close();
    throw err;
  }
}

function waitConnected(pc: RTCPeerConnection, timeoutMs: number): Promise<void> {
  return new Promise<void>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`not connected within ${timeoutMs} ms`)), timeoutMs);
    const sub = pc.connectionStateChange.subscribe((s) => {
      if (s === "connected") {
        clearTimeout(timer);
        sub.unSubscribe();
        resolve();
      } else if (s === "failed" || s === "closed") {
        clearTimeout(timer);
        sub.unSubscribe();
        reject(new Error(`connection ${s}`));
      }
    });
  });
}
