import { aacFrameTicks, parseAacConfig } from "./aac-config.js";
import { AudioRtpDepacketizer } from "./audio-rtp-depacketizer.js";
import type { AudioFrame } from "./types.js";

export interface AacDepacketizerOptions {
  onFrame(frame: AudioFrame): void;
  /** As for Opus: how many later packets a missing one may be waited for (default 10). */
  reorderWindowPackets?: number;
  /** AudioSpecificConfig (SDP `config=`): gives the samples per access unit. */
  config: Uint8Array;
  /** The RTP clock (SDP a=rtpmap); default the config's sample rate, as RFC 3640 recommends. */
  clockRate?: number;
  /** AU-header field sizes in bits from the SDP (AAC-hbr: 13, 3, 3). */
  sizeLength: number;
  indexLength: number;
  indexDeltaLength: number;
}

export const DEFAULT_AAC_REORDER_WINDOW = 10;

/**
 * RTP MPEG4-GENERIC (RFC 3640) AAC, modes AAC-hbr and AAC-lbr, to raw AAC access units. A
 * packet holds an AU-headers section (its length in bits, then one AU-size + AU-index(-delta)
 * per AU) and the AUs back to back, or one fragment of a single large AU (the AU-size is the
 * whole AU's; the marker is set on the last fragment). AU i of a packet is at RTP time
 * `timestamp + i * frameTicks` (1024 for AAC-LC at its sample rate).
 *
 * Packets pass through the same reorder layer as Opus first. A gap drops a partly received
 * AU and, as Opus does, reports the hole on the next frame as `samplesLostBefore`. Interleaving
 * (a non-zero AU-index or AU-index-delta) is not supported: such packets are counted malformed,
 * as are packets whose headers do not add up. Nothing here throws on packet contents.
 *
 * The constructor throws RangeError on a config or header sizes it cannot use; the SDP's
 * values should be checked with it when the track is set up.
 */
export class AacDepacketizer extends AudioRtpDepacketizer {
  private readonly sizeLength: number;
  private readonly indexLength: number;
  private readonly indexDeltaLength: number;
  /** RTP ticks per access unit. */
  readonly frameTicks: number;
  /** A fragmented AU being reassembled: its buffer, bytes so far, RTP timestamp and arrival. */
  private frag: Uint8Array | undefined;
  private fragLen = 0;
  private fragTs = 0;

  constructor(opts: AacDepacketizerOptions) {
    super(opts.onFrame, opts.reorderWindowPackets ?? DEFAULT_AAC_REORDER_WINDOW);
    const lengths = [opts.sizeLength, opts.indexLength, opts.indexDeltaLength];
    if (!lengths.every((n) => Number.isInteger(n) && n >= 0) || opts.sizeLength < 1 || opts.sizeLength > 16 || opts.indexLength > 8 || opts.indexDeltaLength > 8) {
      throw new RangeError(`AAC AU-header sizes not supported: sizelength=${opts.sizeLength} indexlength=${opts.indexLength} indexdeltalength=${opts.indexDeltaLength} (need sizelength 1-16, index lengths 0-8)`);
    }
    let ticks: number;
    try {
      const cfg = parseAacConfig(opts.config);
      ticks = aacFrameTicks(cfg, opts.clockRate ?? cfg.sampleRate);
    } catch (err) {
      throw new RangeError(`AAC config not usable: ${(err as Error).message}`);
    }
    this.frameTicks = ticks;
    this.sizeLength = opts.sizeLength;
    this.indexLength = opts.indexLength;
    this.indexDeltaLength = opts.indexDeltaLength;
  }

  /** The rest of a fragmented AU may be what was lost: what is held of it is useless. */
  protected override onGap(): void {
    this.dropFragment();
  }

  protected packet(rawTs: number, marker: boolean, p: Uint8Array, arrivalMs: number): void {
    if (p.length < 2) return this.malformed();
    const headerBits = ((p[0] as number) << 8) | (p[1] as number);
    const first = this.sizeLength + this.indexLength;
    const next = this.sizeLength + this.indexDeltaLength;
    if (headerBits < first || (headerBits - first) % next !== 0) return this.malformed();
    const count = 1 + (headerBits - first) / next;
    const dataStart = 2 + ((headerBits + 7) >> 3);
    if (dataStart > p.length) return this.malformed();
    const dataLen = p.length - dataStart;

    // Read the AU sizes (a few per packet at most: one pass to check, one to emit).
    let bit = 16;
    let total = 0;
    let firstSize = 0;
    for (let i = 0; i < count; i++) {
      const size = readBits(p, bit, this.sizeLength);
      bit += this.sizeLength;
      const index = readBits(p, bit, i === 0 ? this.indexLength : this.indexDeltaLength);
      bit += i === 0 ? this.indexLength : this.indexDeltaLength;
      if (index !== 0 || size === 0) return this.malformed(); // interleaving, or an empty AU
      if (i === 0) firstSize = size;
      total += size;
    }

    if (this.frag) {
      // A continuation: one AU-header with the whole AU's size, the same timestamp.
      const frag = this.frag;
      if (count === 1 && firstSize === frag.length && rawTs === this.fragTs && this.fragLen + dataLen <= frag.length) {
        frag.set(p.subarray(dataStart), this.fragLen);
        this.fragLen += dataLen;
        if (this.fragLen === frag.length) {
          this.frag = undefined;
          this.emit(rawTs, frag, arrivalMs);
        } else if (marker) {
          this.dropFragment();
          this.malformed(); // the last fragment came short of the AU's size
        }
        return;
      }
      // Not a continuation of it: the AU's tail never came.
      this.dropFragment();
      this.unitLost();
    }

    if (count === 1 && firstSize > dataLen) {
      if (marker || dataLen === 0) return this.malformed(); // a lone "last fragment" short of its size
      this.frag = new Uint8Array(firstSize);
      this.frag.set(p.subarray(dataStart));
      this.fragLen = dataLen;
      this.fragTs = rawTs;
      return;
    }
    if (total !== dataLen) return this.malformed();
    bit = 16;
    let off = dataStart;
    for (let i = 0; i < count; i++) {
      const size = readBits(p, bit, this.sizeLength);
      bit += this.sizeLength + (i === 0 ? this.indexLength : this.indexDeltaLength);
      this.emit(rawTs, p.subarray(off, off + size), arrivalMs, i);
      off += size;
    }
  }

  private emit(rawTs: number, data: Uint8Array, arrivalMs: number, auIndex = 0): void {
    this.emitFrame("aac", data, this.rtpTimeOf(rawTs) + auIndex * this.frameTicks, arrivalMs, this.frameTicks);
  }

  private dropFragment(): void {
    if (!this.frag) return;
    this.frag = undefined;
    this.fragLen = 0;
    this.stat.fragmentsDropped++;
  }
}

/** `n` (≤ 16) bits of `p` from bit offset `bit`, most significant first; callers keep within bounds. */
function readBits(p: Uint8Array, bit: number, n: number): number {
  let v = 0;
  for (let i = 0; i < n; i++) {
    const b = bit + i;
    v = (v << 1) | (((p[b >> 3] as number) >> (7 - (b & 7))) & 1);
  }
  return v;
}
