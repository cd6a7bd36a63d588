import type { Logger } from "pino";
import type { AdmissionGate } from "../../core/admission.js";
import { assertStreamName } from "../../core/stream-name.js";
import type { StreamHub } from "../../core/stream-hub.js";
import type { LiveStream, StreamRegistry } from "../../core/stream-registry.js";
import { NotFoundError, ServiceUnavailableError } from "../../errors.js";
import { RtcSessions, type RtcSessionEntry } from "../../rtc/rtc-sessions.js";
import { iceRemoteOf, type SdpFrag } from "../../rtc/sdp-frag.js";
import { parseOffer } from "../../rtc/sdp-offer.js";
import { StreamFanout } from "./stream-fanout.js";
import { selectViewerCodecs } from "./viewer-offer.js";
import type { CatchUp, WhepJoin } from "./viewer-forwarder.js";
import type { RtcPortBudget } from "../../rtc/port-budget.js";
// Types only: the session module carries werift (~33 MiB resident), loaded at the first viewer.
import type { WhepSession, WhepSessionOptions } from "./whep-session.js";

/** Loads the session class (and werift with it) once; the composition installs werift's replacements first. */
export type WhepSessionLoader = () => Promise<typeof WhepSession>;

export interface WhepEgressOptions extends WhepSessionOptions {
  maxViewersPerStream: number;
  maxViewers: number;
  /** Floor of each stream's video packet ring (NACK cache, slow viewers' slack): IFC_WHEP_PACKET_CACHE_PACKETS. */
  packetCachePackets: number;
  /** The ring's span and byte cap (IFC_STREAM_BUFFER_MS, IFC_STREAM_BUFFER_BYTES): the GOP cache. */
  streamBufferMs: number;
  streamBufferBytes: number;
  /** IFC_WHEP_STRICT_PROFILE: refuse viewers without the stream's exact H.264 profile (406). */
  strictProfile: boolean;
}

/** `remote.offerSdp` is the offer werift answered (pinned), for ICE restarts. */
interface SessionEntry extends RtcSessionEntry<WhepSession> {
  firstFrameTaken: boolean;
  /** Gives the session's ICE ports back to the budget WHIP shares. */
  releasePorts: () => void;
}

/** Totals kept past the sessions that made them, for metrics. */
export interface WhepTotals {
  sessions: number;
  rejected: Record<string, number>;
  packetsSent: number;
  packetsDropped: number;
  nackedPackets: number;
  retransmitted: number;
  retransmitMisses: number;
  /** NACKs of a packet resent less than 30 ms before (werift asks every 5 ms). */
  retransmitsSuppressed: number;
  /** Viewers started from the GOP cache (IFC_WHEP_JOIN=cached-gop). */
  cachedJoins: number;
  /** Publisher changes viewers were carried across. */
  publisherChanges: number;
  keyframeRequestsSent: number;
  keyframeRequestsCoalesced: number;
}

/** Seconds a refused viewer is told to wait: viewers come and go in about that time. */
const RETRY_AFTER_S = 5;

/** The WHEP viewers of this server: admission (limits), sessions, and one fan-out per watched stream. */
export class WhepEgress {
  private readonly sessions = new RtcSessions<WhepSession, SessionEntry>("WHEP");
  private readonly fanouts = new Map<LiveStream, StreamFanout>();
  private accepting = true;
  readonly totals: WhepTotals = {
    sessions: 0, rejected: {}, packetsSent: 0, packetsDropped: 0, nackedPackets: 0, retransmitted: 0, retransmitMisses: 0,
    retransmitsSuppressed: 0, cachedJoins: 0, publisherChanges: 0, keyframeRequestsSent: 0, keyframeRequestsCoalesced: 0,
  };
  private readonly watchedHubs = new WeakSet<StreamHub>();
  /**
   * How viewers join (IFC_WHEP_JOIN) and how a cached-GOP join sends the GOP. Settable so that
   * a bench compares them in one run (bench/whep-ttff.ts); a session takes them at its POST.
   */
  join: WhepJoin;
  catchUp: CatchUp = "fast-forward";
  /** POST → first keyframe sent (ms) of sessions that ended before metrics took it. */
  private pendingFirstFrameMs: number[] = [];

