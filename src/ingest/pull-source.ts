/**
 * A camera that only serves, pulled over RTSP and published as a stream: each connection is a
 * publisher session (identity `source:<id>`), so when the camera drops the stream waits in
 * `reconnecting` (IFC_RECONNECT_GRACE_MS) and the next connection resumes it: one recording,
 * with a gap. Failed connections are retried with exponential backoff and ±25 % jitter.
 */
import type { Logger } from "pino";
import { randomUUID } from "node:crypto";
import { DomainError } from "../core/errors.js";
import type { DisconnectCause, LiveStream, Publisher, SessionStats, StreamRegistry, UnpublishReason } from "../core/stream-registry.js";
import { systemTimers, type Timers } from "../core/timers.js";
import { retryDelay } from "./retry-backoff.js";
import { RtpTracksIngest, type RtpTrackSpec, type RtpTracksIngestOptions } from "./rtp-track-ingest.js";
import { RtspClient, RtspClientError, type ClientTransport, type RtspClientErrorKind } from "./rtsp/client.js";
import type { RtspSdpTrack } from "./rtsp/sdp.js";
import type { RtspWireLimits } from "./rtsp/wire-reader.js";

export type PullSourceState = "idle" | "connecting" | "live" | "retrying";

export interface PullSourceSpec {
  id: string;
  /** The stream it publishes. */
  name: string;
  /** `rtsp://[user:pass@]host[:port]/path`. */
  url: string;
  transport: ClientTransport;
}

/** What every pulled source shares (the config's IFC_SOURCE_* and IFC_RTSP_* keys). */
export interface PullSourceSettings {
  /** IFC_SOURCE_CONNECT_TIMEOUT_MS: TCP connect and each RTSP answer. */
  connectTimeoutMs: number;
  /** IFC_SOURCE_RETRY_MIN_MS / IFC_SOURCE_RETRY_MAX_MS. */
  retryMinMs: number;
  retryMaxMs: number;
  /** IFC_RTP_SILENCE_TIMEOUT_MS: a playing camera that sends nothing this long counts as gone. */
  rtpSilenceTimeoutMs: number;
  limits: RtspWireLimits;
  udpRecvBufferBytes: number;
  ingest: RtpTracksIngestOptions;
}

export interface PullSourceStatus {
  state: PullSourceState;
  /** Failed connections since it was last live (0 while live). */
  retries: number;
  /** Times it came back live after a drop. */
  reconnects: number;
  /** Why the last connection failed or ended. */
  lastError?: { kind: RtspClientErrorKind | DomainError["kind"] | "silence" | "stream-ended"; message: string; at: number };
  /** Epoch ms of the next try (while retrying). */
  nextRetryAt?: number;
  /** Epoch ms: live since (while live), down since (while retrying). */
  since: number;
  /** It has been live at least once since it started. */
  everLive: boolean;
  /** The transport in use (while live). */
  transport?: "tcp" | "udp";
}

export interface PullSourceDeps {
  registry: StreamRegistry;
  settings: PullSourceSettings;
  log: Logger;
  /** Injected by tests: the retry clock. */
  timers?: Timers;
  /** Injected by tests: the jitter. */
  random?: () => number;
}

/** One connection to the camera: the registry's publisher while it lasts. */
class PullSession implements Publisher {
  readonly id = `pull-${randomUUID()}`;
  readonly since = Date.now();
  ingest: RtpTracksIngest | undefined;
  stream: LiveStream | undefined;
  client: RtspClient | undefined;
  ended = false;
  playingAt = 0;
  unwatchHub: (() => void) | undefined;

  constructor(
    readonly identity: string,
    private readonly onTakenOver: (s: PullSession) => void,
  ) {}

  stats(): SessionStats {
    const media = this.ingest?.stats() ?? { bitrateBps: 0, packetsReceived: 0, packetsLost: 0, framesReceived: 0, framesDropped: 0, keyframeRequests: 0 };
    return { protocol: "rtsp", sessionId: this.id, since: this.since, ...media };
  }

  lastMediaAt(): number {
    return this.ingest?.lastMediaAt || this.playingAt || this.since;
  }

  takenOver(): void {
    this.onTakenOver(this);
  }
}

export class PullSource {
  private readonly timers: Timers;
  private readonly random: () => number;
  private readonly log: Logger;
  private current: PullSession | undefined;
  private state: PullSourceState = "idle";
  private retries = 0;
  private reconnects = 0;
  private everLive = false;
  private since = Date.now();
  private lastError: PullSourceStatus["lastError"];
  private retryTimer: unknown;
  private nextRetryAt: number | undefined;
  private silenceTimer: unknown;
  private liveWaiters: (() => void)[] = [];
  private running = false;
  /** `auto` found UDP blocked (set up, yet no packet came): TCP from then on, as gortsplib does. */
  private udpBlocked = false;

