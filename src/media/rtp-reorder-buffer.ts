import { RtpUnwrapper } from "./rtp-unwrap.js";

/** Receives one track's packets in sequence order, and the breaks between them. */
export interface RtpReorderSink {
  /** The next packet in sequence order. `timestamp` is the raw 32-bit RTP timestamp. */
  packet(timestamp: number, marker: boolean, payload: Uint8Array, arrivalMs: number): void;
  /**
   * The sequence breaks before the next packet: `lostPackets` numbers were given up on (counted
   * in `packetsLost`), or 0 when the publisher restarted its sequence and nothing is known lost.
   */
  gap(lostPackets: number): void;
}

export interface RtpReorderBufferOptions {
  /** How many later packets a missing one may be waited for before it is given up (default 64). */
  windowPackets?: number;
  /**
   * At the start, how many packets from before the first one to arrive may still be taken
   * (default 0; clamped to the window). A first packet that `opensStream` needs no slack.
   */
  startSlackPackets?: number;
  /** Whether nothing before this packet can be needed (e.g. it leads an H.264 access unit). */
  opensStream?(payload: Uint8Array): boolean;
}

// Slot states. A consumed slot stays DONE (payload released) so a duplicate that arrives after
// its original was consumed is told apart from a late packet already given up.
const EMPTY = 0;
const PENDING = 1;
const DONE = 2;

export const DEFAULT_REORDER_WINDOW = 64;
// Half the 16-bit sequence space is the most a window can span and still unwrap unambiguously.
export const MAX_REORDER_WINDOW = 16_384;
// Consecutive packets far behind the expected sequence that prove a restarted sequence. A burst
// of NACK retransmissions this long with no live packet between them is not seen in practice.
const MAX_RESTART_CONFIRM = 32;

/**
 * The RTP reorder layer shared by the depacketizers, after gortsplib's rtpreorderer: packets go
 * in as they arrive and come out to the sink strictly in sequence order, with the losses between
 * them. An in-order packet passes straight through; one that jumps ahead waits in a ring of
 * typed arrays (preallocated: nothing is allocated per packet) until the missing ones arrive or
 * until `windowPackets` later packets have come, when the gap is declared lost. Duplicates and
 * packets whose gap was already given up are dropped and counted.
 *
 * Sequence numbers are extended past their 16-bit wrap. A forward jump beyond the window is a
 * long loss (counted lost, as gortsplib does); packets coming far behind the expected number,
 * `min(window, 32)` of them in a row and in sequence with one another, are a publisher that
 * restarted its sequence: what is held is released, and the buffer restarts at the first of
 * them, losing none (counted in `sequenceResets`). Without that a restart would be dropped as
 * late until the new sequence caught up with the old one (up to 32768 packets).
 */
export class RtpReorderBuffer {
  private readonly sink: RtpReorderSink;
  private readonly window: number;
  private readonly slack: number;
  private readonly opensStream: ((payload: Uint8Array) => boolean) | undefined;

  private readonly mask: number;
  private readonly slotSeq: Float64Array;
  private readonly slotState: Uint8Array;
  private readonly slotTs: Uint32Array;
  private readonly slotMarker: Uint8Array;
  private readonly slotArrival: Float64Array;
  private readonly slotPayload: (Uint8Array | undefined)[];
  private readonly seqs = new RtpUnwrapper(16);
  private started = false;
  /** Until the stream's head is known, packets from before the first may still come. */
  private priming = false;
  private lowestSeq = 0;
  private nextSeq = 0;
  private highestSeq = 0;
  /** The numbers the last forward jump skipped (exclusive bounds): what comes from there is late. */
  private jumpedFrom = 0;
  private jumpedTo = 0;

  // A run of packets far behind nextSeq: a restarted sequence, once it is long enough.
  private readonly confirm: number;
  private readonly runRaw: Uint16Array;
  private readonly runTs: Uint32Array;
  private readonly runMarker: Uint8Array;
  private readonly runArrival: Float64Array;
  private readonly runPayload: (Uint8Array | undefined)[];
  private runLen = 0;
  private runLast = 0;

  private stat = { lost: 0, duplicate: 0, late: 0, forwardJumps: 0, resets: 0 };

