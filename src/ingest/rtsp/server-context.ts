import type { AdmissionGate } from "../../core/admission.js";
import type { StreamRegistry } from "../../core/stream-registry.js";
import type { RtpTracksIngestOptions } from "../rtp-track-ingest.js";
import type { RtspAuthorizer } from "./authorizer.js";
import type { RtspConnection } from "./connection.js";
import type { RtspReaderOptions } from "./read-session.js";
import type { RtspSession } from "./session.js";
import type { UdpPortPool } from "./udp-ports.js";

/** The RTSP server's settings (IFC_RTSP_* and the shared media keys). */
export interface RtspServerOptions {
  host: string;
  port: number;
  /** IFC_RTSP_MAX_CONNECTIONS: more get 503 and are closed. */
  maxConnections: number;
  /** IFC_RTSP_SESSION_TIMEOUT_MS: no request and no media this long ends a session. */
  sessionTimeoutMs: number;
  /** IFC_RTP_SILENCE_TIMEOUT_MS: a recording publisher sending no RTP this long is gone (as over WHIP), keep-alives or not. */
  rtpSilenceTimeoutMs: number;
  maxHeaderBytes: number;
  maxBodyBytes: number;
  /** IFC_RTSP_WRITE_BUFFER_BYTES: a TCP reader's backlog beyond which its frames are dropped. */
  writeBufferBytes: number;
  ingest: RtpTracksIngestOptions;
  reader: RtspReaderOptions;
  /** The Basic challenge's realm. */
  realm: string;
  /** Starts an on-demand pulled source for a stream a reader asks for, resolving once it is live or known down. */
  demand?: (stream: string) => Promise<void>;
  /** In a cluster: the rtsp:// base of the node that owns `stream` when it is not this one (readers are redirected there). */
  ownerElsewhere?: (stream: string) => Promise<string | undefined>;
  /** IFC_MAX_CPU_PERCENT: a new publisher's ANNOUNCE waits (503) while the server has no CPU headroom. */
  admission?: AdmissionGate;
}

/** Bad input counted across connections (each one also keeps its own). */
export interface RtspInputCounters {
  /** Interleaved frames on a channel no session of their connection set up. */
  unknownChannelFrames: number;
  /** Empty interleaved frames. */
  badFrames: number;
  /** Requests answered with 4xx/5xx, and unreadable input. */
  refusedRequests: number;
}

/** What a connection needs of its server: the routing tables and the shared parts. */
export interface RtspServerContext {
  readonly opts: RtspServerOptions;
  readonly registry: StreamRegistry;
  readonly authorizer: RtspAuthorizer;
  readonly udp: UdpPortPool;
  readonly sessions: ReadonlyMap<string, RtspSession>;
  readonly input: RtspInputCounters;
  addSession(session: RtspSession): void;
  connectionClosed(conn: RtspConnection): void;
}
