// Frozen copy of the H.264 depacketizer before the reorder layer was split out (commit 432447b),
// kept only so bench/rtp-reorder.ts can compare the hot path before and after.
import { NAL_TYPE } from "../../src/media/h264-nal.js";
import { parseH264Sps } from "../../src/media/h264-sps.js";
import { RtpUnwrapper } from "../../src/media/rtp-unwrap.js";
import type { H264SpsInfo, VideoAccessUnit } from "../../src/media/types.js";

/**
 * Why the depacketizer wants a keyframe:
 * - `start`: no IDR seen yet (the stream was joined mid-GOP, or its first IDR was damaged);
 * - `loss`: packets were given up as lost, so the decoding chain is broken;
 * - `malformed`: a unit could not be parsed (bad payload, unreadable SPS, unfinished FU-A);
 * - `oversize`: a unit exceeded `maxAccessUnitBytes`;
 * - `no-parameter-sets`: an IDR came but no SPS/PPS is known to decode it with.
 */
export type KeyframeNeededReason = "start" | "loss" | "malformed" | "oversize" | "no-parameter-sets";

export interface H264DepacketizerOptions {
  /** Every complete, decodable access unit, in RTP sequence order. */
  onAccessUnit(au: VideoAccessUnit): void;
  /**
   * Units are being dropped until the next IDR: ask the publisher for one (PLI). Called when
   * the trouble starts and again every `keyframeRetryMs` (of arrival time) while it lasts, in
   * case a request was lost; the caller rate-limits what it sends.
   */
  onKeyframeNeeded?(reason: KeyframeNeededReason): void;
  /** The SPS bytes changed: the first SPS, or a new resolution mid-stream. Fired before the unit that carries it. */
  onParameterSetsChanged?(info: H264SpsInfo): void;
  /** How many later packets an incomplete unit may wait for its missing ones (default 64). */
  reorderWindowPackets?: number;
  /** Larger units are dropped (default 8 MiB). */
  maxAccessUnitBytes?: number;
  /** Repeat onKeyframeNeeded after this much arrival time without an IDR (default 1000 ms). */
  keyframeRetryMs?: number;
}

/** Why a unit was not emitted; "not-keyframe" is a whole unit dropped while waiting for an IDR. */
type DropReason = KeyframeNeededReason | "not-keyframe";

// Reorder slot states. A consumed slot stays DONE (payload released) so a duplicate that
// arrives after its original was consumed is told apart from a late packet already given up.
const EMPTY = 0;
const PENDING = 1;
const DONE = 2;

const DEFAULT_WINDOW = 64;
const DEFAULT_MAX_UNIT_BYTES = 8 * 1024 * 1024;
// Half the 16-bit sequence space is the most a window can span and still unwrap unambiguously.
const MAX_WINDOW = 16_384;
// How far before the first packet the stream's head may still come. Reordering at start is a
// packet or two; a longer span would only delay the keyframe request of a mid-GOP join.
const MAX_PRIMING_PACKETS = 16;

/**
 * RFC 6184 (packetization-mode 1) depacketizer and access-unit assembler.
 *
 * The payload structures are parsed here rather than with werift's H264RtpPayload: that class
 * allocates an object and copies every NAL into a new Annex-B buffer per packet, and it cannot
 * tell us which packet was malformed. Here single NAL units and STAP-A members are views of the
 * packet payload, FU-A fragments are copied once into their NAL, and nothing else is allocated
 * per packet. Callers must not modify a payload after pushing it: emitted NALs may view it.
 *
 * Packets are consumed strictly in sequence order through a ring of typed arrays: an
 * in-order packet passes straight through; one that jumps ahead waits until the missing ones
 * arrive or until `reorderWindowPackets` later packets have come, when the gap is declared
 * lost. A unit touched by a gap is dropped (never emitted with a hole), and so is every unit
 * after it until the next IDR.
 */
export class H264Depacketizer {
  private readonly onAccessUnit: (au: VideoAccessUnit) => void;
  private readonly onKeyframeNeeded: ((reason: KeyframeNeededReason) => void) | undefined;
  private readonly onParameterSetsChanged: ((info: H264SpsInfo) => void) | undefined;
  private readonly window: number;
  private readonly primingSpan: number;
  private readonly maxUnitBytes: number;
  private readonly keyframeRetryMs: number;

