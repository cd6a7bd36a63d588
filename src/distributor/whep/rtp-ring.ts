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
 * One stream's recent RTP packets of one kind, in arrival order, by a monotonically growing
 * index. It is at once the viewers' send queue (each viewer keeps its own read index, so a
 * packet is stored once however many watch) and the NACK cache (RFC 4585) that answers viewer
 * losses without bothering the publisher. Old packets are overwritten, never copied.
 */
export class RtpRing {
  private readonly packets: (TappedRtpPacket | undefined)[];
  /** Index the next packet gets; packets [head - capacity, head) are held. */
  head = 0;
  /** Index of the first packet of the newest access unit holding a keyframe (-1: none yet). */
  lastKeyframeStart = -1;
  keyframes = 0;
  private auStart = -1;
  private auTimestamp = -1;
  private auIsKey = false;

  constructor(
    readonly capacity: number,
    /** Track access units and keyframes (video). */
    private readonly trackKeyframes: boolean,
  ) {
    this.packets = new Array<TappedRtpPacket | undefined>(capacity);
  }

  push(p: TappedRtpPacket): void {
    const index = this.head++;
    this.packets[index % this.capacity] = p;
    if (!this.trackKeyframes) return;
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

  /** The packet at `index`, or undefined when it is not held (overwritten or not yet come). */
  at(index: number): TappedRtpPacket | undefined {
    if (index < this.head - this.capacity || index >= this.head || index < 0) return undefined;
    return this.packets[index % this.capacity];
  }

  /** Oldest index still held. */
  get tail(): number {
    return Math.max(0, this.head - this.capacity);
  }

  /** Index of the held packet with this (publisher) sequence number, newest first; -1 if none. */
  indexOfSeq(seq: number): number {
    for (let i = this.head - 1; i >= this.tail; i--) {
      if (this.packets[i % this.capacity]?.header.sequenceNumber === seq) return i;
    }
    return -1;
  }

  /** Whether the keyframe unit at `lastKeyframeStart` is still arriving (the newest unit). */
  get keyframeArriving(): boolean {
    return this.auIsKey && this.auStart === this.lastKeyframeStart;
  }
}