  constructor(
    private readonly registry: StreamRegistry,
    private readonly opts: WhepEgressOptions,
    /** Shared with WHIP: publishers and viewers take ports of one ICE range. */
    private readonly ports: RtcPortBudget,
    private readonly log: Logger,
    private readonly loadSession: WhepSessionLoader,
    /** IFC_MAX_CPU_PERCENT: new viewers wait while the server has no CPU headroom (viewers go before recordings). */
    private readonly admission?: AdmissionGate,
  ) {
    this.join = opts.join;
    // The GOP cache must be filling before the first viewer comes: with cached-gop every live
    // stream is tapped from its start (an array store per packet, and up to the stream buffer's
    // bytes held), not only while watched.
    if (opts.join === "cached-gop") registry.onStarted((s) => {
      if (!s.hub.isClosed && this.accepting) this.fanoutOf(s);
    });
  }

  /** Validates the offer against the live stream, admits the viewer and answers. */
  async watch(streamName: string, offerSdp: string): Promise<{ session: WhepSession; answer: string }> {
    assertStreamName(streamName);
    // Before the checks of state below (stream live, limits): they must hold after this await.
    const Session = await this.loadSession();
    if (!this.accepting) throw this.reject("shutting-down", new ServiceUnavailableError("server is shutting down", RETRY_AFTER_S, "shutting-down"));
    const media = parseOffer(offerSdp);
    const stream = this.registry.get(streamName);
    // Claimed but not connected yet is not watchable either: nothing would come.
    if (!stream || stream.hub.isClosed || stream.stats().state === "connecting") {
      throw this.reject("stream-not-found", new NotFoundError(`stream "${streamName}" is not live`, "stream-not-found"));
    }
    const codecs = selectViewerCodecs(media, stream.hub.tracks, { strictProfile: this.opts.strictProfile });
    try {
      this.admission?.admit("whep");
    } catch (err) {
      throw this.reject("cpu-saturated", err as Error);
    }
    if (this.sessions.size >= this.opts.maxViewers) {
      throw this.reject("server-full", new ServiceUnavailableError(`the server already has ${this.sessions.size} WHEP viewers (IFC_WHEP_MAX_VIEWERS)`, RETRY_AFTER_S, "too-many-viewers"));
    }
    if (stream.hub.viewerCount >= this.opts.maxViewersPerStream) {
      throw this.reject("stream-full", new ServiceUnavailableError(`stream "${streamName}" already has ${stream.hub.viewerCount} WHEP viewers (IFC_WHEP_MAX_VIEWERS_PER_STREAM)`, RETRY_AFTER_S, "too-many-stream-viewers"));
    }
    const releasePorts = this.ports.tryClaim();
    if (!releasePorts) {
      throw this.reject("rtc-ports", new ServiceUnavailableError(`the ICE port range IFC_RTC_PORT_MIN..IFC_RTC_PORT_MAX holds ${this.ports.capacity} WebRTC sessions (publishers and viewers) and all are in use`, RETRY_AFTER_S, "rtc-ports-exhausted"));
    }
    const fanout = this.fanoutOf(stream);
    const session = new Session(stream, fanout, codecs, { ...this.opts, join: this.join, catchUp: this.catchUp }, this.log.child({ stream: streamName }));
    const entry: SessionEntry = { session, remote: { ...iceRemoteOf(offerSdp), offerSdp: session.pinnedOffer(offerSdp) }, firstFrameTaken: false, releasePorts };
    // Counted from the POST, so concurrent POSTs cannot overshoot the limits.
    this.sessions.set(session.id, entry);
    stream.hub.viewerCount++;
    this.totals.sessions++;
    session.onEnd(() => this.forget(entry));
    const answer = await session.start(offerSdp);
    return { session, answer };
  }

  private reject(reason: string, err: Error): Error {
    this.totals.rejected[reason] = (this.totals.rejected[reason] ?? 0) + 1;
    return err;
  }

  private fanoutOf(stream: LiveStream): StreamFanout {
    let fanout = this.fanouts.get(stream);
    if (!fanout) {
      const created = new StreamFanout(stream.hub, { minPackets: this.opts.packetCachePackets, bufferMs: this.opts.streamBufferMs, bufferBytes: this.opts.streamBufferBytes });
      fanout = created;
      this.fanouts.set(stream, created);
      if (!this.watchedHubs.has(stream.hub)) {
        this.watchedHubs.add(stream.hub);
        stream.hub.onClose(() => {
          for (const e of [...this.sessions.values()]) if (e.session.stream === stream) void e.session.end("stream-ended");
          this.dropFanout(stream);
        });
      }
    }
    return fanout;
  }