  // Reorder ring, indexed by extended sequence number & mask.
  private readonly mask: number;
  private readonly slotSeq: Float64Array;
  private readonly slotState: Uint8Array;
  private readonly slotTs: Uint32Array;
  private readonly slotMarker: Uint8Array;
  private readonly slotArrival: Float64Array;
  private readonly slotPayload: (Uint8Array | undefined)[];
  private readonly seqs = new RtpUnwrapper(16);
  private readonly timestamps = new RtpUnwrapper(32);
  private started = false;
  /** Until the stream's first unit head is known, packets from before the first may still come. */
  private priming = false;
  private lowestSeq = 0;
  private nextSeq = 0;
  private highestSeq = 0;
  private tsBase = 0;
  private nowMs = 0;

  // The unit being assembled.
  private unitOpen = false;
  private unitTs = 0;
  private unitNalus: Uint8Array[] = [];
  private unitBytes = 0;
  private unitDrop: DropReason | undefined;
  private unitArrivalMs = 0;
  private unitHasSlice = false;
  private unitIdr = false;
  private unitSps: Uint8Array | undefined;
  private unitPps: Uint8Array | undefined;
  private fuActive = false;
  private fuHeader = 0;
  private fuBytes = 0;
  private readonly fuParts: Uint8Array[] = [];
  /** The next packet follows a gap (or opens the stream), so its unit's start is uncertain. */
  private afterGap = true;
  private firstUnit = true;

  // Keyframe state.
  private waiting = true;
  private waitReason: KeyframeNeededReason = "start";
  private lastSignalMs = -Infinity;
  private sps: Uint8Array | undefined;
  private pps: Uint8Array | undefined;
  private info: H264SpsInfo | undefined;

  private stat = {
    packetsReceived: 0,
    packetsLost: 0,
    packetsDuplicate: 0,
    packetsLate: 0,
    malformedPackets: 0,
    unitsEmitted: 0,
    unitsDropped: 0,
    keyframesEmitted: 0,
    bytesReceived: 0,
  };

  constructor(opts: H264DepacketizerOptions) {
    this.onAccessUnit = opts.onAccessUnit;
    this.onKeyframeNeeded = opts.onKeyframeNeeded;
    this.onParameterSetsChanged = opts.onParameterSetsChanged;
    this.window = Math.min(MAX_WINDOW, Math.max(0, Math.floor(opts.reorderWindowPackets ?? DEFAULT_WINDOW)));
    this.primingSpan = Math.min(this.window, MAX_PRIMING_PACKETS);
    this.maxUnitBytes = opts.maxAccessUnitBytes ?? DEFAULT_MAX_UNIT_BYTES;
    this.keyframeRetryMs = opts.keyframeRetryMs ?? 1000;
    // Twice the window: the ring holds the window ahead of nextSeq and as much history behind
    // it for duplicate detection.
    let size = 16;
    while (size < 2 * (this.window + 1)) size *= 2;
    this.mask = size - 1;
    this.slotSeq = new Float64Array(size).fill(NaN);
    this.slotState = new Uint8Array(size);
    this.slotTs = new Uint32Array(size);
    this.slotMarker = new Uint8Array(size);
    this.slotArrival = new Float64Array(size);
    this.slotPayload = new Array<Uint8Array | undefined>(size).fill(undefined);
  }

