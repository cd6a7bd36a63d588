/** Seconds between the NTP epoch (1900) and the Unix epoch (1970). */
const NTP_UNIX_OFFSET_S = 2_208_988_800;

export function ntpToEpochMs(ntp: bigint): number {
  const seconds = Number(ntp >> 32n) - NTP_UNIX_OFFSET_S;
  const fraction = Number(ntp & 0xffffffffn) / 2 ** 32;
  return (seconds + fraction) * 1000;
}

export interface RtpWallClockOptions {
  /** Most drift (ms) of the publisher's clock against arrival before capture times are re-anchored (default 100, IFC_CLOCK_DRIFT_TOLERANCE_MS). */
  driftToleranceMs?: number;
  /** Arrival time (ms) over which the least transit delay makes one drift sample (default 2000). */
  sampleWindowMs?: number;
}

const DEFAULT_DRIFT_TOLERANCE_MS = 100;
const DEFAULT_SAMPLE_WINDOW_MS = 2000;

/**
 * Maps a track's RTP time to wall clock. Until the publisher's first RTCP sender report the
 * anchor is the arrival of the first packet; each sender report then re-anchors on the
 * publisher's own clock, so video and audio (and analytics) line up to the frame.
 *
 * Drift: given arrivals (`wallMs(rtpTime, arrivalMs)`), the clock watches the apparent transit
 * delay, arrival minus mapped capture time. Jitter only ever adds delay, so its least value over
 * each `sampleWindowMs` of arrivals follows the publisher's clock against ours: `driftMs` is how
 * far it moved from the first window after the anchor (from the first sender report on, once
 * there is one: the publisher's absolute clock offset is kept, only its drift is corrected).
 * Beyond `driftToleranceMs` the mapping is re-anchored by the drift (`reanchors`), so capture
 * times stay within the tolerance of the wall clock's pace. A unit that would have been
 * captured after it arrived (beyond the tolerance) re-anchors at once.
 */
export class RtpWallClock {
  private readonly toleranceMs: number;
  private readonly windowMs: number;
  private firstRaw: number | undefined;
  private anchorRtp = 0; // rtp time (from the first packet) of the anchor
  private anchorMs = 0;
  private fromSenderReport = false;
  private lastRtpTime = 0;

  /** Added to every mapped time: the sum of the drift corrections. */
  private correction = 0;
  private baseline: number | undefined;
  private windowStartMs = 0;
  private windowMin = Infinity;
  private drift = 0;
  private reanchorCount = 0;

  constructor(
    private readonly clockHz: number,
    opts: RtpWallClockOptions = {},
  ) {
    this.toleranceMs = Math.max(0, opts.driftToleranceMs ?? DEFAULT_DRIFT_TOLERANCE_MS);
    this.windowMs = Math.max(1, opts.sampleWindowMs ?? DEFAULT_SAMPLE_WINDOW_MS);
  }

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
    if (!this.fromSenderReport) {
      // From arrival to the publisher's clock: its offset is a new baseline, not drift.
      this.fromSenderReport = true;
      this.correction = 0;
      this.baseline = undefined;
      this.windowMin = Infinity;
    }
  }

  /**
   * Wall clock of a unit whose RTP time is `rtpTime` ticks after the first packet. With the
   * unit's `arrivalMs`, the publisher's drift is measured and corrected too.
   */
  wallMs(rtpTime: number, arrivalMs?: number): number {
    this.lastRtpTime = rtpTime;
    const ms = this.anchorMs + this.correction + ((rtpTime - this.anchorRtp) * 1000) / this.clockHz;
    if (arrivalMs !== undefined) this.observe(arrivalMs - ms, arrivalMs);
    return ms;
  }

  get usesSenderReports(): boolean {
    return this.fromSenderReport;
  }
  /** The latest drift sample (ms): how much later than at the start units now arrive against their RTP time. */
  get driftMs(): number {
    return this.drift;
  }
  /** Times the mapping was moved because the drift exceeded the tolerance. */
  get reanchors(): number {
    return this.reanchorCount;
  }
  /** The sum of the drift corrections applied (ms). */
  get correctionMs(): number {
    return this.correction;
  }

  private observe(delayMs: number, arrivalMs: number): void {
    if (this.windowMin === Infinity) this.windowStartMs = arrivalMs;
    if (delayMs < this.windowMin) this.windowMin = delayMs;
    if (this.baseline !== undefined && delayMs < this.baseline - this.toleranceMs) {
      // Captured after it arrived: the publisher's clock runs ahead; no later window can say otherwise.
      this.reanchor(delayMs - this.baseline);
      this.windowMin = Infinity;
      return;
    }
    if (arrivalMs - this.windowStartMs < this.windowMs) return;
    const least = this.windowMin;
    this.windowMin = Infinity;
    if (this.baseline === undefined) {
      this.baseline = least;
      return;
    }
    this.drift = least - this.baseline;
    if (Math.abs(this.drift) > this.toleranceMs) this.reanchor(this.drift);
  }

  private reanchor(driftMs: number): void {
    this.drift = driftMs;
    this.correction += driftMs;
    this.reanchorCount++;
  }
}