  constructor(
    readonly spec: PullSourceSpec,
    private readonly deps: PullSourceDeps,
  ) {
    this.timers = deps.timers ?? systemTimers;
    this.random = deps.random ?? Math.random;
    this.log = deps.log.child({ stream: spec.name, source: spec.id });
  }

  get identity(): string {
    return `source:${this.spec.id}`;
  }

  get isRunning(): boolean {
    return this.running;
  }

  /** Starts pulling (and retrying until `stop`). Idempotent. */
  start(): void {
    if (this.running) return;
    this.running = true;
    this.retries = 0;
    this.since = this.timers.now();
    this.connect();
  }

  /** Stops pulling: TEARDOWN, and the stream ends (its recording closes). Idempotent. */
  async stop(reason: UnpublishReason = "deleted"): Promise<void> {
    if (!this.running) return;
    this.running = false;
    this.cancelRetry();
    this.state = "idle";
    this.since = this.timers.now();
    const session = this.current;
    this.current = undefined;
    this.wakeWaiters();
    if (session) await this.endSession(session, reason);
    // Stopped while the camera was down: the stream waiting for it ends now, not at grace expiry.
    const waiting = this.deps.registry.get(this.spec.name);
    if (waiting && waiting.identity === this.identity) this.deps.registry.release(waiting, reason);
  }

  status(): PullSourceStatus {
    return {
      state: this.state,
      retries: this.retries,
      reconnects: this.reconnects,
      since: this.since,
      everLive: this.everLive,
      ...(this.lastError ? { lastError: this.lastError } : {}),
      ...(this.state === "retrying" && this.nextRetryAt !== undefined ? { nextRetryAt: this.nextRetryAt } : {}),
      ...(this.state === "live" && this.current?.client?.lower ? { transport: this.current.client.lower } : {}),
    };
  }

  /** Resolves true once live, false after `timeoutMs` or when stopped. */
  whenLive(timeoutMs: number): Promise<boolean> {
    if (this.state === "live") return Promise.resolve(true);
    if (!this.running) return Promise.resolve(false);
    return new Promise((resolve) => {
      const timer = this.timers.setTimeout(() => {
        this.liveWaiters = this.liveWaiters.filter((w) => w !== wake);
        resolve(false);
      }, timeoutMs);
      const wake = (): void => {
        this.timers.clearTimeout(timer);
        resolve(this.state === "live");
      };
      this.liveWaiters.push(wake);
    });
  }

  private wakeWaiters(): void {
    const waiters = this.liveWaiters;
    this.liveWaiters = [];
    for (const w of waiters) w();
  }

  private connect(): void {
    this.nextRetryAt = undefined;
    this.state = "connecting";
    const session = new PullSession(this.identity, (s) => void this.endSession(s, "taken-over"));
    this.current = session;
    void this.run(session).catch((err: unknown) => this.failed(session, err));
  }

  private async run(session: PullSession): Promise<void> {
    const { settings, registry } = this.deps;
    const client = new RtspClient(
      { url: this.spec.url, transport: this.spec.transport === "auto" && this.udpBlocked ? "tcp" : this.spec.transport, timeoutMs: settings.connectTimeoutMs, limits: settings.limits, udpRecvBufferBytes: settings.udpRecvBufferBytes },
      {
        // The packet path: synchronous into the ingest, which never awaits.
        onRtp: (i, packet) => session.ingest?.pushRtp(i, packet, Date.now()),
        onRtcp: (i, packet) => session.ingest?.pushRtcp(i, packet, Date.now()),
        onClose: (err) => this.failed(session, err),
      },
    );
    session.client = client;
    const described = await client.describe();
    if (session.ended) return;
    const ingest = new RtpTracksIngest(described.tracks.map(toTrackSpec), settings.ingest, this.log.child({ session: session.id }));
    session.ingest = ingest;
    if (described.unsupported.length > 0) this.log.info({ unsupported: described.unsupported }, "camera tracks of other codecs are left out");
    await registry.admit(this.spec.name, this.identity, session.id);
    if (session.ended) return;
    const claimed = registry.claim(this.spec.name, session, ingest.streamTracks);
    session.stream = claimed.stream;
    ingest.attach(claimed.stream);
    // The stream ended under us (a kick, or the grace ran out): this connection ends; the source tries again.
    session.unwatchHub = claimed.stream.hub.onClose(() => this.failed(session, new StreamEnded()));
    await client.play();
    if (session.ended) return;
    session.playingAt = Date.now();
    registry.connected(claimed.stream, session.id);
    if (this.everLive) this.reconnects++;
    this.everLive = true;
    this.state = "live";
    this.since = this.timers.now();
    this.retries = 0;
    this.log.info({ transport: client.lower, resumed: claimed.resumed, tracks: described.tracks.map((t) => t.codec) }, "pulling the camera");
    this.wakeWaiters();
    this.watchSilence(session);
  }

