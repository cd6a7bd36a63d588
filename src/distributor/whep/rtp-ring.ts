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
 * How much of a track one ring holds. Payloads are copied into the ring's slab, which grows by
 * doubling to what the limits let it hold (at most about twice `maxBytes`), plus 35 bytes per slot.
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
/** Least payload bytes a ring starts with (an audio ring's 128 Opus packets fit); it doubles as needed. */
const INITIAL_SLAB_BYTES = 64 * 1024;
/**
 * A full-size video packet, to size a video ring's first slab for `minPackets` of them: a slab
 * that starts small doubles several times as a stream starts, each a copy of what it holds (seen
 * in the profile of 16 joins as a 60 ms task). Audio packets are small: 64 KiB holds the floor.
 */
const VIDEO_PACKET_BYTES = 1200;

/**
 * One stream's recent RTP packets of one kind, in arrival order, by a monotonically growing
 * index. It is at once the viewers' send queue (each viewer keeps its own read index, so a
 * packet is stored once however many watch), the NACK cache (RFC 4585) that answers viewer
 * losses without bothering the publisher, and (video) the GOP cache a new viewer starts from.
 * Old packets are dropped by age and bytes; the newest GOP stays while the byte cap allows, so
 * a long GOP is held whole however short `maxAgeMs` is.
 *
 * Packets are copied in, not held by reference: the payload into one byte ring (the slab) and
 * the header fields viewers use into typed arrays. A held werift packet is about nine heap
 * objects (packet, header, its arrays, the payload view and its ArrayBuffer), and every one
 * held past two scavenges is promoted and walked by each major GC (issue 17); copied, a
 * packet's objects die young and the ring is a handful of large arrays. The copy is a memcpy
 * of the payload; nothing is allocated per packet but when the slab or the slots double.
 */
