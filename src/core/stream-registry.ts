import { audioClockHz } from "../media/audio-clock.js";
import { OPUS_CLOCK_HZ, VIDEO_CLOCK_HZ } from "../media/types.js";
import { CapacityExceeded, Conflict } from "./errors.js";
import type { StreamBufferOptions } from "./stream-buffer.js";
import { StreamHub, type PublisherChange, type ReaderWatch, type StreamTracks } from "./stream-hub.js";
import { TrackTimeline } from "./stream-timeline.js";
import { systemTimers, type Timers } from "./timers.js";

/** Where a stream is: claimed and not connected yet, carried by a publisher, or waiting for one to come back. */
export type StreamState = "connecting" | "live" | "reconnecting";

/** Why a publisher counts as gone (each with its own timeout in the config; `connection-closed`: an RTSP publisher's TCP connection dropped without TEARDOWN). */
export type DisconnectCause = "ice-disconnected" | "ice-failed" | "dtls-closed" | "rtp-timeout" | "rtcp-timeout" | "connect-timeout" | "connection-closed" | "error";

/** Why a stream ended for good (`moved`: its publisher came back through another node of the cluster). */
export type UnpublishReason = "deleted" | "kicked" | "shutdown" | "grace-expired" | "moved";

/** How a publisher came back (the hub's PublisherChange reasons). */
export type ResumeReason = PublisherChange["reason"];

/** Live figures of a stream's publishing session, read on demand (REST, telemetry). */
export interface StreamStats {
  protocol: "whip" | "rtsp";
  /** The session carrying the stream (while reconnecting: the last one). */
  sessionId: string;
  /** Epoch ms when the publisher's session was accepted. */
  since: number;
  state: StreamState;
  /** Times a publisher came back (ICE restart, re-POST, takeover) since the stream started. */
  reconnects: number;
  /** Epoch ms when the stream entered `reconnecting` (only while it is). */
  reconnectingSince?: number;
  video?: { codec: string; width?: number; height?: number; profile?: number; level?: number; fps: number };
  audio?: { codec: string; sampleRate: number; channels: number };
  bitrateBps: number;
  packetsReceived: number;
  packetsLost: number;
  framesReceived: number;
  framesDropped: number;
  keyframeRequests: number;
  /** Datagrams the kernel dropped at the session's sockets (receive buffer full; Linux only). */
  socketDrops?: number;
}

/** A session's own figures: the registry adds the stream's state around them. */
export type SessionStats = Omit<StreamStats, "state" | "reconnects" | "reconnectingSince">;

/** What the registry needs of a publisher session. */
export interface Publisher {
  readonly id: string;
  /** Who published: same identity may resume or take the stream over; another gets 409. */
  readonly identity: string;
  stats(): SessionStats;
  /** Epoch ms of its last media packet (or of its start, before any). */
  lastMediaAt(): number;
  /** Another session of the same identity took the stream over: end without releasing it. */
  takenOver(): void;
}

/** A stream's lifecycle, as the registry sees it (the composition puts these on the event bus). */
export interface StreamLifecycle {
  type: "published" | "reconnecting" | "resumed" | "unpublished";
  stream: string;
  at: number;
  sessionId: string;
  reason?: string;
}

/** One live stream as its readers and ingest see it: its hub and timelines outlive any one publisher session. */
export interface LiveStream {
  readonly name: string;
  readonly hub: StreamHub;
  /** Stream time per track, continuous across sessions (ingest maps units through them). */
  readonly timelines: { readonly video: TrackTimeline; readonly audio: TrackTimeline };
  /** The session carrying the stream (while reconnecting: the last one). */
  readonly sessionId: string;
  /** Who publishes it (see Publisher.identity). */
  readonly identity: string;
  readonly state: StreamState;
  stats(): StreamStats;
}

/** The registry's own record of a stream: the state it alone changes. */
class StreamSlot implements LiveStream {
  readonly hub: StreamHub;
  /** Epoch ms when the stream's first session was accepted. */
  readonly since: number;
  readonly timelines: { readonly video: TrackTimeline; readonly audio: TrackTimeline };
  state: StreamState = "connecting";
  reconnects = 0;
  reconnectingSince: number | undefined;
  /** Announced to readers once (first connect); resumes do not announce again. */
  announced = false;
  /** Set while a resumed session has not connected yet: the reason to report when it does. */
  pendingResume: ResumeReason | undefined;
  /** Grace timer while reconnecting. */
  graceTimer: unknown;
  private lastStats: SessionStats;

