import type { Logger } from "pino";
import type { DisconnectCause, LiveStream, Publisher, ResumeReason, SessionStats, StreamRegistry, UnpublishReason } from "../../core/stream-registry.js";
import { readUdpDrops } from "../../rtc/socket-buffer.js";
import type { RtpTracksIngest } from "../rtp-track-ingest.js";

/** Why an RTSP publisher's session ended: TEARDOWN (`deleted`), a disconnect cause, the server's stop, a kick, or a takeover. */
export type PublishEndReason = DisconnectCause | UnpublishReason | "taken-over";

/**
 * One RTSP publisher as the registry sees it (WhipSession's counterpart): it claims the stream
 * at ANNOUNCE, connects it at RECORD and ends it as WHIP does: TEARDOWN is a deliberate end
 * (WHIP's DELETE), a dropped connection or silence past the session timeout a disconnect (the
 * stream waits in `reconnecting` for IFC_RECONNECT_GRACE_MS), and the same identity announcing
 * again resumes or takes over.
 */
export class RtspPublisher implements Publisher {
  readonly createdAt = Date.now();
  private stream: LiveStream | undefined;
  private unwatchHub: (() => void) | undefined;
  private ended = false;
  private endListeners: ((reason: PublishEndReason) => void)[] = [];

  constructor(
    /** The RTSP session id (the registry's session id too). */
    readonly id: string,
    readonly streamName: string,
    readonly identity: string,
    readonly ingest: RtpTracksIngest,
    private readonly registry: StreamRegistry,
    private readonly log: Logger,
    /** The server's UDP ports of this session (for kernel drop counts); none over TCP. */
    private readonly udpPorts: () => readonly number[],
  ) {}

  /**
   * Claims the stream name; throws Conflict (another identity publishes it) or CapacityExceeded.
   * Returns how it resumed a stream of the same identity, undefined for a new stream.
   */
  claim(): ResumeReason | undefined {
    const claimed = this.registry.claim(this.streamName, this, this.ingest.streamTracks);
    this.stream = claimed.stream;
    // The stream ended while this session waited (grace expired, kick): end too.
    this.unwatchHub = claimed.stream.hub.onClose(() => this.end("deleted"));
    if (claimed.resumed) this.log.info({ reason: claimed.resumed }, "publisher resumes the stream");
    return claimed.resumed;
  }

  /** RECORD: media flows from now on; the stream is announced (or resumed). */
  record(): void {
    const stream = this.stream;
    if (!stream || this.ended) return;
    this.ingest.attach(stream);
    this.registry.connected(stream, this.id);
    this.log.info("publisher recording");
  }

  get isEnded(): boolean {
    return this.ended;
  }

  onEnd(fn: (reason: PublishEndReason) => void): void {
    this.endListeners.push(fn);
  }

  lastMediaAt(): number {
    return this.ingest.lastMediaAt || this.createdAt;
  }

  takenOver(): void {
    this.end("taken-over");
  }

  /** Ends the session; the registry decides about the stream (see WhipSession.end). */
  end(reason: PublishEndReason): void {
    if (this.ended) return;
    this.ended = true;
    this.unwatchHub?.();
    this.ingest.detach();
    const s = this.ingest.stats();
    this.log.info({ reason, packets: s.packetsReceived, lost: s.packetsLost, frames: s.framesReceived }, "publisher session ended");
    const stream = this.stream;
    this.stream = undefined;
    if (stream && reason !== "taken-over") this.registry.sessionEnded(stream, this.id, reason);
    for (const l of this.endListeners) l(reason);
  }

  stats(): SessionStats {
    const drops = this.socketDrops();
    return {
      protocol: "rtsp",
      sessionId: this.id,
      since: this.createdAt,
      ...this.ingest.stats(),
      ...(drops !== undefined ? { socketDrops: drops } : {}),
    };
  }

  private dropsReadAt = -Infinity;
  private dropsSeen: number | undefined;
  /** Kernel drops at this session's UDP sockets, read at most once a second (stats are polled). */
  private socketDrops(): number | undefined {
    const ports = this.udpPorts();
    if (ports.length === 0) return undefined;
    const now = Date.now();
    if (now - this.dropsReadAt >= 1000) {
      this.dropsReadAt = now;
      const table = readUdpDrops();
      if (table) {
        let sum = 0;
        for (const p of ports) sum += table.get(p) ?? 0;
        this.dropsSeen = sum;
      }
    }
    return this.dropsSeen;
  }
}
