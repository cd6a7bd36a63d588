import type { TappedRtpPacket } from "../../core/stream-hub.js";

/** Whether an H.264 RTP payload starts a keyframe: an IDR slice or SPS, alone, in a STAP-A or as a FU-A start. */
export function startsKeyframe(p: Buffer): boolean {
  const type = (p[0] ?? 0) & 0x1f;
  if (type === 5 || type === 7) return true;
  if (type === 28) {
    const inner = (p[1] ?? 0) & 0x1f;
    return (inner === 5 || inner === 7) && ((p[1] ?? 0) & 0x80) !== 0;
  }
  if (type === 24) {
    for (let o = 1; o + 2 < p.length; ) {
      const size = p.readUInt16BE(o);
      const inner = (p[o + 2] ?? 0) & 0x1f;
      if (inner === 5 || inner === 7) return true;
      o += 2 + size;
    }
  }
  return false;
}

/**
 * How much of a track one ring holds. Packets are held by reference (the tap's own buffers),
 * so the memory a ring pins is about `maxBytes` of payload plus a few words per packet.
 */
export interface RtpRingLimits {
  /** Held whatever their age: the NACK cache and a lagging viewer's slack (IFC_WHEP_PACKET_CACHE_PACKETS). */
  minPackets: number;
  /**
   * Packets older than this (by arrival) go, except the newest GOP's (IFC_STREAM_BUFFER_MS).
   * Applies only while `keepByAge` is on; off, packets beyond `minPackets` and the newest GOP go.
   */
  maxAgeMs: number;
  /**
   * Hard cap on held payload bytes, the newest GOP included (IFC_STREAM_BUFFER_BYTES): a GOP
   * larger than this loses its IDR, and viewers then join at the next keyframe instead.
   */
  maxBytes: number;
}

/** The first packet of a new publisher session (see `RtpRing.markPublisherChange`). */
export interface PublisherMark {
  /** Ring index of the new session's first packet. */
  index: number;
  /** Epoch ms when the previous publisher's media stopped, when the hub said so. */
  lastMediaAt?: number;
}

/** How far from its expected place a NACKed sequence number is looked for (publisher loss and reordering). */
const SEQ_SCAN = 512;
/** Slots a ring starts with; it doubles when the limits let it hold more. */
const INITIAL_SLOTS = 256;

/**
 * One stream's recent RTP packets of one kind, in arrival order, by a monotonically growing
 * index. It is at once the viewers' send queue (each viewer keeps its own read index, so a
 * packet is stored once however many watch), the NACK cache (RFC 4585) that answers viewer
 * losses without bothering the publisher, and (video) the GOP cache a new viewer starts from.
 * Old packets are dropped by age and bytes, never copied; the newest GOP stays while the byte
 * cap allows, so a long GOP is held whole however short `maxAgeMs` is.
 */
export class RtpRing {
  private packets: (TappedRtpPacket | undefined)[];
  /** Arrival (epoch ms) of each held packet, same slots: age limit and the audio/video join point. */
  private arrivals: Float64Array;
  private mask: number;
  /** Index the next packet gets; packets [tail, head) are held. */
  head = 0;
  /** Oldest index still held. */
  tail = 0;
  /** Payload bytes held. */
  bytes = 0;
  /** Index of the first packet of the newest access unit holding a keyframe (-1: none in this publisher session yet). */
  lastKeyframeStart = -1;
  keyframes = 0;
  /** The newest publisher change (index 0 before any). */
  publisher: PublisherMark = { index: 0 };
  /** Publisher changes seen (hub signal or an SSRC change on the tap). */
  publisherChanges = 0;
  /**
   * Whether packets are kept up to `maxAgeMs` (a lagging viewer's slack). The owner turns it off
   * while nobody reads the ring: a cached join starts at the newest GOP, so older packets would
   * only be live heap objects that every GC pass walks (issue 17: 10 s of packets per stream).
   */
  keepByAge = true;
  private auStart = -1;
  private auTimestamp = -1;
  private auIsKey = false;
  private ssrc = -1;
  /** A change found by SSRC alone, not yet confirmed by the hub (whose signal must not mark it twice). */
  private unsignalledChange = false;

  constructor(
    readonly limits: RtpRingLimits,
    /** Track access units and keyframes (video). */
    private readonly trackKeyframes: boolean,
    private readonly now: () => number = Date.now,
  ) {
    const slots = Math.max(INITIAL_SLOTS, pow2AtLeast(limits.minPackets));
    this.packets = new Array<TappedRtpPacket | undefined>(slots);
    this.arrivals = new Float64Array(slots);
    this.mask = slots - 1;
  }

  push(p: TappedRtpPacket): void {
    if (p.header.ssrc !== this.ssrc) {
      // Belt and braces: a new SSRC is a new publisher session even if the hub did not say so.
      if (this.ssrc !== -1) {
        this.mark(undefined);
        this.unsignalledChange = true;
      }
      this.ssrc = p.header.ssrc;
    }
    if (this.head - this.tail > this.mask) this.grow();
    const index = this.head++;
    const arrival = this.now();
    this.packets[index & this.mask] = p;
    this.arrivals[index & this.mask] = arrival;
    this.bytes += p.payload.length;
    if (this.trackKeyframes) {
      // An access unit is the run of packets sharing one RTP timestamp.
      if (p.header.timestamp !== this.auTimestamp) {
        this.auTimestamp = p.header.timestamp;
        this.auStart = index;
        this.auIsKey = false;
      }
      if (!this.auIsKey && startsKeyframe(p.payload)) {
        this.auIsKey = true;
        this.lastKeyframeStart = this.auStart;
        this.keyframes++;
      }
    }
    this.evict(arrival);
  }

