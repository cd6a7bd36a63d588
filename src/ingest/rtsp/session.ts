import { randomBytes } from "node:crypto";
import type { RemoteInfo } from "node:dgram";
import type { Logger } from "pino";
import type { LiveStream } from "../../core/stream-registry.js";
import { interleavedFrame } from "./message.js";
import type { PublishEndReason, RtspPublisher } from "./publish-session.js";
import type { RtspReader, RtspReadTransport } from "./read-session.js";
import type { DescribeTrack, RtspSdpTrack } from "./sdp.js";
import { fromAddress, type UdpPair } from "./udp-ports.js";

/**
 * RFC 2326 §A.1's server state machine, in gortsplib's words: `initial` → (ANNOUNCE)
 * `announced` → (SETUP) `ready` → (RECORD) `record` for a publisher; `initial` → (SETUP)
 * `ready` → (PLAY) `play` (PAUSE back to `ready`) for a reader. TEARDOWN ends either.
 */
export type RtspSessionState = "initial" | "announced" | "ready" | "record" | "play";

/** The RTSP connection as a session's TCP transport sees it. */
export interface TcpLink {
  write(data: Buffer): void;
  readonly writableLength: number;
  readonly closed: boolean;
}

export type TrackTransport =
  | { lower: "tcp"; channels: [number, number]; link: TcpLink }
  | { lower: "udp"; pair: UdpPair; clientAddress: string; clientPorts: [number, number] };

/** Why a session ended, as logged. */
export type SessionEndReason = PublishEndReason | "teardown" | "timeout" | "stream-ended" | "shutdown";

export interface SessionCounters {
  /** Packets from an unexpected address on a session's UDP ports. */
  udpForeign: number;
  /** Packets received before RECORD (or on a reader's RTP port). */
  early: number;
}

/**
 * One RTSP session: its state, the tracks it set up and each one's transport. A publishing
 * session feeds its RtspPublisher; a reading one drives its RtspReader through the transports.
 * Media paths (`onTcpFrame`, the UDP sockets' handlers) are synchronous.
 */
export class RtspSession {
  /** RFC 2326 §3.4: at least 8 octets, unguessable (it is the only handle on a session). */
  readonly id = randomBytes(12).toString("hex");
  state: RtspSessionState = "initial";
  mode: "publish" | "read" | undefined;
  /** The stream this session publishes or reads. */
  streamName = "";
  /** Publish: the ANNOUNCEd tracks and each one's control path (for matching SETUP URLs). */
  announced: { tracks: RtspSdpTrack[]; paths: string[] } | undefined;
  publisher: RtspPublisher | undefined;
  /** Read: the live stream and what DESCRIBE offered. */
  readStream: LiveStream | undefined;
  describeTracks: DescribeTrack[] = [];
  reader: RtspReader | undefined;
  readonly transports = new Map<number, TrackTransport>();
  /** Epoch ms of the last request naming this session, or of media / RTCP from its client. */
  lastActivity = Date.now();
  readonly counters: SessionCounters = { udpForeign: 0, early: 0 };
  private ended = false;
  private endListeners: ((reason: SessionEndReason) => void)[] = [];

  constructor(
    /** The address of the client that made the session (UDP packets must come from it). */
    readonly clientAddress: string,
    /** The connection that made it: a TCP-interleaved session lives and dies with it. */
    readonly owner: TcpLink,
    private readonly log: Logger,
  ) {}

  get isEnded(): boolean {
    return this.ended;
  }

  /** True when any track is carried on the RTSP connection (the session then ends with it). */
  get usesTcp(): boolean {
    for (const t of this.transports.values()) if (t.lower === "tcp") return true;
    return false;
  }

  /** The server's UDP ports of this session (kernel drop counts). */
  udpPorts(): number[] {
    const ports: number[] = [];
    for (const t of this.transports.values()) if (t.lower === "udp") ports.push(t.pair.rtpPort, t.pair.rtcpPort);
    return ports;
  }