  /**
   * One RTP packet of the video track, fields as in its header. Never throws on bad input;
   * an exception from a callback propagates, with this object left consistent.
   */
  push(seq: number, rtpTimestamp: number, marker: boolean, payload: Uint8Array, arrivalMs: number): void {
    this.stat.packetsReceived++;
    this.stat.bytesReceived += payload.length;
    this.nowMs = arrivalMs;
    const ext = this.seqs.unwrap(seq & 0xffff);
    if (!this.started) this.start(ext, rtpTimestamp >>> 0, payload);
    const mask = this.mask;
    if (ext < this.nextSeq) {
      const j = ext & mask;
      if (this.slotSeq[j] === ext && this.slotState[j] !== EMPTY) this.stat.packetsDuplicate++;
      else this.stat.packetsLate++; // given up on already (counted lost), or from before the stream's start
      return;
    }
    const i = ext & mask;
    if (this.slotSeq[i] === ext && this.slotState[i] === PENDING) {
      this.stat.packetsDuplicate++;
      return;
    }
    if (this.priming) {
      if (this.opensStream(payload)) {
        this.endPriming(ext);
      } else {
        if (ext < this.lowestSeq) this.lowestSeq = ext;
        if (Math.max(ext, this.highestSeq) - this.lowestSeq > this.primingSpan) this.endPriming(this.lowestSeq);
      }
    }
    if (!this.priming && ext - this.nextSeq > this.window) this.giveUpBefore(ext - this.window);
    if (ext > this.highestSeq) this.highestSeq = ext;
    this.slotSeq[i] = ext;
    if (ext === this.nextSeq && !this.priming) {
      // In order: straight through, nothing held.
      this.slotState[i] = DONE;
      this.slotPayload[i] = undefined;
      this.nextSeq++;
      this.consume(rtpTimestamp >>> 0, marker, payload, arrivalMs);
    } else {
      this.slotState[i] = PENDING;
      this.slotTs[i] = rtpTimestamp >>> 0;
      this.slotMarker[i] = marker ? 1 : 0;
      this.slotArrival[i] = arrivalMs;
      this.slotPayload[i] = payload;
    }
    this.drain();
  }

  /**
   * End of stream: gives up on packets still missing and ends the open unit (its marker may
   * never come). Calling push afterwards continues the same stream.
   */
  flush(): void {
    if (!this.started) return;
    if (this.priming) this.endPriming(this.lowestSeq);
    this.giveUpBefore(this.highestSeq + 1);
    if (this.unitOpen) {
      if (this.fuActive && this.unitDrop === undefined) this.damage("loss");
      this.endUnit();
    }
  }

  /**
   * Parameter sets known out of band (SDP sprop-parameter-sets), for publishers that do not
   * repeat them in-band. Throws SpsParseError when the SPS cannot be parsed.
   */
  setParameterSets(sps: Uint8Array, pps: Uint8Array): void {
    this.updateSps(sps, true);
    this.pps = Uint8Array.prototype.slice.call(pps);
  }

  get packetsReceived(): number {
    return this.stat.packetsReceived;
  }
  /** Sequence numbers given up on: gaps never filled within the reorder window. */
  get packetsLost(): number {
    return this.stat.packetsLost;
  }
  get packetsDuplicate(): number {
    return this.stat.packetsDuplicate;
  }
  /** Packets that arrived after their gap was given up on (already counted lost), and ignored. */
  get packetsLate(): number {
    return this.stat.packetsLate;
  }
  get malformedPackets(): number {
    return this.stat.malformedPackets;
  }
  get unitsEmitted(): number {
    return this.stat.unitsEmitted;
  }
  /** Units seen but not emitted: damaged, malformed, oversize, or not an IDR while waiting for one. */
  get unitsDropped(): number {
    return this.stat.unitsDropped;
  }
  get keyframesEmitted(): number {
    return this.stat.keyframesEmitted;
  }
  /** RTP payload bytes pushed, including duplicates and late packets. */
  get bytesReceived(): number {
    return this.stat.bytesReceived;
  }
  /** The latest SPS parsed, if any. */
  get spsInfo(): H264SpsInfo | undefined {
    return this.info;
  }
  /** True while units are being dropped until the next IDR. */
  get waitingForKeyframe(): boolean {
    return this.waiting;
  }

  // --- reorder ring ---------------------------------------------------------------------

  private start(ext: number, rtpTimestamp: number, payload: Uint8Array): void {
    this.started = true;
    this.highestSeq = ext;
    // rtpTime counts from the first packet to arrive, as the ingest's RTP clock does.
    this.tsBase = this.timestamps.unwrap(rtpTimestamp);
    if (this.opensStream(payload) || this.primingSpan === 0) {
      this.nextSeq = ext;
    } else {
      // The first packet may have overtaken the head of its unit (an SPS/PPS STAP-A is small
      // and often first out): let packets up to a window before it still come, uncounted.
      this.priming = true;
      this.lowestSeq = ext;
      this.nextSeq = ext - this.primingSpan;
    }
  }