  private evict(now: number): void {
    const { minPackets, maxAgeMs, maxBytes } = this.limits;
    // The newest GOP is kept against the age limit (a new viewer starts from its IDR).
    const keepFrom = this.lastKeyframeStart >= 0 ? this.lastKeyframeStart : this.head;
    while (this.tail < this.head - 1) {
      const slot = this.tail & this.mask;
      const overBytes = this.bytes > maxBytes;
      const tooOld = this.head - this.tail > minPackets && this.tail < keepFrom && (!this.keepByAge || now - (this.arrivals[slot] as number) > maxAgeMs);
      if (!overBytes && !tooOld) break;
      this.bytes -= (this.packets[slot] as TappedRtpPacket).payload.length;
      this.packets[slot] = undefined;
      this.tail++;
    }
  }

  private grow(): void {
    const slots = (this.mask + 1) * 2;
    const packets = new Array<TappedRtpPacket | undefined>(slots);
    const arrivals = new Float64Array(slots);
    for (let i = this.tail; i < this.head; i++) {
      packets[i & (slots - 1)] = this.packets[i & this.mask];
      arrivals[i & (slots - 1)] = this.arrivals[i & this.mask] as number;
    }
    this.packets = packets;
    this.arrivals = arrivals;
    this.mask = slots - 1;
  }

  /**
   * A new publisher session starts with the next packet (the hub's `publisherChanged`): its
   * sequence numbers and timestamps are unrelated to the old ones, and the old GOP must not be
   * the start of anyone's playback any more. If the SSRC change was already seen on the tap,
   * the hub's signal only adds when the old media stopped.
   */
  markPublisherChange(lastMediaAt?: number): void {
    if (this.unsignalledChange) {
      this.unsignalledChange = false;
      this.publisher = { index: this.publisher.index, ...(lastMediaAt !== undefined ? { lastMediaAt } : {}) };
      return;
    }
    this.mark(lastMediaAt);
    // The new session's SSRC (new or, after an ICE restart, the same) is taken as it comes.
    this.ssrc = -1;
  }

  private mark(lastMediaAt: number | undefined): void {
    this.publisher = { index: this.head, ...(lastMediaAt !== undefined ? { lastMediaAt } : {}) };
    this.publisherChanges++;
    this.lastKeyframeStart = -1;
    this.auTimestamp = -1;
    this.auStart = -1;
    this.auIsKey = false;
  }

  /** The packet at `index`, or undefined when it is not held (dropped or not yet come). */
  at(index: number): TappedRtpPacket | undefined {
    if (index < this.tail || index >= this.head) return undefined;
    return this.packets[index & this.mask];
  }

  /** When the packet at `index` arrived (epoch ms); NaN when it is not held. */
  arrivalAt(index: number): number {
    if (index < this.tail || index >= this.head) return NaN;
    return this.arrivals[index & this.mask] as number;
  }

  /** First held index at or after `from` whose packet arrived at or after `ms` (head if none): where audio joins video. */
  indexArrivedFrom(ms: number, from = this.tail): number {
    let lo = Math.max(from, this.tail);
    let hi = this.head;
    while (lo < hi) {
      const mid = (lo + hi) >>> 1;
      if ((this.arrivals[mid & this.mask] as number) < ms) lo = mid + 1;
      else hi = mid;
    }
    return lo;
  }

  /**
   * Index of the held packet with this (publisher) sequence number at or after `from`, -1 if
   * none. The publisher's numbers are nearly contiguous, so the guess from the newest packet
   * is checked first; a scan of `SEQ_SCAN` packets around it covers reordering and loss, and a
   * stale NACK costs no more than that however large the buffer.
   */
  indexOfSeq(seq: number, from = this.tail): number {
    const lo = Math.max(from, this.tail);
    const newest = this.at(this.head - 1);
    if (!newest) return -1;
    const guess = this.head - 1 - ((newest.header.sequenceNumber - seq) & 0xffff);
    if (guess >= lo && this.packets[guess & this.mask]?.header.sequenceNumber === seq) return guess;
    for (let i = Math.min(this.head - 1, guess + SEQ_SCAN), end = Math.max(lo, guess - SEQ_SCAN); i >= end; i--) {
      if (this.packets[i & this.mask]?.header.sequenceNumber === seq) return i;
    }
    return -1;
  }

  /** Whether the keyframe unit at `lastKeyframeStart` is still arriving (the newest unit). */
  get keyframeArriving(): boolean {
    return this.auIsKey && this.auStart === this.lastKeyframeStart;
  }

  /** Packets held. */
  get size(): number {
    return this.head - this.tail;
  }
}

function pow2AtLeast(n: number): number {
  let p = 1;
  while (p < n) p *= 2;
  return p;
}