  /** Channels this session uses on its connection, to refuse a clash with another session there. */
  channels(): number[] {
    const out: number[] = [];
    for (const t of this.transports.values()) if (t.lower === "tcp") out.push(...t.channels);
    return out;
  }

  /** Epoch ms the session last showed life: a request, or its publisher's media. */
  lastAlive(): number {
    const media = this.publisher?.ingest.lastMediaAt ?? 0;
    return Math.max(this.lastActivity, media);
  }

  /** Wires a UDP pair's sockets to this session: datagrams only from the client's address. */
  listenUdp(index: number, pair: UdpPair): void {
    pair.rtp.on("message", (msg: Buffer, rinfo: RemoteInfo) => this.onUdp(index, false, msg, rinfo));
    pair.rtcp.on("message", (msg: Buffer, rinfo: RemoteInfo) => this.onUdp(index, true, msg, rinfo));
  }

  private onUdp(index: number, rtcp: boolean, msg: Buffer, rinfo: RemoteInfo): void {
    if (!fromAddress(rinfo, this.clientAddress)) {
      this.counters.udpForeign++;
      return;
    }
    try {
      this.onMedia(index, rtcp, msg);
    } catch (err) {
      // A bug on one session's media path ends that session, never the process.
      this.log.error({ err, session: this.id }, "rtsp media handling failed: ending the session");
      this.end("error");
    }
  }

  /** One interleaved frame for this session (the connection mapped its channel). `payload` is the session's to keep. */
  onTcpFrame(index: number, rtcp: boolean, payload: Buffer): void {
    this.onMedia(index, rtcp, payload);
  }

  private onMedia(index: number, rtcp: boolean, packet: Buffer): void {
    const now = Date.now();
    if (this.mode === "read") {
      // A reader's receiver reports: it is alive.
      if (rtcp) this.lastActivity = now;
      else this.counters.early++;
      return;
    }
    const publisher = this.publisher;
    if (this.state !== "record" || !publisher) {
      this.counters.early++;
      return;
    }
    if (rtcp) {
      this.lastActivity = now;
      publisher.ingest.pushRtcp(index, packet, now);
    } else publisher.ingest.pushRtp(index, packet, now);
  }

  /** The reader's transport: each set-up track's packets to its channel pair or client ports. */
  readTransport(writeBufferBytes: number): RtspReadTransport {
    const transports = this.transports;
    return {
      sendRtp: (index, packet) => {
        const t = transports.get(index);
        if (!t) return true;
        if (t.lower === "tcp") {
          if (t.link.closed) return false;
          // A slow TCP reader: refuse (the reader drops and counts) rather than queue without bound.
          if (t.link.writableLength > writeBufferBytes) return false;
          t.link.write(interleavedFrame(t.channels[0], packet));
          return true;
        }
        t.pair.rtp.send(packet, t.clientPorts[0], t.clientAddress);
        return true;
      },
      sendRtcp: (index, packet) => {
        const t = transports.get(index);
        if (!t) return;
        if (t.lower === "tcp") {
          if (!t.link.closed && t.link.writableLength <= writeBufferBytes) t.link.write(interleavedFrame(t.channels[1], packet));
          return;
        }
        t.pair.rtcp.send(packet, t.clientPorts[1], t.clientAddress);
      },
    };
  }

  onEnd(fn: (reason: SessionEndReason) => void): void {
    this.endListeners.push(fn);
  }

  /** Ends the session: its reader stops, its publisher ends (the registry decides about the stream), its UDP ports close. */
  end(reason: SessionEndReason): void {
    if (this.ended) return;
    this.ended = true;
    this.reader?.stop();
    this.reader = undefined;
    const publisherReason: PublishEndReason =
      reason === "teardown" ? "deleted" : reason === "timeout" ? "rtp-timeout" : reason === "stream-ended" ? "deleted" : reason;
    this.publisher?.end(publisherReason);
    for (const t of this.transports.values()) if (t.lower === "udp") t.pair.close();
    this.log.info({ session: this.id, reason, state: this.state, ...this.counters }, "rtsp session ended");
    for (const l of this.endListeners) l(reason);
  }
}