  /** Off the packet path: a camera that sends no RTP for IFC_RTP_SILENCE_TIMEOUT_MS is gone. */
  private watchSilence(session: PullSession): void {
    const limit = this.deps.settings.rtpSilenceTimeoutMs;
    const tick = (): void => {
      if (session.ended || session !== this.current) return;
      const silent = Date.now() - session.lastMediaAt();
      if (silent >= limit) {
        this.failed(session, new SilenceError(silent));
        return;
      }
      this.silenceTimer = this.timers.setTimeout(tick, Math.max(100, Math.min(1000, limit / 4)));
    };
    this.silenceTimer = this.timers.setTimeout(tick, Math.max(100, Math.min(1000, limit / 4)));
  }

  /** This connection failed or dropped: end it (the stream waits, reconnecting) and try again later. */
  private failed(session: PullSession, err: unknown): void {
    if (session.ended || session !== this.current) return;
    const wasLive = this.state === "live";
    // A DomainError is the registry refusing the claim: the name is taken (conflict) or the publisher limit reached.
    const kind = err instanceof RtspClientError ? err.kind : err instanceof SilenceError ? "silence" : err instanceof StreamEnded ? "stream-ended" : err instanceof DomainError ? err.kind : "network";
    const message = err instanceof Error ? err.message : String(err);
    this.lastError = { kind, message, at: this.timers.now() };
    this.current = undefined;
    const cause: DisconnectCause = kind === "silence" ? "rtp-timeout" : kind === "timeout" && !wasLive ? "connect-timeout" : "error";
    if (kind === "silence" && this.spec.transport === "auto" && session.client?.lower === "udp" && !session.ingest?.lastMediaAt) {
      this.udpBlocked = true;
      this.log.warn("no packet ever came over UDP: trying TCP interleaved from now on");
    }
    void this.endSession(session, cause);
    if (!this.running) return;
    this.retries++;
    const delay = retryDelay(this.retries, { minMs: this.deps.settings.retryMinMs, maxMs: this.deps.settings.retryMaxMs }, this.random);
    this.state = "retrying";
    if (wasLive) this.since = this.timers.now();
    this.nextRetryAt = this.timers.now() + delay;
    this.log.warn({ kind, err: message, retry: this.retries, delayMs: delay }, wasLive ? "camera dropped: retrying" : "camera not reached: retrying");
    this.retryTimer = this.timers.setTimeout(() => {
      this.retryTimer = undefined;
      if (this.running) this.connect();
    }, delay);
  }

  private cancelRetry(): void {
    if (this.retryTimer !== undefined) this.timers.clearTimeout(this.retryTimer);
    this.retryTimer = undefined;
    if (this.silenceTimer !== undefined) this.timers.clearTimeout(this.silenceTimer);
    this.silenceTimer = undefined;
  }

  /** Ends one connection: the registry decides the stream's fate (a disconnect waits, a deliberate end releases). */
  private async endSession(session: PullSession, reason: DisconnectCause | UnpublishReason | "taken-over"): Promise<void> {
    if (session.ended) return;
    session.ended = true;
    if (this.current === session) this.current = undefined;
    if (this.silenceTimer !== undefined) this.timers.clearTimeout(this.silenceTimer);
    this.silenceTimer = undefined;
    session.unwatchHub?.();
    session.ingest?.detach();
    if (session.stream && reason !== "taken-over") this.deps.registry.sessionEnded(session.stream, session.id, reason);
    session.stream = undefined;
    await session.client?.close();
  }
}

class SilenceError extends Error {
  constructor(silentMs: number) {
    super(`no RTP from the camera for ${silentMs} ms`);
  }
}

class StreamEnded extends Error {
  constructor() {
    super("the stream was ended (kicked, or its reconnect grace ran out)");
  }
}

function toTrackSpec(t: RtspSdpTrack): RtpTrackSpec {
  return {
    kind: t.kind,
    codec: t.codec,
    payloadType: t.payloadType,
    clockRate: t.clockRate,
    channels: t.channels,
    ...(t.sps ? { sps: t.sps } : {}),
    ...(t.pps ? { pps: t.pps } : {}),
    ...(t.profileLevelId ? { profileLevelId: t.profileLevelId } : {}),
    ...(t.aac ? { aac: t.aac } : {}),
  };
}
