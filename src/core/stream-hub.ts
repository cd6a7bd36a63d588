import type { H264SpsInfo, MediaFrame } from "../media/types.js";
import { DEFAULT_STREAM_BUFFER, StreamBuffer, type StreamBufferOptions } from "./stream-buffer.js";

/**
 * A reader's callback. `droppedBefore` counts frames this reader lost to its full queue just
 * before this one, so a video consumer knows to wait for the next keyframe.
 * A returned promise holds back this reader's next frame (and only this reader's).
 */
export type FrameConsumer = (frame: MediaFrame, droppedBefore: number) => void | Promise<void>;

export interface ReaderStats {
  name: string;
  delivered: number;
  dropped: number;
  queued: number;
  capacity: number;
  /** Frames whose consumer threw. */
  failed: number;
  /** Set when the hub detached this reader because its callback kept throwing: why. */
  detachedReason?: string;
}

/** Where the hub reports readers in trouble (pino's Logger fits). */
export interface HubLog {
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

/** How the hub watches its readers' drops and failures (IFC_READER_* in the config). */
export interface ReaderWatch {
  log?: HubLog;
  /** Least time between two aggregated warnings about one reader (ms). */
  warnIntervalMs: number;
  /** A reader whose callback throws this many times in a row is detached and reported. */
  maxConsecutiveErrors: number;
  /** Clock for the warning interval (ms); injected by tests. */
  now?: () => number;
}

/** The config's defaults, for hubs made outside the server (tests, tools). */
export const DEFAULT_READER_WATCH: ReaderWatch = { warnIntervalMs: 10_000, maxConsecutiveErrors: 30 };

/** What the hub knows about the stream's tracks; readers read it when they start. */
export interface StreamTracks {
  /** `profileLevelId`: as negotiated with the publisher (RFC 6184), until the SPS says better. */
  video?: { codec: "h264"; sps?: H264SpsInfo; profileLevelId?: string };
  /**
   * Opus (48 kHz clock), or AAC with its AudioSpecificConfig (ISO 14496-3; RFC 3640 `config=`),
   * clocked at its sample rate. WebRTC carries no AAC: WHEP viewers of an AAC stream get video only.
   */
  audio?: { codec: "opus"; channels: number; sampleRate: number } | { codec: "aac"; channels: number; sampleRate: number; config: Uint8Array };
}

/** How a reader starts: with live frames only (the default), or with a backlog from the stream buffer first. */
export interface AttachOptions {
  /**
   * Wall clock (the frames' `wallClockMs`, epoch ms): the reader first gets the buffered frames
   * from the random-access point at or before this time (or the oldest held), then live frames,
   * none lost or repeated between the two. The backlog does not count against the queue bound.
   */
  backlogFrom?: number;
}

export interface ReaderHandle {
  readonly stats: ReaderStats;
  /** The first frame of the backlog it was attached with (undefined: none, live frames only). */
  readonly backlogStart: MediaFrame | undefined;
  /** Stops delivery and removes the reader from the hub (and from its stats). */
  detach(): void;
}

type CloseListener = () => void;

/** A new publisher session carries the stream from now on (see `StreamHub.publisherChanged`). */
export interface PublisherChange {
  sessionId: string;
  /** How it came: an ICE restart on the same session, a new POST while reconnecting, or a takeover of a stream still live. */
  reason: "ice-restart" | "re-post" | "takeover";
  /** Epoch ms when the previous publisher's media stopped (its last packet). */
  lastMediaAt: number;
}
type PublisherChangeListener = (change: PublisherChange) => void;

/**
 * The parts of a received RTP packet the RTP tap hands on (werift's RtpPacket has them). Only
 * media/core types here: core must not depend on the WebRTC stack.
 */
export interface TappedRtpPacket {
  readonly header: { readonly sequenceNumber: number; readonly timestamp: number; readonly marker: boolean; readonly ssrc: number; readonly payloadType: number };
  readonly payload: Buffer;
}

/**
 * A listener on the publisher's RTP packet path (WHEP forwards packets without re-packetizing).
 * Called synchronously, in arrival order: it must not block or keep work on the path, and
 * must treat the packet as read-only (the depacketizer views its payload).
 */
export type RtpTapListener = (kind: "video" | "audio", packet: TappedRtpPacket) => void;

/**
 * One live stream's fan-out point (MediaMTX's `stream`): the publisher pushes frames, each
 * reader receives them through its own ring buffer. A full buffer drops the newest frame and
 * counts it, so a slow reader never stalls the publisher or the other readers. `publish` is
 * synchronous and never awaits: readers are drained on a later tick.
 *
 * Trouble is seen, not only counted: drops and callback errors are logged as one aggregated
 * warning per reader at most every `warnIntervalMs` (MediaMTX's "reader is too slow,
 * discarding N frames"), and a reader whose callback throws `maxConsecutiveErrors` times in a
 * row is detached: it gets no more frames and stays listed, with the reason, until its owner
 * detaches it or the stream ends.
 */
export class StreamHub {
  private readonly readers = new Set<Reader>();
  private closed = false;
  private keyframeRequester: ((reason: string) => void) | undefined;
  private closeListeners: CloseListener[] = [];
  private rtpTaps: RtpTapListener[] = [];
  private publisherChangeListeners: PublisherChangeListener[] = [];
  /** The last seconds of the stream (GOP cache, pre-roll); fed synchronously in `publish`. */
  readonly buffer: StreamBuffer;
  /** WHEP viewers watching this stream now (kept by the distributor, read by REST and metrics). */
  viewerCount = 0;

