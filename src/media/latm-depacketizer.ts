import { aacFrameTicks, parseLatmConfig } from "./aac-config.js";
import { AudioRtpDepacketizer } from "./audio-rtp-depacketizer.js";
import type { AudioFrame } from "./types.js";

export interface LatmDepacketizerOptions {
  onFrame(frame: AudioFrame): void;
  /** As for Opus and MPEG4-GENERIC: how many later packets a missing one may be waited for (default 10). */
  reorderWindowPackets?: number;
  /** The SDP's `config=` (cpresent=0): a StreamMuxConfig, see parseLatmConfig. */
  config: Uint8Array;
  /** The RTP clock (SDP a=rtpmap); default the config's sample rate. */
  clockRate?: number;
}

export const DEFAULT_LATM_REORDER_WINDOW = 10;
/** The largest AudioMuxElement reassembled from fragments: 8 channels of 6144-bit AUs fit many times. */
export const MAX_LATM_ELEMENT_BYTES = 65_536;

/**
 * RTP MP4A-LATM (RFC 6416, cpresent=0: the StreamMuxConfig is out of band in the SDP) to raw AAC
 * access units: what GStreamer's rtspclientsink sends for AAC by default. A packet holds one or
 * more AudioMuxElements, or a fragment of one (the marker on the last); each element is, per
 * sub-frame, a PayloadLengthInfo (bytes of 255 then a final byte, summed) and the AU. AU k of a
 * packet is at RTP time `timestamp + k * frameTicks`.
 *
 * Completeness is read from the lengths, so a sender that sets no marker still works; a marker
 * on an element that comes short is malformed. As in AacDepacketizer: reorder first, a gap drops
 * a partly received element and reports the hole as `samplesLostBefore`, bad packets are
 * counted, nothing throws on packet contents. The constructor throws RangeError on a config it
 * cannot use.
 */
export class LatmDepacketizer extends AudioRtpDepacketizer {
  private readonly subFrames: number;
  /** RTP ticks per access unit. */
  readonly frameTicks: number;
  /** The AudioSpecificConfig inside the StreamMuxConfig: what the stream's track info and an esds carry. */
  readonly audioSpecificConfig: Uint8Array;
  /** Fragments of an element so far (views of their packets), their bytes and RTP timestamp. */
  private frags: Uint8Array[] = [];
  private fragBytes = 0;
  private fragTs = 0;

  constructor(opts: LatmDepacketizerOptions) {
    super(opts.onFrame, opts.reorderWindowPackets ?? DEFAULT_LATM_REORDER_WINDOW);
    try {
      const latm = parseLatmConfig(opts.config);
      this.frameTicks = aacFrameTicks(latm.aac, opts.clockRate ?? latm.aac.sampleRate);
      this.subFrames = latm.subFrames;
      this.audioSpecificConfig = latm.audioSpecificConfig;
    } catch (err) {
      throw new RangeError(`MP4A-LATM config not usable: ${(err as Error).message}`);
    }
  }

  /** The rest of a fragmented element may be what was lost: what is held of it is useless. */
  protected override onGap(): void {
    this.dropFragments();
  }

  protected packet(rawTs: number, marker: boolean, payload: Uint8Array, arrivalMs: number): void {
    if (payload.length === 0) return this.malformed();
    let data = payload;
    if (this.frags.length > 0) {
      if (rawTs !== this.fragTs || this.fragBytes + payload.length > MAX_LATM_ELEMENT_BYTES) {
        // Not the rest of the held element (its tail never came), or an element past the limit.
        this.dropFragments();
        this.unitLost();
      } else {
        this.frags.push(payload);
        data = new Uint8Array(this.fragBytes + payload.length);
        let off = 0;
        for (const f of this.frags) {
          data.set(f, off);
          off += f.length;
        }
        this.frags = [];
        this.fragBytes = 0;
      }
    }
    // Two passes over the lengths (check, then emit): nothing is allocated per packet.
    const check = this.split(data, undefined);
    if (check === "short") {
      if (marker) return this.malformed(); // the last fragment, yet the element is incomplete
      this.frags = [data];
      this.fragBytes = data.length;
      this.fragTs = rawTs;
      return;
    }
    if (check === "bad") return this.malformed();
    this.split(data, { rawTs, arrivalMs });
  }

  /**
   * Walks the whole AudioMuxElements in `p`: "short" when the first one needs more bytes (a
   * fragment), "bad" when they do not add up, else "ok"; with `out`, emits their AUs.
   */
  private split(p: Uint8Array, out: { rawTs: number; arrivalMs: number } | undefined): "ok" | "short" | "bad" {
    let au = 0;
    let off = 0;
    while (off < p.length) {
      const elementStart = off;
      for (let s = 0; s < this.subFrames; s++) {
        let len = 0;
        let b: number;
        do {
          if (off >= p.length) return elementStart === 0 ? "short" : "bad";
          b = p[off++] as number;
          len += b;
        } while (b === 255);
        if (len === 0) return "bad";
        if (off + len > p.length) return elementStart === 0 ? "short" : "bad";
        if (out) this.emit(out.rawTs, p.subarray(off, off + len), out.arrivalMs, au);
        au++;
        off += len;
      }
    }
    return "ok";
  }

  private emit(rawTs: number, data: Uint8Array, arrivalMs: number, auIndex: number): void {
    this.emitFrame("aac", data, this.rtpTimeOf(rawTs) + auIndex * this.frameTicks, arrivalMs, this.frameTicks);
  }

  private dropFragments(): void {
    if (this.frags.length === 0) return;
    this.frags = [];
    this.fragBytes = 0;
    this.stat.fragmentsDropped++;
  }
}
