import type { H264SpsInfo, MediaFrame } from "../media/types.js";

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
}

/** What the hub knows about the stream's tracks; readers read it when they start. */
export interface StreamTracks {
  /** `profileLevelId`: as negotiated with the publisher (RFC 6184), until the SPS says better. */
  video?: { codec: "h264"; sps?: H264SpsInfo; profileLevelId?: string };
  audio?: { codec: "opus"; channels: number; sampleRate: number };
}

export interface ReaderHandle {
  readonly stats: ReaderStats;
  detach(): void;
}

type CloseListener = () => void;

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
 */
export class StreamHub {
  private readonly readers = new Set<Reader>();
  private closed = false;
  private keyframeRequester: ((reason: string) => void) | undefined;
  private closeListeners: CloseListener[] = [];
  private rtpTaps: RtpTapListener[] = [];
  /** WHEP viewers watching this stream now (kept by the distributor, read by REST and metrics). */
  viewerCount = 0;

  constructor(
    readonly name: string,
    readonly tracks: StreamTracks,
    private readonly defaultCapacity: number,
  ) {}

  attach(name: string, consumer: FrameConsumer, capacity = this.defaultCapacity): ReaderHandle {
    if (this.closed) throw new Error(`stream ${this.name} is closed`);
    const reader = new Reader(name, consumer, capacity, () => this.readers.delete(reader));
    this.readers.add(reader);
    return reader;
  }

  publish(frame: MediaFrame): void {
    if (this.closed) return;
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
  private detached = false;
  private delivered = 0;
  private dropped = 0;
  private failed = 0;
  private idleWaiters: (() => void)[] = [];

  constructor(
    readonly name: string,
    private readonly consumer: FrameConsumer,
    readonly capacity: number,
    private readonly onDetach: () => void,
  ) {
    this.ring = new Array<MediaFrame | undefined>(capacity);
    this.dropsAt = new Array<number>(capacity).fill(0);
  }

  get stats(): ReaderStats {
    return { name: this.name, delivered: this.delivered, dropped: this.dropped, queued: this.size, capacity: this.capacity, failed: this.failed };
  }

  offer(frame: MediaFrame): void {
    if (this.detached) return;
    if (this.size === this.capacity) {
      this.dropped++;
      this.pendingDrops++;
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
    while (this.size > 0 && !this.detached) {
      const frame = this.ring[this.head] as MediaFrame;
      const drops = this.dropsAt[this.head] ?? 0;
      this.ring[this.head] = undefined;
      this.head = (this.head + 1) % this.capacity;
      this.size--;
      try {
        const r = this.consumer(frame, drops);
        if (r) await r;
      } catch {
        // A reader's failure is its own business (counted): it must not take the hub down.
        this.failed++;
      }
      this.delivered++;
    }
    this.draining = false;
    const waiters = this.idleWaiters;
    this.idleWaiters = [];
    for (const w of waiters) w();
  }

  idle(): Promise<void> {
    if (!this.draining) return Promise.resolve();
    return new Promise((resolve) => this.idleWaiters.push(resolve));
  }

  detach(): void {
    if (this.detached) return;
    this.detached = true;
    this.size = 0;
    this.ring.fill(undefined);
    this.onDetach();
  }
}