  /**
   * Whether nothing before this packet can belong to its unit: it leads with an AUD or SPS or,
   * when parameter sets came out of band, with the picture's first slice.
   */
  private opensStream(payload: Uint8Array): boolean {
    return leadsAccessUnit(payload) || (this.sps !== undefined && this.pps !== undefined && startsPicture(payload));
  }

  /** The stream starts at `at`: anything held before it belongs to no unit we could emit. */
  private endPriming(at: number): void {
    this.priming = false;
    const mask = this.mask;
    for (let s = this.nextSeq; s < at; s++) {
      const i = s & mask;
      if (this.slotSeq[i] === s && this.slotState[i] === PENDING) {
        this.slotState[i] = EMPTY;
        this.slotPayload[i] = undefined;
      }
    }
    this.nextSeq = at;
  }

  private drain(): void {
    const mask = this.mask;
    for (;;) {
      const i = this.nextSeq & mask;
      if (this.slotSeq[i] !== this.nextSeq || this.slotState[i] !== PENDING) return;
      this.release(i);
    }
  }

  private release(i: number): void {
    const payload = this.slotPayload[i] as Uint8Array;
    this.slotPayload[i] = undefined;
    this.slotState[i] = DONE;
    this.nextSeq++;
    this.consume(this.slotTs[i] as number, this.slotMarker[i] === 1, payload, this.slotArrival[i] as number);
  }

  /** Consumes everything before `target`, declaring the missing packets lost. */
  private giveUpBefore(target: number): void {
    const mask = this.mask;
    while (this.nextSeq < target) {
      if (this.nextSeq > this.highestSeq) {
        // Nothing is held beyond this point: the rest of the jump is one gap.
        this.stat.packetsLost += target - this.nextSeq;
        this.nextSeq = target;
        this.gap();
        return;
      }
      const i = this.nextSeq & mask;
      if (this.slotSeq[i] === this.nextSeq && this.slotState[i] === PENDING) {
        this.release(i);
      } else {
        this.stat.packetsLost++;
        this.nextSeq++;
        this.gap();
      }
    }
  }

  // --- assembly -------------------------------------------------------------------------

  /** A lost packet, in sequence order. */
  private gap(): void {
    if (this.unitOpen) this.damage("loss");
    this.afterGap = true;
    this.needKeyframe("loss");
  }

  private consume(rtpTimestamp: number, marker: boolean, payload: Uint8Array, arrivalMs: number): void {
    const ts = this.timestamps.unwrap(rtpTimestamp) - this.tsBase;
    if (this.unitOpen && ts !== this.unitTs) this.endUnit(); // the marker was lost or never set
    if (!this.unitOpen) this.beginUnit(ts, payload);
    this.unitArrivalMs = arrivalMs;
    if (this.unitDrop === undefined) this.parsePayload(payload);
    if (marker) this.endUnit();
  }

  private beginUnit(ts: number, firstPayload: Uint8Array): void {
    this.unitOpen = true;
    this.unitTs = ts;
    this.unitNalus = [];
    this.unitBytes = 0;
    this.unitDrop = undefined;
    this.unitHasSlice = false;
    this.unitIdr = false;
    this.unitSps = undefined;
    this.unitPps = undefined;
    this.fuActive = false;
    this.fuParts.length = 0;
    if (this.afterGap) {
      // After lost packets, only a packet that provably opens a picture starts a whole unit:
      // otherwise the unit's head may have been among the lost.
      this.afterGap = false;
      if (!startsPicture(firstPayload)) this.unitDrop = this.firstUnit ? "start" : "loss";
    }
    this.firstUnit = false;
  }