  private dropFanout(stream: LiveStream): void {
    const fanout = this.fanouts.get(stream);
    if (!fanout) return;
    this.totals.keyframeRequestsSent += fanout.keyframeRequests.sent;
    this.totals.keyframeRequestsCoalesced += fanout.keyframeRequests.coalesced;
    fanout.close();
    this.fanouts.delete(stream);
  }

  private forget(entry: SessionEntry): void {
    const { session } = entry;
    entry.releasePorts();
    if (this.sessions.get(session.id) !== entry) return;
    this.sessions.delete(session.id);
    const ttff = session.timeToFirstFrameMs;
    if (!entry.firstFrameTaken && ttff !== undefined) this.pendingFirstFrameMs.push(ttff);
    const hub = session.stream.hub;
    hub.viewerCount = Math.max(0, hub.viewerCount - 1);
    const s = session.stats;
    if (s) {
      this.totals.packetsSent += s.packetsSent;
      this.totals.packetsDropped += s.packetsDropped;
      this.totals.nackedPackets += s.nackedPackets;
      this.totals.retransmitted += s.retransmitted;
      this.totals.retransmitMisses += s.retransmitMisses;
      this.totals.retransmitsSuppressed += s.retransmitsSuppressed;
      this.totals.cachedJoins += s.cachedJoins;
      this.totals.publisherChanges += s.publisherChanges;
    }
    // The stream's packets are no longer needed when nobody watches (unless they are the GOP cache): stop tapping them.
    if (hub.viewerCount === 0 && this.opts.join !== "cached-gop") this.dropFanout(session.stream);
  }

  get(streamName: string, sessionId: string): WhepSession {
    return this.sessions.sessionAt(streamName, sessionId);
  }

  /** Trickle ICE, or an ICE restart when the viewer sent new credentials (returns our answer fragment's SDP). */
  async patch(streamName: string, sessionId: string, frag: SdpFrag): Promise<string | undefined> {
    return this.sessions.patch(streamName, sessionId, frag);
  }

  async delete(streamName: string, sessionId: string): Promise<void> {
    await this.sessions.endAt(streamName, sessionId);
  }

  get count(): number {
    return this.sessions.size;
  }

  /** Live figures plus totals of ended sessions, for metrics. */
  snapshot(): WhepTotals & { viewersByStream: Map<string, number> } {
    const t = { ...this.totals, rejected: { ...this.totals.rejected }, viewersByStream: new Map<string, number>() };
    for (const { session } of this.sessions.values()) {
      t.viewersByStream.set(session.streamName, (t.viewersByStream.get(session.streamName) ?? 0) + 1);
      const s = session.stats;
      if (!s) continue;
      t.packetsSent += s.packetsSent;
      t.packetsDropped += s.packetsDropped;
      t.nackedPackets += s.nackedPackets;
      t.retransmitted += s.retransmitted;
      t.retransmitMisses += s.retransmitMisses;
      t.retransmitsSuppressed += s.retransmitsSuppressed;
      t.cachedJoins += s.cachedJoins;
      t.publisherChanges += s.publisherChanges;
    }
    for (const f of this.fanouts.values()) {
      t.keyframeRequestsSent += f.keyframeRequests.sent;
      t.keyframeRequestsCoalesced += f.keyframeRequests.coalesced;
    }
    return t;
  }

  /** Times to first frame (ms) not taken yet, each given once. */
  takeFirstFrameMs(): number[] {
    const out = this.pendingFirstFrameMs;
    this.pendingFirstFrameMs = [];
    for (const e of this.sessions.values()) {
      const ttff = e.session.timeToFirstFrameMs;
      if (!e.firstFrameTaken && ttff !== undefined) {
        e.firstFrameTaken = true;
        out.push(ttff);
      }
    }
    return out;
  }

  /** Ends every viewer and refuses new ones. */
  async shutdown(): Promise<void> {
    this.accepting = false;
    await this.sessions.endAll("shutdown");
  }
}