  constructor(opts: RtpReorderBufferOptions, sink: RtpReorderSink) {
    this.sink = sink;
    this.window = Math.min(MAX_REORDER_WINDOW, Math.max(0, Math.floor(opts.windowPackets ?? DEFAULT_REORDER_WINDOW)));
    this.slack = Math.min(this.window, Math.max(0, Math.floor(opts.startSlackPackets ?? 0)));
    this.opensStream = opts.opensStream;
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
    this.confirm = Math.max(2, Math.min(this.window, MAX_RESTART_CONFIRM));
    this.runRaw = new Uint16Array(this.confirm);
    this.runTs = new Uint32Array(this.confirm);
    this.runMarker = new Uint8Array(this.confirm);
    this.runArrival = new Float64Array(this.confirm);
    this.runPayload = new Array<Uint8Array | undefined>(this.confirm).fill(undefined);
  }

  /**
   * One packet as it arrived (fields from its RTP header). Ordered packets and gaps go to the
   * sink before this returns; returns how many packets this call declared lost. An exception
   * from the sink propagates, with this object left consistent.
   */
  process(seq: number, timestamp: number, marker: boolean, payload: Uint8Array, arrivalMs: number): number {
    const lostBefore = this.stat.lost;
    this.accept(this.seqs.unwrap(seq & 0xffff), timestamp >>> 0, marker, payload, arrivalMs);
    return this.stat.lost - lostBefore;
  }

  /** End of stream: gives up on every missing packet still awaited, releasing what is held. */
  flush(): number {
    const lostBefore = this.stat.lost;
    this.clearRun();
    if (this.started) {
      if (this.priming) this.endPriming(this.lowestSeq);
      this.giveUpBefore(this.highestSeq + 1);
    }
    return this.stat.lost - lostBefore;
  }

  get windowPackets(): number {
    return this.window;
  }
  /** Sequence numbers given up on: gaps never filled within the window. */
  get packetsLost(): number {
    return this.stat.lost;
  }
  get packetsDuplicate(): number {
    return this.stat.duplicate;
  }
  /** Packets that arrived after their gap was given up on (already counted lost), and dropped. */
  get packetsLate(): number {
    return this.stat.late;
  }
  /** Forward sequence jumps beyond the window (their numbers are counted lost). */
  get sequenceJumps(): number {
    return this.stat.forwardJumps;
  }
  /** Restarted sequences (a jump back beyond the window), after which the buffer restarted. */
  get sequenceResets(): number {
    return this.stat.resets;
  }

  private accept(ext: number, ts: number, marker: boolean, payload: Uint8Array, arrivalMs: number): void {
    if (!this.started) this.start(ext, payload);
    const mask = this.mask;
    if (ext < this.nextSeq) {
      const j = ext & mask;
      if (this.slotSeq[j] === ext && this.slotState[j] !== EMPTY) {
        this.stat.duplicate++;
      } else if (ext > this.jumpedFrom && ext < this.jumpedTo) {
        // A number the last forward jump skipped: a retransmission of the cut (NACKed), late.
        // Never the start of a restarted sequence, though a run of them comes in order.
        this.stat.late++;
      } else if (this.nextSeq - ext > this.window && !this.priming) {
        this.farBehind(ext, ts, marker, payload, arrivalMs);
      } else {
        this.stat.late++; // given up on already (counted lost), or from before the stream's start
      }
      return;
    }
    if (this.runLen > 0) this.clearRun();
    const i = ext & mask;
    if (this.slotSeq[i] === ext && this.slotState[i] === PENDING) {
      this.stat.duplicate++;
      return;
    }
    if (this.priming) {
      if (this.opensStream?.(payload)) {
        this.endPriming(ext);
      } else {
        if (ext < this.lowestSeq) this.lowestSeq = ext;
        if (Math.max(ext, this.highestSeq) - this.lowestSeq > this.slack) this.endPriming(this.lowestSeq);
      }
    }
    if (!this.priming && ext - this.nextSeq > this.window) {
      if (ext > this.highestSeq + this.window) {
        // A jump past everything held (a network cut): nothing before it can still come in time,
        // so it goes out at once, as in gortsplib. Waiting for a window of packets after it would
        // hold ~1 s of media, and NACKed packets from the cut would slip in ahead of it.
        this.stat.forwardJumps++;
        this.jumpedFrom = this.highestSeq;
        this.jumpedTo = ext;
        this.giveUpBefore(ext);
      } else {
        this.giveUpBefore(ext - this.window);
      }
    }
    if (ext > this.highestSeq) this.highestSeq = ext;
    this.slotSeq[i] = ext;
    if (ext === this.nextSeq && !this.priming) {
      // In order: straight through, nothing held.
      this.slotState[i] = DONE;
      this.slotPayload[i] = undefined;
      this.nextSeq++;
      this.sink.packet(ts, marker, payload, arrivalMs);
    } else {
      this.slotState[i] = PENDING;
      this.slotTs[i] = ts;
      this.slotMarker[i] = marker ? 1 : 0;
      this.slotArrival[i] = arrivalMs;
      this.slotPayload[i] = payload;
    }
    this.drain();
  }

