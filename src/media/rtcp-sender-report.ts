/**
 * RTCP a media sender writes (RFC 3550 §6): a compound packet of a sender report (§6.4.1), an
 * SDES with the CNAME (§6.5, every compound packet must carry one) and, when the sender
 * leaves, a BYE (§6.6). Players map RTP timestamps to wall clock with the report's NTP/RTP pair,
 * which is how they line audio up with video.
 */

/** Seconds from the NTP epoch (1900) to the Unix epoch (1970). */
const NTP_UNIX_OFFSET_S = 2_208_988_800;

export interface SenderReportFields {
  ssrc: number;
  /** Wall clock (epoch ms) that `rtpTimestamp` corresponds to. */
  wallClockMs: number;
  /** RTP timestamp (32-bit) at `wallClockMs`. */
  rtpTimestamp: number;
  /** Packets and payload octets sent so far on this SSRC. */
  packetCount: number;
  octetCount: number;
  /** Canonical name (same for all of one reader's tracks, so a player ties them together). */
  cname: string;
  /** Append a BYE: the sender is leaving. */
  bye?: boolean;
}

/** The 64-bit NTP timestamp of an epoch-ms wall clock: seconds since 1900 and a 32-bit fraction. */
export function ntpFromEpochMs(ms: number): { seconds: number; fraction: number } {
  const whole = Math.floor(ms / 1000);
  const fraction = Math.floor(((ms - whole * 1000) / 1000) * 0x1_0000_0000);
  return { seconds: (whole + NTP_UNIX_OFFSET_S) >>> 0, fraction: Math.min(fraction, 0xffff_ffff) >>> 0 };
}

/** SR + SDES(CNAME) [+ BYE] as one compound packet. */
export function buildSenderReport(f: SenderReportFields): Buffer {
  const cname = Buffer.from(f.cname, "utf8").subarray(0, 255);
  // SDES chunk: SSRC, CNAME item (type, length, text), then at least one null octet to a 32-bit boundary.
  const chunkBytes = 4 + 2 + cname.length;
  const sdesPadded = Math.ceil((chunkBytes + 1) / 4) * 4;
  const srBytes = 28;
  const sdesBytes = 4 + sdesPadded;
  const byeBytes = f.bye ? 8 : 0;
  const p = Buffer.alloc(srBytes + sdesBytes + byeBytes);
  // Sender report, no report blocks: length is in 32-bit words minus one.
  p[0] = 0x80;
  p[1] = 200;
  p.writeUInt16BE(srBytes / 4 - 1, 2);
  p.writeUInt32BE(f.ssrc >>> 0, 4);
  const ntp = ntpFromEpochMs(f.wallClockMs);
  p.writeUInt32BE(ntp.seconds, 8);
  p.writeUInt32BE(ntp.fraction, 12);
  p.writeUInt32BE(f.rtpTimestamp >>> 0, 16);
  p.writeUInt32BE(f.packetCount >>> 0, 20);
  p.writeUInt32BE(f.octetCount >>> 0, 24);
  let o = srBytes;
  p[o] = 0x81; // one chunk
  p[o + 1] = 202;
  p.writeUInt16BE(sdesBytes / 4 - 1, o + 2);
  p.writeUInt32BE(f.ssrc >>> 0, o + 4);
  p[o + 8] = 1; // CNAME
  p[o + 9] = cname.length;
  cname.copy(p, o + 10);
  o += sdesBytes; // the rest of the chunk is already zero
  if (f.bye) {
    p[o] = 0x81;
    p[o + 1] = 203;
    p.writeUInt16BE(1, o + 2);
    p.writeUInt32BE(f.ssrc >>> 0, o + 4);
  }
  return p;
}