  constructor(
    readonly name: string,
    public publisher: Publisher,
    hub: StreamHub,
    maxJumpMs: number,
  ) {
    this.hub = hub;
    // The audio timeline counts in the track's own clock (48 kHz Opus, the AAC sample rate).
    const audioHz = hub.tracks.audio ? audioClockHz(hub.tracks.audio) : OPUS_CLOCK_HZ;
    this.timelines = { video: new TrackTimeline(VIDEO_CLOCK_HZ, maxJumpMs), audio: new TrackTimeline(audioHz, maxJumpMs) };
    this.lastStats = publisher.stats();
    this.since = this.lastStats.since;
  }

  get sessionId(): string {
    return this.publisher.id;
  }

  get identity(): string {
    return this.publisher.identity;
  }

  /** Snapshot of the publisher's figures when it left, so a reconnecting stream still reports them. */
  freezeStats(): void {
    this.lastStats = this.publisher.stats();
  }

  stats(): StreamStats {
    const s = this.state === "reconnecting" ? this.lastStats : this.publisher.stats();
    return { ...s, since: this.since, state: this.state, reconnects: this.reconnects, ...(this.reconnectingSince !== undefined ? { reconnectingSince: this.reconnectingSince } : {}) };
  }
}

/**
 * A cluster-wide check before a local claim (src/cluster/): one publisher per stream over every
 * node. Resolves when this node may claim `name` for `identity`; throws Conflict when another
 * identity publishes it on any node, CapacityExceeded when the shared state cannot be reached.
 */
export interface ClaimGate {
  admit(name: string, identity: string, sessionId: string): Promise<void>;
}

type Listener = (stream: LiveStream) => void;
type LifecycleListener = (event: StreamLifecycle) => void;

export interface StreamRegistryOptions {
  maxStreams: number;
  readerQueueFrames: number;
  readerWatch?: ReaderWatch;
  /** IFC_STREAM_BUFFER_MS / IFC_STREAM_BUFFER_BYTES: each hub's GOP cache and pre-roll buffer. */
  streamBuffer?: StreamBufferOptions;
  /** IFC_RECONNECT_GRACE_MS: how long a stream whose publisher is gone waits for it (0: ends at once). */
  reconnectGraceMs?: number;
  /** IFC_RTP_MAX_JUMP_MS: the timelines' jump limit. */
  rtpMaxJumpMs?: number;
  /** Injected by tests: grace timers and the clock. */
  timers?: Timers;
}

/**
 * Which stream names are live, and who publishes each. A stream outlives its publisher
 * session: when the publisher is gone it waits `reconnectGraceMs` in `reconnecting` for the
 * same identity to come back (ICE restart, a new POST, or a takeover of a stream still live);
 * another identity gets 409. Only grace expiry, a DELETE, a kick or shutdown release the stream
 * (its hub closes, so recordings close).
 */
export class StreamRegistry {
  private readonly streams = new Map<string, StreamSlot>();
  private readonly claimedListeners: Listener[] = [];
  private readonly startedListeners: Listener[] = [];
  private readonly endedListeners: Listener[] = [];
  private readonly lifecycleListeners: LifecycleListener[] = [];
  private readonly timers: Timers;

  private gate: ClaimGate | undefined;

  constructor(private readonly opts: StreamRegistryOptions) {
    this.timers = opts.timers ?? systemTimers;
  }

  /** Installs the cluster's gate (composition); without one, admit() lets every claim through to claim()'s own checks. */
  setGate(gate: ClaimGate): void {
    this.gate = gate;
  }

  /**
   * Asks the cluster before a publisher claims `name` (ingest awaits it, then calls claim()).
   * Throws Conflict or CapacityExceeded as ClaimGate says.
   */
  async admit(name: string, identity: string, sessionId: string): Promise<void> {
    await this.gate?.admit(name, identity, sessionId);
  }