  private readonly watch: Required<Omit<ReaderWatch, "log">> & Pick<ReaderWatch, "log">;

  constructor(
    readonly name: string,
    readonly tracks: StreamTracks,
    private readonly defaultCapacity: number,
    watch: ReaderWatch = DEFAULT_READER_WATCH,
    buffer: StreamBufferOptions = DEFAULT_STREAM_BUFFER,
  ) {
    this.watch = { ...watch, now: watch.now ?? Date.now };
    this.buffer = new StreamBuffer({ ...buffer, audioOnly: !tracks.video && !!tracks.audio });
  }

  /**
   * Adds a reader. With `backlogFrom`, the buffer's snapshot and the reader's registration happen
   * in the same synchronous step, so the reader sees the backlog then exactly the frames
   * published after it: no gap, no duplicate.
   */
  attach(name: string, consumer: FrameConsumer, capacity = this.defaultCapacity, opts: AttachOptions = {}): ReaderHandle {
    if (this.closed) throw new Error(`stream ${this.name} is closed`);
    const backlog = opts.backlogFrom === undefined ? [] : this.buffer.snapshotFrom(opts.backlogFrom);
    const reader = new Reader(this.name, name, consumer, capacity, this.watch, () => this.readers.delete(reader), backlog);
    this.readers.add(reader);
    return reader;
  }

  publish(frame: MediaFrame): void {
    if (this.closed) return;
    this.buffer.append(frame);
    for (const r of this.readers) r.offer(frame);
  }

  /** Ingest hands on every RTP packet it received, as received (after SRTP), never awaiting. */
  publishRtp(kind: "video" | "audio", packet: TappedRtpPacket): void {
    if (this.closed) return;
    const taps = this.rtpTaps;
    for (let i = 0; i < taps.length; i++) (taps[i] as RtpTapListener)(kind, packet);
  }

  /** Listens on the RTP packet path; returns the function that stops listening. */
  tapRtp(listener: RtpTapListener): () => void {
    this.rtpTaps = [...this.rtpTaps, listener];
    return () => {
      this.rtpTaps = this.rtpTaps.filter((l) => l !== listener);
    };
  }