  private parsePayload(p: Uint8Array): void {
    const n = p.length;
    if (n === 0) return this.malformed();
    const b0 = p[0] as number;
    if (b0 & 0x80) return this.malformed(); // forbidden_zero_bit
    const type = b0 & 0x1f;
    if (type >= 1 && type <= 23) {
      this.addNal(p, type);
    } else if (type === NAL_TYPE.STAP_A) {
      if (n < 4) return this.malformed();
      let o = 1;
      while (o < n) {
        if (o + 2 > n) return this.malformed();
        const size = ((p[o] as number) << 8) | (p[o + 1] as number);
        o += 2;
        if (size === 0 || o + size > n) return this.malformed();
        const h = p[o] as number;
        const t = h & 0x1f;
        if (h & 0x80 || t === 0 || t > 23) return this.malformed();
        this.addNal(p.subarray(o, o + size), t);
        if (this.unitDrop !== undefined) return;
        o += size;
      }
    } else if (type === NAL_TYPE.FU_A) {
      if (n < 3) return this.malformed();
      const fu = p[1] as number;
      const inner = fu & 0x1f;
      if (inner === 0 || inner > 23) return this.malformed();
      if (fu & 0x80) {
        if (this.fuActive) return this.malformed(); // the previous fragmented NAL never ended
        // The reconstructed NAL header: F and NRI from the FU indicator, type from the FU header.
        this.fuActive = true;
        this.fuHeader = (b0 & 0xe0) | inner;
        this.fuBytes = 1;
        this.unitBytes += 1;
        if (this.waiting && inner === NAL_TYPE.NON_IDR) return this.damage("not-keyframe");
      } else if (!this.fuActive) {
        return this.malformed(); // a continuation without its start
      }
      this.fuParts.push(p);
      this.fuBytes += n - 2;
      this.unitBytes += n - 2;
      if (this.unitBytes > this.maxUnitBytes) return this.damage("oversize");
      if (fu & 0x40) this.endFragmentedNal(inner);
    } else {
      this.malformed(); // STAP-B, MTAPs and FU-B belong to interleaved mode; 0, 30, 31 are not H.264
    }
  }

  private endFragmentedNal(type: number): void {
    const nal = Buffer.allocUnsafe(this.fuBytes);
    nal[0] = this.fuHeader;
    let o = 1;
    for (const part of this.fuParts) {
      if (Buffer.isBuffer(part)) part.copy(nal, o, 2);
      else nal.set(part.subarray(2), o);
      o += part.length - 2;
    }
    this.fuParts.length = 0;
    this.fuActive = false;
    this.noteNal(nal, type);
  }

  private addNal(nal: Uint8Array, type: number): void {
    if (this.fuActive) return this.malformed(); // a NAL amid a fragmented one
    this.unitBytes += nal.length;
    if (this.unitBytes > this.maxUnitBytes) return this.damage("oversize");
    if (this.waiting && type === NAL_TYPE.NON_IDR) return this.damage("not-keyframe");
    this.noteNal(nal, type);
  }

  private noteNal(nal: Uint8Array, type: number): void {
    if (type === NAL_TYPE.IDR) {
      this.unitIdr = true;
      this.unitHasSlice = true;
    } else if (type >= 1 && type <= 4) {
      this.unitHasSlice = true;
    } else if (type === NAL_TYPE.SPS) {
      this.unitSps = nal;
    } else if (type === NAL_TYPE.PPS) {
      this.unitPps = nal;
    }
    this.unitNalus.push(nal);
  }

  private malformed(): void {
    this.stat.malformedPackets++;
    this.damage("malformed");
  }

  /** Marks the open unit for dropping and lets go of what it holds (bounds memory). */
  private damage(reason: DropReason): void {
    if (this.unitDrop === undefined) this.unitDrop = reason;
    this.unitNalus.length = 0;
    this.fuParts.length = 0;
    this.fuActive = false;
  }

