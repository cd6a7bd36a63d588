/** Seconds between the NTP epoch (1900) and the Unix epoch (1970). */
const NTP_UNIX_OFFSET_S = 2_208_988_800;

export function ntpToEpochMs(ntp: bigint): number {
  const seconds = Number(ntp >> 32n) - NTP_UNIX_OFFSET_S;
  const fraction = Number(ntp & 0xffffffffn) / 2 ** 32;
  return (seconds + fraction) * 1000;
}

/**
 * Maps a track's RTP time to wall clock. Until the publisher's first RTCP sender report the
 * anchor is the arrival of the first packet; each sender report then re-anchors on the
 * publisher's own clock, so video and audio (and analytics) line up to the frame.
 */
export class RtpWallClock {
  private firstRaw: number | undefined;
  private anchorRtp = 0; // rtp time (from the first packet) of the anchor
  private anchorMs = 0;
  private fromSenderReport = false;
  private lastRtpTime = 0;

  constructor(private readonly clockHz: number) {}

  /** Called with the first packet's raw 32-bit timestamp. */
  start(rawTimestamp: number, arrivalMs: number): void {
    if (this.firstRaw !== undefined) return;
    this.firstRaw = rawTimestamp;
    this.anchorRtp = 0;
    this.anchorMs = arrivalMs;
  }

  /** A sender report: `rawTimestamp` (32-bit) was sampled at `ntp`. */
  onSenderReport(ntp: bigint, rawTimestamp: number): void {
    if (this.firstRaw === undefined) return;
    // Sender reports describe live media, so take the extension of the 32-bit value that lies
    // nearest to the newest unit seen (correct across wrap-around, every ~13 h at 90 kHz).
    const rel32 = (rawTimestamp - this.firstRaw) >>> 0;
    const diff = (rel32 - (this.lastRtpTime % 2 ** 32)) | 0;
    this.anchorRtp = this.lastRtpTime + diff;
    this.anchorMs = ntpToEpochMs(ntp);
    this.fromSenderReport = true;
  }

  /** Wall clock of a unit whose RTP time is `rtpTime` ticks after the first packet. */
  wallMs(rtpTime: number): number {
    this.lastRtpTime = rtpTime;
    return this.anchorMs + ((rtpTime - this.anchorRtp) * 1000) / this.clockHz;
  }

  get usesSenderReports(): boolean {
    return this.fromSenderReport;
  }
}