  /**
   * Ingest says the stream's publisher changed (a resume after a network break, or a takeover):
   * RTP packets on the tap come from a new SSRC with new sequence numbers and timestamps from
   * now on, and the next frames carry `discontinuity`. RTP readers (WHEP) re-base their
   * rewriting and wait for the next keyframe; the hub itself stays open throughout.
   */
  publisherChanged(change: PublisherChange): void {
    if (this.closed) return;
    for (const l of this.publisherChangeListeners) l(change);
  }

  onPublisherChanged(fn: PublisherChangeListener): () => void {
    this.publisherChangeListeners = [...this.publisherChangeListeners, fn];
    return () => {
      this.publisherChangeListeners = this.publisherChangeListeners.filter((l) => l !== fn);
    };
  }

  /** Ingest installs how to ask its publisher for an IDR (rate-limited there). */
  setKeyframeRequester(fn: (reason: string) => void): void {
    this.keyframeRequester = fn;
  }

  requestKeyframe(reason: string): void {
    this.keyframeRequester?.(reason);
  }

  /** Returns the function that stops listening: consumers that come and go on one live stream (the decoder) must not pile up. */
  onClose(fn: CloseListener): () => void {
    this.closeListeners = [...this.closeListeners, fn];
    return () => {
      this.closeListeners = this.closeListeners.filter((l) => l !== fn);
    };
  }

  get readerStats(): ReaderStats[] {
    return [...this.readers].map((r) => r.stats);
  }

  get isClosed(): boolean {
    return this.closed;
  }

  /** Resolves when every reader has consumed what it had queued. */
  async drain(): Promise<void> {
    await Promise.all([...this.readers].map((r) => r.idle()));
  }

  /** Ends the stream: no more frames; readers finish their queues, then are told it closed. */
  close(): void {
    if (this.closed) return;
    this.closed = true;
    this.buffer.clear();
    for (const fn of this.closeListeners) fn();
  }
}

class Reader implements ReaderHandle {
  private readonly ring: (MediaFrame | undefined)[];
  private readonly dropsAt: number[];
  private head = 0;
  private size = 0;
  private pendingDrops = 0;
  private draining = false;
  /** No more frames: detached by its owner, or by the hub for failing. */
  private stopped = false;
  /** Removed from the hub by its owner. */
  private removed = false;
  private delivered = 0;
  private dropped = 0;
  private failed = 0;
  private detachedReason: string | undefined;
  private idleWaiters: (() => void)[] = [];
  // Fault accounting: plain numbers and one reference, so the frame path allocates nothing.
  private consecutiveErrors = 0;
  private droppedUnreported = 0;
  private failedUnreported = 0;
  private lastError: unknown;
  private lastWarnAt = -Infinity;
  /** Buffered frames delivered before the ring (see AttachOptions.backlogFrom); emptied as it drains. */
  private backlog: (MediaFrame | undefined)[];
  private backlogAt = 0;
  readonly backlogStart: MediaFrame | undefined;

  constructor(
    private readonly stream: string,
    readonly name: string,
    private readonly consumer: FrameConsumer,
    readonly capacity: number,
    private readonly watch: Required<Omit<ReaderWatch, "log">> & Pick<ReaderWatch, "log">,
    private readonly onDetach: () => void,
    backlog: MediaFrame[] = [],
  ) {
    this.ring = new Array<MediaFrame | undefined>(capacity);
    this.dropsAt = new Array<number>(capacity).fill(0);
    this.backlog = backlog;
    this.backlogStart = backlog[0];
    if (backlog.length > 0) {
      this.draining = true;
      setImmediate(() => void this.drainLoop());
    }
  }

  get stats(): ReaderStats {
    const queued = this.size + this.backlog.length - this.backlogAt;
    const st: ReaderStats = { name: this.name, delivered: this.delivered, dropped: this.dropped, queued, capacity: this.capacity, failed: this.failed };
    if (this.detachedReason !== undefined) st.detachedReason = this.detachedReason;
    return st;
  }