  private endUnit(): void {
    this.unitOpen = false;
    if (this.fuActive) {
      // A fragmented NAL without its end fragment, though no packet was lost.
      this.stat.malformedPackets++;
      this.damage("malformed");
    }
    const nalus = this.unitNalus;
    this.unitNalus = [];
    if (this.unitDrop !== undefined) return this.dropUnit(this.unitDrop);
    if (!this.unitHasSlice) {
      // Parameter sets or SEI under a timestamp of their own: no picture, but keep the sets.
      if (this.unitSps && !this.updateSps(this.unitSps, false)) return this.badSps();
      if (this.unitPps && !bytesEqual(this.pps, this.unitPps)) this.pps = Uint8Array.prototype.slice.call(this.unitPps);
      return;
    }
    const idr = this.unitIdr;
    if (this.waiting && !idr) return this.dropUnit("not-keyframe");
    if (this.unitSps && !this.updateSps(this.unitSps, false)) return this.badSps();
    if (this.unitPps && !bytesEqual(this.pps, this.unitPps)) this.pps = Uint8Array.prototype.slice.call(this.unitPps);
    if (idr) {
      if (!this.sps || !this.pps) return this.dropUnit("no-parameter-sets");
      this.waiting = false;
      this.lastSignalMs = -Infinity;
      this.stat.keyframesEmitted++;
    }
    this.stat.unitsEmitted++;
    this.onAccessUnit({
      kind: "video",
      codec: "h264",
      nalus,
      isKeyframe: idr,
      rtpTime: this.unitTs,
      arrivalMs: this.unitArrivalMs,
      wallClockMs: this.unitArrivalMs,
      sps: idr || this.unitSps ? this.sps : undefined,
      pps: idr || this.unitPps ? this.pps : undefined,
    });
  }

  /** An SPS that does not parse: the unit cannot be described to a decoder or muxer. */
  private badSps(): void {
    this.stat.malformedPackets++;
    this.dropUnit("malformed");
  }

  private dropUnit(reason: DropReason): void {
    this.stat.unitsDropped++;
    this.needKeyframe(reason === "not-keyframe" ? this.waitReason : reason);
  }

  private needKeyframe(reason: KeyframeNeededReason): void {
    if (!this.waiting) {
      this.waiting = true;
      this.lastSignalMs = -Infinity;
    }
    this.waitReason = reason;
    if (this.nowMs - this.lastSignalMs >= this.keyframeRetryMs) {
      this.lastSignalMs = this.nowMs;
      this.onKeyframeNeeded?.(reason);
    }
  }

  /** Keeps a private copy of a changed SPS (it outlives its packet) and announces it. */
  private updateSps(sps: Uint8Array, throwOnError: boolean): boolean {
    if (bytesEqual(this.sps, sps)) return true;
    let info: H264SpsInfo;
    try {
      info = parseH264Sps(sps);
    } catch (err) {
      if (throwOnError) throw err;
      return false;
    }
    this.sps = Uint8Array.prototype.slice.call(sps);
    this.info = info;
    this.onParameterSetsChanged?.(info);
    return true;
  }
}

function bytesEqual(a: Uint8Array | undefined, b: Uint8Array): boolean {
  if (!a || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}

/** Whether an RTP payload's first NAL is an AUD or an SPS, which only ever lead an access unit. */
function leadsAccessUnit(p: Uint8Array): boolean {
  if (p.length < 2) return false;
  let type = (p[0] as number) & 0x1f;
  if (type === NAL_TYPE.STAP_A) type = p.length < 4 ? 0 : (p[3] as number) & 0x1f;
  else if (type === NAL_TYPE.FU_A) type = (p[1] as number) & 0x80 ? (p[1] as number) & 0x1f : 0;
  return type === NAL_TYPE.AUD || type === NAL_TYPE.SPS;
}

/**
 * Whether an RTP payload opens a picture: its first NAL is an access unit delimiter or an SPS
 * (both only ever lead an access unit), or a slice with first_mb_in_slice = 0 (ue(v) zero is
 * the single bit 1). FU-A counts only with its start bit.
 */
function startsPicture(p: Uint8Array): boolean {
  if (p.length < 2) return false;
  let type = (p[0] as number) & 0x1f;
  let body = 1;
  if (type === NAL_TYPE.STAP_A) {
    if (p.length < 5) return false;
    type = (p[3] as number) & 0x1f;
    body = 4;
  } else if (type === NAL_TYPE.FU_A) {
    if (!((p[1] as number) & 0x80)) return false;
    type = (p[1] as number) & 0x1f;
    body = 2;
  }
  if (type === NAL_TYPE.AUD || type === NAL_TYPE.SPS) return true;
  if (type === NAL_TYPE.NON_IDR || type === NAL_TYPE.IDR) return body < p.length && ((p[body] as number) & 0x80) !== 0;
  return false;
}