  private start(ext: number, payload: Uint8Array): void {
    this.started = true;
    this.highestSeq = ext;
    this.lowestSeq = ext;
    if (this.slack === 0 || this.opensStream?.(payload)) {
      this.nextSeq = ext;
    } else {
      // The first packet may have overtaken the stream's head: let packets up to `slack`
      // before it still come, uncounted.
      this.priming = true;
      this.nextSeq = ext - this.slack;
    }
  }

  /** The stream starts at `at`: anything held before it belongs to nothing we could emit. */
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
    this.sink.packet(this.slotTs[i] as number, this.slotMarker[i] === 1, payload, this.slotArrival[i] as number);
  }

  /** Releases everything before `target`, declaring the missing packets lost, one gap per run. */
  private giveUpBefore(target: number): void {
    const mask = this.mask;
    while (this.nextSeq < target) {
      if (this.nextSeq > this.highestSeq) {
        // Nothing is held beyond this point: the rest of the jump is one gap.
        const n = target - this.nextSeq;
        this.stat.lost += n;
        this.nextSeq = target;
        this.sink.gap(n);
        return;
      }
      const i = this.nextSeq & mask;
      if (this.slotSeq[i] === this.nextSeq && this.slotState[i] === PENDING) {
        this.release(i);
      } else {
        // One gap for the whole run of missing numbers, up to the next held packet or the target.
        let s = this.nextSeq + 1;
        while (s < target) {
          if (s > this.highestSeq) {
            s = target;
            break;
          }
          if (this.slotSeq[s & mask] === s && this.slotState[s & mask] === PENDING) break;
          s++;
        }
        const n = s - this.nextSeq;
        this.stat.lost += n;
        this.nextSeq = s;
        this.sink.gap(n);
      }
    }
  }

  // --- restarted sequences ----------------------------------------------------------------

  private farBehind(ext: number, ts: number, marker: boolean, payload: Uint8Array, arrivalMs: number): void {
    // A run holds packets in sequence with one another: a stray old packet does not extend it.
    if (this.runLen > 0 && (ext <= this.runLast || ext - this.runLast > this.window + 1)) this.clearRun();
    // Counted late at once; taken back if the run proves a restart.
    this.stat.late++;
    const k = this.runLen++;
    this.runRaw[k] = ext & 0xffff;
    this.runTs[k] = ts;
    this.runMarker[k] = marker ? 1 : 0;
    this.runArrival[k] = arrivalMs;
    this.runPayload[k] = payload;
    this.runLast = ext;
    if (this.runLen >= this.confirm) this.restart();
  }

  /** Forgets a run that proved no restart: its packets were only late. */
  private clearRun(): void {
    for (let k = 0; k < this.runLen; k++) this.runPayload[k] = undefined;
    this.runLen = 0;
  }

  /** The publisher restarted its sequence at the run's first packet: start over there. */
  private restart(): void {
    this.stat.resets++;
    this.stat.late -= this.runLen;
    this.giveUpBefore(this.highestSeq + 1); // what the old sequence still held goes out first
    const mask = this.mask;
    for (let i = 0; i <= mask; i++) {
      this.slotState[i] = EMPTY;
      this.slotPayload[i] = undefined;
      this.slotSeq[i] = NaN;
    }
    this.sink.gap(0);
    this.seqs.reset();
    this.started = false;
    this.jumpedFrom = this.jumpedTo = 0;
    const n = this.runLen;
    this.runLen = 0;
    for (let k = 0; k < n; k++) {
      const payload = this.runPayload[k] as Uint8Array;
      this.runPayload[k] = undefined;
      const ext = this.seqs.unwrap(this.runRaw[k] as number);
      if (!this.started) {
        // The new sequence opens here: nothing before its first packet is awaited.
        this.started = true;
        this.nextSeq = ext;
        this.highestSeq = ext;
        this.lowestSeq = ext;
      }
      this.accept(ext, this.runTs[k] as number, this.runMarker[k] === 1, payload, this.runArrival[k] as number);
    }
  }
}