export class RtpRing {
  /** Arrival (epoch ms) of each held packet: age limit and the audio/video join point. */
  private arrivals: Float64Array;
  /** Header fields of each held packet, same slots. */
  private seqs: Uint16Array;
  private timestamps: Uint32Array;
  private ssrcs: Uint32Array;
  /** Bit 7: marker; bits 0-6: payload type. */
  private markerPt: Uint8Array;
  /** Where each held payload is in the slab, and its length. */
  private offsets: Float64Array;
  private lengths: Uint32Array;
  private mask: number;
  /**
   * The payload bytes, a ring too: held payloads run from the tail packet's offset to `slabEnd`,
   * wrapping to 0 when the next one does not fit before the end. Wrapped exactly when the tail
   * packet's offset is beyond `slabEnd` (a write never fills the gap to the tail exactly).
   */
  private slab: Buffer;
  private slabEnd = 0;
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
    this.arrivals = new Float64Array(slots);
    this.seqs = new Uint16Array(slots);
    this.timestamps = new Uint32Array(slots);
    this.ssrcs = new Uint32Array(slots);
    this.markerPt = new Uint8Array(slots);
    this.offsets = new Float64Array(slots);
    this.lengths = new Uint32Array(slots);
    this.mask = slots - 1;
    this.slab = Buffer.allocUnsafe(pow2AtLeast(Math.max(INITIAL_SLAB_BYTES, trackKeyframes ? limits.minPackets * VIDEO_PACKET_BYTES : 0)));
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
    const n = p.payload.length;
    const at = this.reserve(n);
    this.slab.set(p.payload, at);
    this.slabEnd = at + n;
    const index = this.head++;
    const slot = index & this.mask;
    const arrival = this.now();
    const h = p.header;
    this.arrivals[slot] = arrival;
    this.seqs[slot] = h.sequenceNumber;
    this.timestamps[slot] = h.timestamp;
    this.ssrcs[slot] = h.ssrc;
    this.markerPt[slot] = (h.marker ? 0x80 : 0) | (h.payloadType & 0x7f);
    this.offsets[slot] = at;
    this.lengths[slot] = n;
    this.bytes += n;
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
      this.bytes -= this.lengths[slot] as number;
      this.tail++;
    }
  }

  /** Slab offset for a payload of `n` bytes after the newest one; the slab doubles when it is full. */
  private reserve(n: number): number {
    if (this.head === this.tail) {
      if (n > this.slab.length) this.growSlab(n);
      return 0;
    }
    const tailAt = this.offsets[this.tail & this.mask] as number;
    if (tailAt <= this.slabEnd) {
      if (n <= this.slab.length - this.slabEnd) return this.slabEnd;
      if (n < tailAt) return 0; // wrap; strictly less, so the wrapped state stays readable
    } else if (n < tailAt - this.slabEnd) {
      return this.slabEnd;
    }
    this.growSlab(n);
    return this.slabEnd;
  }

  /** A slab twice as large (or large enough for `n` more), the held payloads copied to its start in order. */
  private growSlab(n: number): void {
    const held = this.bytes;
    let size = this.slab.length * 2;
    while (size < held + n + 1) size *= 2;
    const slab = Buffer.allocUnsafe(size);
    let o = 0;
    for (let i = this.tail; i < this.head; i++) {
      const slot = i & this.mask;
      const at = this.offsets[slot] as number;
      const len = this.lengths[slot] as number;
      this.slab.copy(slab, o, at, at + len);
      this.offsets[slot] = o;
      o += len;
    }
    this.slab = slab;
    this.slabEnd = o;
  }

  private grow(): void {
    const slots = (this.mask + 1) * 2;
    const m = slots - 1;
    const arrivals = new Float64Array(slots);
    const seqs = new Uint16Array(slots);
    const timestamps = new Uint32Array(slots);
    const ssrcs = new Uint32Array(slots);
    const markerPt = new Uint8Array(slots);
    const offsets = new Float64Array(slots);
    const lengths = new Uint32Array(slots);
    for (let i = this.tail; i < this.head; i++) {
      const from = i & this.mask;
      const to = i & m;
      arrivals[to] = this.arrivals[from] as number;
      seqs[to] = this.seqs[from] as number;
      timestamps[to] = this.timestamps[from] as number;
      ssrcs[to] = this.ssrcs[from] as number;
      markerPt[to] = this.markerPt[from] as number;
      offsets[to] = this.offsets[from] as number;
      lengths[to] = this.lengths[from] as number;
    }
    this.arrivals = arrivals;
    this.seqs = seqs;
    this.timestamps = timestamps;
    this.ssrcs = ssrcs;
    this.markerPt = markerPt;
    this.offsets = offsets;
    this.lengths = lengths;
    this.mask = m;
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

  /**
   * The packet at `index` as a new object over the slab, or undefined when it is not held
   * (dropped or not yet come). It allocates: the send path reads the fields one by one below.
   */
  at(index: number): TappedRtpPacket | undefined {
    const payload = this.payloadAt(index);
    if (!payload) return undefined;
    const slot = index & this.mask;
    const mp = this.markerPt[slot] as number;
    return { header: { sequenceNumber: this.seqs[slot] as number, timestamp: this.timestamps[slot] as number, marker: (mp & 0x80) !== 0, ssrc: this.ssrcs[slot] as number, payloadType: mp & 0x7f }, payload };
  }

  /** Whether the packet at `index` is held. */
  has(index: number): boolean {
    return index >= this.tail && index < this.head;
  }

  /**
   * The payload at `index`, a view of the slab valid until the next `push` (which may overwrite
   * or move it): use it at once, as SRTP encryption does. Undefined when not held.
   */
  payloadAt(index: number): Buffer | undefined {
    if (index < this.tail || index >= this.head) return undefined;
    const slot = index & this.mask;
    const at = this.offsets[slot] as number;
    return this.slab.subarray(at, at + (this.lengths[slot] as number));
  }

  /** Payload bytes of the held packet at `index` (0 when not held). */
  lengthAt(index: number): number {
    return this.has(index) ? (this.lengths[index & this.mask] as number) : 0;
  }

  /** Sequence number, timestamp and marker of the held packet at `index` (check `has` first). */
  seqAt(index: number): number {
    return this.seqs[index & this.mask] as number;
  }

  timestampAt(index: number): number {
    return this.timestamps[index & this.mask] as number;
  }

  markerAt(index: number): boolean {
    return ((this.markerPt[index & this.mask] as number) & 0x80) !== 0;
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
    if (this.head === this.tail) return -1;
    const guess = this.head - 1 - ((this.seqAt(this.head - 1) - seq) & 0xffff);
    if (guess >= lo && this.seqs[guess & this.mask] === seq) return guess;
    for (let i = Math.min(this.head - 1, guess + SEQ_SCAN), end = Math.max(lo, guess - SEQ_SCAN); i >= end; i--) {
      if (this.seqs[i & this.mask] === seq) return i;
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