  /**
   * Reserves `name` for `publisher`. A new name gets a new stream (CapacityExceeded at the
   * publisher limit). A stream of the same identity is resumed (`reconnecting`: `re-post`) or
   * taken over (`connecting`/`live`: `takeover`, the old session is told to end); another
   * identity → Conflict. `resumed` says which, undefined for a new stream.
   */
  claim(name: string, publisher: Publisher, tracks: StreamTracks): { stream: LiveStream; resumed?: ResumeReason };
  /** A stream for a publisher outside ingest (tests, tools): its own identity, so it never resumes. */
  claim(name: string, sessionId: string, tracks: StreamTracks, stats: () => SessionStats): LiveStream;
  claim(name: string, who: Publisher | string, tracks: StreamTracks, stats?: () => SessionStats): { stream: LiveStream; resumed?: ResumeReason } | LiveStream {
    if (typeof who === "string") {
      const readStats = stats ?? ((): SessionStats => { throw new Error("claim: stats needed"); });
      const since = this.timers.now();
      return this.claimFor(name, { id: who, identity: `session:${who}`, stats: readStats, lastMediaAt: () => since, takenOver: () => undefined }, tracks).stream;
    }
    return this.claimFor(name, who, tracks);
  }

  private claimFor(name: string, publisher: Publisher, tracks: StreamTracks): { stream: LiveStream; resumed?: ResumeReason } {
    const existing = this.streams.get(name);
    if (existing) {
      if (existing.identity !== publisher.identity) throw new Conflict("stream-busy", `stream "${name}" already has a live publisher`, { stream: name });
      return { stream: existing, resumed: this.handOver(existing, publisher) };
    }
    if (this.streams.size >= this.opts.maxStreams) {
      throw new CapacityExceeded("too-many-publishers", `the server already has ${this.streams.size} live publishers (IFC_MAX_PUBLISHERS)`, 5, { limit: this.opts.maxStreams });
    }
    const hub = new StreamHub(name, tracks, this.opts.readerQueueFrames, this.opts.readerWatch, this.opts.streamBuffer);
    const stream = new StreamSlot(name, publisher, hub, this.opts.rtpMaxJumpMs ?? 2000);
    this.streams.set(name, stream);
    for (const l of this.claimedListeners) l(stream);
    return { stream };
  }

  private handOver(stream: StreamSlot, next: Publisher): ResumeReason {
    const previous = stream.publisher;
    const reason: ResumeReason = stream.state === "reconnecting" ? "re-post" : "takeover";
    this.cancelGrace(stream);
    const lastMediaAt = previous.lastMediaAt();
    if (stream.state !== "reconnecting") stream.freezeStats();
    stream.publisher = next;
    // Until the new session connects the stream waits for it, as after a disconnect.
    if (stream.announced) {
      if (stream.state !== "reconnecting") this.enterReconnecting(stream, "taken-over");
      stream.pendingResume = reason;
    }
    stream.timelines.video.newSession();
    stream.timelines.audio.newSession();
    // The previous session ends whether it looked live or was waiting (silent, ICE disconnected).
    previous.takenOver();
    stream.hub.publisherChanged({ sessionId: next.id, reason, lastMediaAt });
    return reason;
  }

  /** Announces a claimed stream to readers once media can flow (`connected` of its publisher). */
  announce(stream: LiveStream): void {
    this.connected(stream, stream.sessionId);
  }

  /** The publisher connected: the first time the stream is announced to readers, later it resumes. */
  connected(live: LiveStream, sessionId: string): void {
    const stream = this.slotOf(live, sessionId);
    if (!stream) return;
    if (!stream.announced) {
      stream.announced = true;
      stream.state = "live";
      for (const l of this.startedListeners) l(stream);
      this.emit(stream, "published");
      return;
    }
    this.resumed(stream, sessionId, stream.pendingResume ?? "ice-restart");
  }

  /** The same session is back (its ICE recovered or was restarted), or a new one connected. */
  resumed(live: LiveStream, sessionId: string, reason: ResumeReason | "ice-recovered"): void {
    const stream = this.slotOf(live, sessionId);
    if (stream?.state !== "reconnecting") return;
    this.cancelGrace(stream);
    stream.state = "live";
    stream.reconnectingSince = undefined;
    stream.pendingResume = undefined;
    stream.reconnects++;
    this.emit(stream, "resumed", reason);
  }

  /** The publisher's link is in doubt (ICE `disconnected`) but its session lives on: shown as `reconnecting`, no grace yet. */
  interrupted(live: LiveStream, sessionId: string, cause: DisconnectCause): void {
    const stream = this.slotOf(live, sessionId);
    if (stream?.state !== "live") return;
    this.enterReconnecting(stream, cause);
  }

