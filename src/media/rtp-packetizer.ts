/**
 * Access units → RTP packets, for readers that need RTP from a stream whatever protocol
 * published it (RTSP PLAY). Each packet is one Buffer written once (header and payload copied
 * in); nothing else is allocated per call: the returned array is reused, valid until the next
 * `packetize` on the same packetizer.
 */
import { NAL_TYPE } from "./h264-nal.js";
import type { AudioFrame, VideoAccessUnit } from "./types.js";

export interface RtpPacketizerOptions {
  payloadType: number;
  ssrc: number;
  /** Largest RTP packet, header included (bytes). */
  maxPacketBytes: number;
  /** First sequence number (random for a new reader, RFC 3550 §5.1). */
  initialSequence: number;
}

/** RTP fixed header, no CSRC, no extension (RFC 3550 §5.1). */
const RTP_HEADER_BYTES = 12;
/** FU indicator + FU header (RFC 6184 §5.8). */
const FU_A_OVERHEAD = 2;
/** AU-headers-length (16 bits) + one 16-bit AU-header (RFC 3640 §3.2.1, AAC-hbr). */
const AAC_HBR_OVERHEAD = 4;
/** AAC-hbr's 13-bit AU-size: larger access units cannot be described. */
const AAC_HBR_MAX_AU_BYTES = 0x1fff;

/** Sequence numbering and header writing shared by the packetizers. */
class RtpWriter {
  private seq: number;
  /** Packets and payload bytes written since creation (RTCP sender reports carry both). */
  packets = 0;
  payloadBytes = 0;

  constructor(private readonly opts: RtpPacketizerOptions) {
    if (opts.maxPacketBytes < RTP_HEADER_BYTES + AAC_HBR_OVERHEAD + 1) throw new RangeError(`maxPacketBytes ${opts.maxPacketBytes} leaves no room for a payload`);
    this.seq = opts.initialSequence & 0xffff;
  }

  get ssrc(): number {
    return this.opts.ssrc;
  }

  /** The sequence number the next packet gets. */
  get nextSequence(): number {
    return this.seq;
  }

  /** A packet with its header written and `payloadBytes` left to fill after it. */
  packet(payloadBytes: number, marker: boolean, timestamp: number): Buffer {
    const p = Buffer.allocUnsafe(RTP_HEADER_BYTES + payloadBytes);
    p[0] = 0x80; // V=2, no padding, no extension, no CSRC
    p[1] = (marker ? 0x80 : 0) | (this.opts.payloadType & 0x7f);
    p.writeUInt16BE(this.seq, 2);
    p.writeUInt32BE(timestamp >>> 0, 4);
    p.writeUInt32BE(this.opts.ssrc >>> 0, 8);
    this.seq = (this.seq + 1) & 0xffff;
    this.packets++;
    this.payloadBytes += payloadBytes;
    return p;
  }
}

/** What both packetizers share: the RTP writer, the payload budget, the reused output array and their counters. */
abstract class PacketizerBase {
  protected readonly w: RtpWriter;
  protected readonly maxPayload: number;
  protected readonly out: Buffer[] = [];

  constructor(opts: RtpPacketizerOptions) {
    this.w = new RtpWriter(opts);
    this.maxPayload = opts.maxPacketBytes - RTP_HEADER_BYTES;
  }

  get ssrc(): number {
    return this.w.ssrc;
  }
  get nextSequence(): number {
    return this.w.nextSequence;
  }
  get packetsWritten(): number {
    return this.w.packets;
  }
  get payloadBytesWritten(): number {
    return this.w.payloadBytes;
  }
}

