import { CapacityExceeded, Conflict } from "./errors.js";
import type { StreamBufferOptions } from "./stream-buffer.js";
import { StreamHub, type ReaderWatch, type StreamTracks } from "./stream-hub.js";

/** Live figures of a publishing session, read on demand (REST, telemetry). */
export interface StreamStats {
  protocol: "whip" | "rtsp";
  sessionId: string;
  /** Epoch ms when the publisher's session was accepted. */
  since: number;
  state: string;
  video?: { codec: string; width?: number; height?: number; profile?: number; level?: number; fps: number };
  audio?: { codec: string; sampleRate: number; channels: number };
  bitrateBps: number;
  packetsReceived: number;
  packetsLost: number;
  framesReceived: number;
  framesDropped: number;
  keyframeRequests: number;
}

export interface LiveStream {
  readonly name: string;
  readonly hub: StreamHub;
  readonly sessionId: string;
  stats(): StreamStats;
}

type Listener = (stream: LiveStream) => void;

/**
 * Which stream names are live, and who publishes each. One publisher per name: a second
 * claim is a conflict, so a reconnecting camera must end (or time out) its old session first.
 */
export class StreamRegistry {
  private readonly streams = new Map<string, LiveStream>();
  private readonly startedListeners: Listener[] = [];
  private readonly endedListeners: Listener[] = [];

  constructor(private readonly opts: { maxStreams: number; readerQueueFrames: number; readerWatch?: ReaderWatch; streamBuffer?: StreamBufferOptions }) {}

  /** Reserves `name` for a publisher; throws Conflict when it is live, CapacityExceeded at the publisher limit. */
  claim(name: string, sessionId: string, tracks: StreamTracks, stats: () => StreamStats): LiveStream {
    if (this.streams.has(name)) throw new Conflict("stream-busy", `stream "${name}" already has a live publisher`, { stream: name });
    if (this.streams.size >= this.opts.maxStreams) {
      throw new CapacityExceeded("too-many-publishers", `the server already has ${this.streams.size} live publishers (IFC_MAX_PUBLISHERS)`, 5, { limit: this.opts.maxStreams });
    }
    const stream: LiveStream = { name, sessionId, hub: new StreamHub(name, tracks, this.opts.readerQueueFrames, this.opts.readerWatch, this.opts.streamBuffer), stats };
    this.streams.set(name, stream);
    return stream;
  }

  /** Announces a claimed stream to readers (recorder, extractor, viewers) once media can flow. */
  announce(stream: LiveStream): void {
    for (const l of this.startedListeners) l(stream);
  }

  release(stream: LiveStream): void {
    if (this.streams.get(stream.name) !== stream) return;
    this.streams.delete(stream.name);
    stream.hub.close();
    for (const l of this.endedListeners) l(stream);
  }

  get(name: string): LiveStream | undefined {
    return this.streams.get(name);
  }

  list(): LiveStream[] {
    return [...this.streams.values()];
  }

  onStarted(l: Listener): void {
    this.startedListeners.push(l);
  }

  onEnded(l: Listener): void {
    this.endedListeners.push(l);
  }
}