  /**
   * The session ended. A publisher gone for a disconnect cause leaves the stream in
   * `reconnecting` for the grace period (unless it never went live); a deliberate end
   * releases it. A session that was taken over ends without effect.
   */
  sessionEnded(live: LiveStream, sessionId: string, reason: DisconnectCause | UnpublishReason): void {
    const stream = this.slotOf(live, sessionId);
    if (!stream) return;
    const grace = this.opts.reconnectGraceMs ?? 0;
    // Deliberate ends, streams that never went live and a zero grace end at once (with the cause).
    if (!isDisconnect(reason) || !stream.announced || grace === 0) {
      this.release(stream, reason);
      return;
    }
    if (stream.state !== "reconnecting") this.enterReconnecting(stream, reason);
    stream.pendingResume = undefined;
    this.startGrace(stream, grace);
  }

  /**
   * The publisher counts as gone (RTP or RTCP silence, ICE `disconnected` past its limit) but its
   * session lives on: the stream waits in `reconnecting` for the grace period, for an ICE restart
   * on that session, its media coming back (`resumed`) or a new POST. A zero grace, or a stream
   * that never went live, ends at once (the session ends with its hub).
   */
  lost(live: LiveStream, sessionId: string, cause: DisconnectCause): void {
    const stream = this.slotOf(live, sessionId);
    if (!stream) return;
    const grace = this.opts.reconnectGraceMs ?? 0;
    if (!stream.announced || grace === 0) {
      this.release(stream, cause);
      return;
    }
    if (stream.state !== "reconnecting") this.enterReconnecting(stream, cause);
    this.startGrace(stream, grace);
  }

  /** A grace period already running (the session was lost, then ended) keeps its deadline. */
  private startGrace(stream: StreamSlot, grace: number): void {
    if (stream.graceTimer !== undefined) return;
    stream.graceTimer = this.timers.setTimeout(() => {
      stream.graceTimer = undefined;
      this.release(stream, "grace-expired");
    }, grace);
  }

  /** Ends the stream for good: its hub closes (readers finish, recordings close). */
  release(live: LiveStream, reason: UnpublishReason | DisconnectCause = "deleted"): void {
    const stream = this.streams.get(live.name);
    if (stream !== live || !stream) return;
    this.cancelGrace(stream);
    this.streams.delete(stream.name);
    stream.hub.close();
    for (const l of this.endedListeners) l(stream);
    if (stream.announced) this.emit(stream, "unpublished", reason);
  }

  get(name: string): LiveStream | undefined {
    return this.streams.get(name);
  }

  list(): LiveStream[] {
    return [...this.streams.values()];
  }

  /** A new stream was claimed (before its publisher connects); onEnded follows for every one. */
  onClaimed(l: Listener): void {
    this.claimedListeners.push(l);
  }

  onStarted(l: Listener): void {
    this.startedListeners.push(l);
  }

  onEnded(l: Listener): void {
    this.endedListeners.push(l);
  }

  /** published / reconnecting / resumed / unpublished, in order per stream. */
  onLifecycle(l: LifecycleListener): void {
    this.lifecycleListeners.push(l);
  }

  /** The registry's record of `live` while `sessionId` carries it; undefined for a released stream or a superseded session. */
  private slotOf(live: LiveStream, sessionId: string): StreamSlot | undefined {
    const stream = this.streams.get(live.name);
    return stream === live && stream.sessionId === sessionId ? stream : undefined;
  }

  private enterReconnecting(stream: StreamSlot, cause: DisconnectCause | "taken-over"): void {
    stream.freezeStats();
    stream.state = "reconnecting";
    stream.reconnectingSince = this.timers.now();
    this.emit(stream, "reconnecting", cause);
  }

  private cancelGrace(stream: StreamSlot): void {
    if (stream.graceTimer !== undefined) this.timers.clearTimeout(stream.graceTimer);
    stream.graceTimer = undefined;
  }

  private emit(stream: StreamSlot, type: StreamLifecycle["type"], reason?: string): void {
    const event: StreamLifecycle = { type, stream: stream.name, at: this.timers.now(), sessionId: stream.sessionId, ...(reason !== undefined ? { reason } : {}) };
    for (const l of this.lifecycleListeners) l(event);
  }
}

const DISCONNECTS: ReadonlySet<string> = new Set<DisconnectCause>(["ice-disconnected", "ice-failed", "dtls-closed", "rtp-timeout", "rtcp-timeout", "connect-timeout", "connection-closed", "error"]);

function isDisconnect(reason: string): reason is DisconnectCause {
  return DISCONNECTS.has(reason);
}