/** H.264 (RFC 6184, packetization-mode 1): single NAL units and FU-A; the marker on the unit's last packet. */
export class H264Packetizer extends PacketizerBase {
  /**
   * RTP packets of one access unit at RTP timestamp `rtpTimestamp` (90 kHz, 32-bit wrapped by
   * the packetizer). An IDR unit without in-band SPS/PPS gets the unit's `sps`/`pps` sent ahead
   * of it, so a reader joining at any keyframe can decode without the SDP's sprop.
   */
  packetize(au: VideoAccessUnit, rtpTimestamp: number): Buffer[] {
    const out = this.out;
    out.length = 0;
    const nalus = au.nalus;
    let last = nalus.length - 1;
    while (last >= 0 && (nalus[last] as Uint8Array).length === 0) last--;
    if (last < 0) return out;
    if (au.isKeyframe) {
      let hasSps = false;
      let hasPps = false;
      for (let i = 0; i <= last; i++) {
        const t = ((nalus[i] as Uint8Array)[0] ?? 0) & 0x1f;
        if (t === NAL_TYPE.SPS) hasSps = true;
        else if (t === NAL_TYPE.PPS) hasPps = true;
      }
      if (!hasSps && au.sps && au.sps.length > 0) this.nal(au.sps, false, rtpTimestamp);
      if (!hasPps && au.pps && au.pps.length > 0) this.nal(au.pps, false, rtpTimestamp);
    }
    for (let i = 0; i <= last; i++) {
      const nal = nalus[i] as Uint8Array;
      if (nal.length > 0) this.nal(nal, i === last, rtpTimestamp);
    }
    return out;
  }

  private nal(nal: Uint8Array, lastOfUnit: boolean, ts: number): void {
    const max = this.maxPayload;
    if (nal.length <= max) {
      const p = this.w.packet(nal.length, lastOfUnit, ts);
      p.set(nal, RTP_HEADER_BYTES);
      this.out.push(p);
      return;
    }
    // FU-A: the NAL header's F/NRI go in the indicator, its type in the FU header; the body is split.
    const header = nal[0] as number;
    const indicator = (header & 0xe0) | NAL_TYPE.FU_A;
    const type = header & 0x1f;
    const chunk = max - FU_A_OVERHEAD;
    const bodyEnd = nal.length;
    for (let o = 1; o < bodyEnd; o += chunk) {
      const end = Math.min(o + chunk, bodyEnd);
      const isEnd = end === bodyEnd;
      const p = this.w.packet(FU_A_OVERHEAD + end - o, lastOfUnit && isEnd, ts);
      p[RTP_HEADER_BYTES] = indicator;
      p[RTP_HEADER_BYTES + 1] = (o === 1 ? 0x80 : 0) | (isEnd ? 0x40 : 0) | type;
      p.set(nal.subarray(o, end), RTP_HEADER_BYTES + FU_A_OVERHEAD);
      this.out.push(p);
    }
  }
}

/**
 * Opus (RFC 7587): one packet per frame, marker clear. AAC (RFC 3640, AAC-hbr): one AU per
 * packet with AU-headers-length 16 and a 16-bit AU-header (13-bit size, 3-bit index 0); an AU
 * larger than a packet is fragmented (§3.2.3: each fragment repeats the header with the whole
 * AU's size, the marker on the last).
 */
export class AudioPacketizer extends PacketizerBase {
  /** Frames that could not be sent (empty, or an AAC AU over 8191 bytes). */
  framesRejected = 0;

  constructor(
    private readonly codec: "opus" | "aac",
    opts: RtpPacketizerOptions,
  ) {
    super(opts);
  }

  packetize(frame: AudioFrame, rtpTimestamp: number): Buffer[] {
    const out = this.out;
    out.length = 0;
    const data = frame.data;
    if (data.length === 0) {
      this.framesRejected++;
      return out;
    }
    if (this.codec === "opus") {
      // An Opus packet has no fragmentation (RFC 7587 §4.2): one larger than the MTU goes as is.
      const p = this.w.packet(data.length, false, rtpTimestamp);
      p.set(data, RTP_HEADER_BYTES);
      out.push(p);
      return out;
    }
    if (data.length > AAC_HBR_MAX_AU_BYTES) {
      this.framesRejected++;
      return out;
    }
    const chunk = this.maxPayload - AAC_HBR_OVERHEAD;
    const auHeader = data.length << 3; // size in the top 13 bits, AU-index 0
    for (let o = 0; o < data.length; o += chunk) {
      const end = Math.min(o + chunk, data.length);
      const p = this.w.packet(AAC_HBR_OVERHEAD + end - o, end === data.length, rtpTimestamp);
      p.writeUInt16BE(16, RTP_HEADER_BYTES); // AU-headers-length in bits
      p.writeUInt16BE(auHeader, RTP_HEADER_BYTES + 2);
      p.set(data.subarray(o, end), RTP_HEADER_BYTES + AAC_HBR_OVERHEAD);
      out.push(p);
    }
    return out;
  }
}