  offer(frame: MediaFrame): void {
    if (this.stopped) return;
    if (this.size === this.capacity) {
      this.dropped++;
      this.pendingDrops++;
      this.droppedUnreported++;
      this.warnIfDue();
      return;
    }
    const slot = (this.head + this.size) % this.capacity;
    this.ring[slot] = frame;
    this.dropsAt[slot] = this.pendingDrops;
    this.pendingDrops = 0;
    this.size++;
    if (!this.draining) {
      this.draining = true;
      setImmediate(() => void this.drainLoop());
    }
  }

  private async drainLoop(): Promise<void> {
    while ((this.size > 0 || this.backlogAt < this.backlog.length) && !this.stopped) {
      let frame: MediaFrame;
      let drops = 0;
      if (this.backlogAt < this.backlog.length) {
        frame = this.backlog[this.backlogAt] as MediaFrame;
        this.backlog[this.backlogAt++] = undefined; // let delivered frames go
        if (this.backlogAt === this.backlog.length) {
          this.backlog = [];
          this.backlogAt = 0;
        }
      } else {
        frame = this.ring[this.head] as MediaFrame;
        drops = this.dropsAt[this.head] ?? 0;
        this.ring[this.head] = undefined;
        this.head = (this.head + 1) % this.capacity;
        this.size--;
      }
      try {
        const r = this.consumer(frame, drops);
        if (r) await r;
        this.consecutiveErrors = 0;
      } catch (err) {
        // A reader's failure is its own business: it must not take the hub down.
        this.failed++;
        this.failedUnreported++;
        this.lastError = err;
        if (++this.consecutiveErrors >= this.watch.maxConsecutiveErrors) this.fail();
      }
      this.delivered++;
      if (this.droppedUnreported > 0 || this.failedUnreported > 0) this.warnIfDue();
    }
    this.draining = false;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  /** One aggregated warning per interval: what was dropped and what failed since the last one. */
  private warnIfDue(): void {
    const now = this.watch.now();
    if (now - this.lastWarnAt < this.watch.warnIntervalMs) return;
    this.lastWarnAt = now;
    this.report();
  }

  private report(): void {
    const dropped = this.droppedUnreported;
    const failed = this.failedUnreported;
    if (dropped === 0 && failed === 0) return;
    this.droppedUnreported = 0;
    this.failedUnreported = 0;
    const parts: string[] = [];
    if (dropped > 0) parts.push(`reader is too slow, discarding ${dropped} frames`);
    if (failed > 0) parts.push(`reader callback failed on ${failed} frames`);
    this.watch.log?.warn({ stream: this.stream, reader: this.name, dropped, failed, ...(failed > 0 ? { err: errorMessage(this.lastError) } : {}) }, parts.join("; "));
    this.lastError = undefined;
  }

  /** Too many errors in a row: stop delivering, keep the reason visible, say so once. */
  private fail(): void {
    this.detachedReason = `callback threw ${this.consecutiveErrors} times in a row (limit IFC_READER_MAX_CONSECUTIVE_ERRORS); last error: ${errorMessage(this.lastError)}`;
    this.watch.log?.error({ stream: this.stream, reader: this.name, failed: this.failed, err: errorMessage(this.lastError) }, "reader detached: its callback keeps failing");
    this.droppedUnreported = 0;
    this.failedUnreported = 0;
    this.stop();
  }

  private stop(): void {
    this.stopped = true;
    this.size = 0;
    this.backlog = [];
    this.backlogAt = 0;
    this.ring.fill(undefined);
  }

  idle(): Promise<void> {
    if (!this.draining) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  detach(): void {
    if (this.removed) return;
    this.removed = true;
    this.stop();
    this.report(); // what accumulated since the last warning is not lost
    this.onDetach();
  }
}

function errorMessage(err: unknown): string {
  return err instanceof Error ? err.message : String(err);
}
