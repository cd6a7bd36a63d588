/**
 * Puts H.264 parameter sets in band on an RTP packet path that forwards packets as received
 * (the hub's RTP tap, which WHEP viewers are fed from). RTSP publishers such as ffmpeg send the
 * SPS/PPS only in the SDP (sprop-parameter-sets), and a WebRTC viewer gets no sprop: without
 * them in band it can decode nothing. Ahead of every IDR that lacks them this sends a STAP-A
 * with the latest SPS and PPS (from the SDP, or seen in band since), and shifts the sequence
 * numbers of everything after by one per insertion, so the viewer sees no gap (MediaMTX's
 * H.264 format processor does the same before its WebRTC muxer).
 *
 * Packets are expected in the order received; a packet reordered across an insertion gets a
 * sequence number one off (a player treats it as reordered or lost, as on any network).
 */
import type { TappedRtpPacket } from "../core/stream-hub.js";
import { NAL_TYPE } from "./h264-nal.js";

export class H264ParameterSetInjector {
  private sps: Uint8Array | undefined;
  private pps: Uint8Array | undefined;
  private shift = 0;
  /** The RTP timestamp whose access unit has had its SPS and PPS (sent in band or inserted). */
  private coveredTs = -1;
  private seenSpsTs = -1;
  private seenPpsTs = -1;
  /** STAP-A packets inserted so far. */
  inserted = 0;

  constructor(sps?: Uint8Array, pps?: Uint8Array) {
    if (sps && pps) this.setParameterSets(sps, pps);
  }

  /** Parameter sets known out of band (the SDP's sprop-parameter-sets). */
  setParameterSets(sps: Uint8Array, pps: Uint8Array): void {
    this.sps = Uint8Array.prototype.slice.call(sps);
    this.pps = Uint8Array.prototype.slice.call(pps);
  }

  /** Hands `emit` what to forward for one received packet: the inserted STAP-A first when needed, then the packet. */
  process(packet: TappedRtpPacket, emit: (p: TappedRtpPacket) => void): void {
    const p = packet.payload;
    const ts = packet.header.timestamp;
    const type = (p[0] ?? 0) & 0x1f;
    let idr = false;
    if (type === NAL_TYPE.SPS || type === NAL_TYPE.PPS) {
      this.learn(p, type, ts);
    } else if (type === NAL_TYPE.IDR) {
      idr = true;
    } else if (type === NAL_TYPE.FU_A) {
      idr = p.length > 1 && ((p[1] as number) & 0x80) !== 0 && ((p[1] as number) & 0x1f) === NAL_TYPE.IDR;
    } else if (type === NAL_TYPE.STAP_A) {
      for (let o = 1; o + 2 < p.length; ) {
        const size = ((p[o] as number) << 8) | (p[o + 1] as number);
        const start = o + 2;
        if (size === 0 || start + size > p.length) break;
        const inner = (p[start] as number) & 0x1f;
        if (inner === NAL_TYPE.SPS || inner === NAL_TYPE.PPS) this.learn(p.subarray(start, start + size), inner, ts);
        else if (inner === NAL_TYPE.IDR) idr = true;
        o = start + size;
      }
    }
    if (this.seenSpsTs === ts && this.seenPpsTs === ts) this.coveredTs = ts;
    if (idr && this.coveredTs !== ts && this.sps && this.pps) {
      this.coveredTs = ts;
      emit(this.stapA(packet));
      this.shift++;
      this.inserted++;
    }
    if (this.shift === 0) {
      emit(packet);
      return;
    }
    const h = packet.header;
    emit({
      header: { sequenceNumber: (h.sequenceNumber + this.shift) & 0xffff, timestamp: h.timestamp, marker: h.marker, ssrc: h.ssrc, payloadType: h.payloadType },
      payload: p,
    });
  }

  private learn(nal: Uint8Array, type: number, ts: number): void {
    if (type === NAL_TYPE.SPS) {
      this.seenSpsTs = ts;
      if (!sameBytes(this.sps, nal)) this.sps = Uint8Array.prototype.slice.call(nal);
    } else {
      this.seenPpsTs = ts;
      if (!sameBytes(this.pps, nal)) this.pps = Uint8Array.prototype.slice.call(nal);
    }
  }

  /** A STAP-A of SPS and PPS under the IDR's timestamp, taking the IDR packet's (shifted) sequence number. */
  private stapA(before: TappedRtpPacket): TappedRtpPacket {
    const sps = this.sps as Uint8Array;
    const pps = this.pps as Uint8Array;
    const payload = Buffer.allocUnsafe(1 + 2 + sps.length + 2 + pps.length);
    // F=0, NRI the highest of the two, type 24.
    payload[0] = (Math.max((sps[0] ?? 0) & 0x60, (pps[0] ?? 0) & 0x60)) | NAL_TYPE.STAP_A;
    payload.writeUInt16BE(sps.length, 1);
    payload.set(sps, 3);
    payload.writeUInt16BE(pps.length, 3 + sps.length);
    payload.set(pps, 5 + sps.length);
    const h = before.header;
    return { header: { sequenceNumber: (h.sequenceNumber + this.shift) & 0xffff, timestamp: h.timestamp, marker: false, ssrc: h.ssrc, payloadType: h.payloadType }, payload };
  }
}

function sameBytes(a: Uint8Array | undefined, b: Uint8Array): boolean {
  if (!a || a.length !== b.length) return false;
  for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) return false;
  return true;
}
